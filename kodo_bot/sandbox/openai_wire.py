"""The OpenAI Responses API (``POST /v1/responses``) for the scripted model server, as pure translations.

The real Codex CLI speaks it (``wire_api = "responses"`` of a ``model_providers`` entry whose ``base_url``
is the server's ``/v1``). As for the Gemini API (``gemini_wire.py``), a request is read into the Messages
format (``as_messages_body``), so the role marker, the replay key and the token estimate work as for any
request: ``instructions`` and every ``developer``/``system`` message become the system text (kodo-bot's
``kodo-role:`` line arrives in a developer message), ``message`` items become text blocks,
``function_call`` / ``function_call_output`` items tool use and tool results, and the client's session id
(``client_metadata.session_id``, or ``prompt_cache_key``) the ``metadata`` that keeps two conversations'
identical requests apart. The step's answer goes back as the Responses stream: ``response.created``, one
``response.output_item.added`` / ``.done`` per output item (``message`` with ``output_text``, or
``function_call`` with its arguments as a JSON string), then ``response.completed`` with the usage. A
request with ``stream: false`` gets the response object itself. Errors take OpenAI's shape,
``{"error": {"message", "type", "code"}}``.

It deliberately leaves out what no scenario needs: reasoning items, hosted tools, background responses.
"""

from __future__ import annotations

import json
from typing import Any

#: the paths a Responses client posts to (with or without the ``/v1`` its base URL carries)
PATHS = ("/v1/responses", "/responses")

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "not_found_error", 429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"}  # fmt: skip


def responses_call(path: str) -> bool:
    return path in PATHS


def as_messages_body(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses request as the Messages API would have carried it: ``system``, ``messages``, ``tools``."""
    system = [str(body.get("instructions") or "")]
    messages: list[dict[str, Any]] = []
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    for item in items or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") in ("developer", "system"):
            system.append(_text(item.get("content")))
        elif kind == "message":
            role = "assistant" if item.get("role") == "assistant" else "user"
            messages.append({"role": role, "content": [{"type": "text", "text": _text(item.get("content"))}]})
        elif kind == "function_call":
            call = {
                "type": "tool_use",
                "id": item.get("call_id"),
                "name": item.get("name"),
                "input": item.get("arguments"),
            }
            messages.append({"role": "assistant", "content": [call]})
        elif kind == "function_call_output":
            result = {"type": "tool_result", "tool_use_id": item.get("call_id"), "content": item.get("output")}
            messages.append({"role": "user", "content": [result]})
    tools = [{"name": t.get("name")} for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    meta: dict[str, Any] = body["client_metadata"] if isinstance(body.get("client_metadata"), dict) else {}
    session = meta.get("session_id") or body.get("prompt_cache_key")
    return {
        "model": body.get("model"),
        "system": "\n".join(s for s in system if s),
        "messages": messages,
        "tools": tools,
        "metadata": {"session": session} if session else None,
    }


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict))


def as_response(message: dict[str, Any]) -> dict[str, Any]:
    """The Messages API ``message`` a step made, as a Responses API response object."""
    output: list[dict[str, Any]] = []
    for block in message["content"]:
        if block["type"] == "text":
            text = {"type": "output_text", "text": block["text"], "annotations": []}
            item_id = f"msg_{message['id']}_{len(output)}"
            output.append(
                {"type": "message", "id": item_id, "role": "assistant", "status": "completed", "content": [text]}
            )
        elif block["type"] == "tool_use":
            arguments = json.dumps(block["input"])
            call = {"type": "function_call", "id": f"fc_{block['id']}", "call_id": block["id"], "name": block["name"]}
            output.append({**call, "arguments": arguments, "status": "completed"})
    usage = message["usage"]
    prompt, completion = int(usage["input_tokens"]), int(usage["output_tokens"])
    return {
        "id": message["id"],
        "object": "response",
        "model": message["model"],
        "status": "completed",
        "output": output,
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        },
    }


def sse_events(response: dict[str, Any]) -> bytes:
    """The response as the Responses stream: created, each output item added and done, completed."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": {**response, "status": "in_progress", "output": []}})
    ]
    for index, item in enumerate(response["output"]):
        events.append(("response.output_item.added", {"output_index": index, "item": item}))
        if item["type"] == "message":
            text = item["content"][0]["text"]
            delta = {"item_id": item["id"], "output_index": index, "content_index": 0, "delta": text}
            events.append(("response.output_text.delta", delta))
        events.append(("response.output_item.done", {"output_index": index, "item": item}))
    events.append(("response.completed", {"response": response}))
    return b"".join(
        f"event: {name}\ndata: {json.dumps({'type': name, 'sequence_number': n, **data})}\n\n".encode()
        for n, (name, data) in enumerate(events)
    )


def openai_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": _TYPES.get(status, "api_error"), "code": None, "param": None}}
