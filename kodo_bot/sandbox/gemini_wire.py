"""The Gemini API's ``generateContent`` for the scripted model server, as pure translations.

The server plays a scenario in the Anthropic Messages format. A Gemini request is read into that format
(``as_messages_body``), so the role marker, the replay key and the token estimate work as for any request,
and the step's answer is written back as Gemini's ``GenerateContentResponse`` (``as_gemini_response``):
text parts, ``functionCall`` parts, a ``finishReason`` and ``usageMetadata``. Errors take Gemini's shape,
``{"error": {"code", "message", "status"}}``, which the ``google-genai`` SDK reads into ``ClientError`` and
``ServerError``.

Three answers only Gemini gives have scenario steps of their own (``gemini: blocked | empty |
malformed_call``): a candidate stopped for safety with no content, a candidate with no parts, and a function
call the model could not form (``MALFORMED_FUNCTION_CALL``).

Paths: ``POST /v1beta/models/<model>:generateContent`` (and ``/v1/``), and ``:streamGenerateContent``
(``alt=sse``), answered as one server-sent event carrying the whole response.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: ``/v1beta/models/gemini-2.5-flash:generateContent`` -> model, method
_PATH = re.compile(r"^/(?:v1beta|v1|v1alpha)/models/([^/:]+):(generateContent|streamGenerateContent)$")

#: HTTP status -> the ``status`` word Google's APIs put beside it
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

#: the candidate each Gemini-only step answers with
CANDIDATES: dict[str, dict[str, Any]] = {
    "blocked": {"finishReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                                                             "probability": "HIGH", "blocked": True}]},
    "empty": {"content": {"role": "model", "parts": []}, "finishReason": "STOP"},
    "malformed_call": {"finishReason": "MALFORMED_FUNCTION_CALL"},
}  # fmt: skip


def gemini_call(path: str) -> tuple[str, bool] | None:
    """The model a Gemini path names and whether it streams; None for any other path."""
    match = _PATH.match(path)
    return (match.group(1), match.group(2) == "streamGenerateContent") if match else None


def as_messages_body(body: dict[str, Any], model: str) -> dict[str, Any]:
    """A Gemini request as the Messages API would have carried it: ``system``, ``messages``, ``tools``."""
    system = " ".join(
        str(p.get("text", "")) for p in (body.get("systemInstruction") or {}).get("parts") or [] if isinstance(p, dict)
    )
    messages = []
    for content in body.get("contents") or []:
        if not isinstance(content, dict):
            continue
        blocks = [_block(p) for p in content.get("parts") or [] if isinstance(p, dict)]
        messages.append({"role": "assistant" if content.get("role") == "model" else "user", "content": blocks})
    tools = [
        {"name": d.get("name")}
        for t in body.get("tools") or []
        if isinstance(t, dict)
        for d in t.get("functionDeclarations") or []
        if isinstance(d, dict)
    ]
    return {"model": model, "system": system, "messages": messages, "tools": tools}


def _block(part: dict[str, Any]) -> dict[str, Any]:
    if "functionCall" in part:
        call = part["functionCall"] or {}
        return {"type": "tool_use", "name": call.get("name"), "input": call.get("args") or {}}
    if "functionResponse" in part:
        answer = part["functionResponse"] or {}
        return {"type": "tool_result", "name": answer.get("name"), "content": answer.get("response")}
    return {"type": "text", "text": str(part.get("text", ""))}


def as_gemini_response(message: dict[str, Any], *, candidate: str | None = None) -> dict[str, Any]:
    """The Messages API ``message`` a step made, as ``generateContent`` answers it; ``candidate`` names a
    Gemini-only answer (``CANDIDATES``) instead."""
    usage = message["usage"]
    prompt, output = int(usage["input_tokens"]), int(usage["output_tokens"])
    if candidate is not None:
        found = {"index": 0, **CANDIDATES[candidate]}
        output = 0
    else:
        parts: list[dict[str, Any]] = []
        for block in message["content"]:
            if block["type"] == "text":
                parts.append({"text": block["text"]})
            elif block["type"] == "tool_use":
                parts.append({"functionCall": {"name": block["name"], "args": block["input"]}})
        finish = "MAX_TOKENS" if message.get("stop_reason") == "max_tokens" else "STOP"
        found = {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
    return {
        "candidates": [found],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        },
        "modelVersion": message["model"],
        "responseId": message["id"],
    }


def gemini_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def sse_chunk(response: dict[str, Any]) -> bytes:
    """``streamGenerateContent?alt=sse``: the whole response as one event."""
    return f"data: {json.dumps(response, ensure_ascii=False)}\r\n\r\n".encode()
