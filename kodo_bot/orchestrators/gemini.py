"""The orchestrator on the Gemini API (``generateContent``, through the ``google-genai`` SDK).

The engine speaks one conversation format, the Anthropic one (``engine/ports.py``); this adapter translates
it both ways. The team's tools become function declarations (their JSON schemas as they are); the engine's
``tool_use`` / ``tool_result`` blocks become ``functionCall`` / ``functionResponse`` parts, matched by the
function's name and the call's id; what Gemini answers (text, function calls, their thought signatures)
goes back into the conversation as the model sent it. Several function calls in one answer become several
tool uses in one reply, which the engine runs at the same time.

Retries are kodo-bot's, as for the Anthropic API (``_retry``): 429 and 5xx, a request unanswered in time, a
connection that fails, and three answers only Gemini gives (a candidate blocked for safety, an empty one, a
function call the model could not form) are asked again with backoff; 401/403 and a refused key end at
once. Still failing, ``ModelAPIError`` leaves the run resumable, with the reason. Tokens (thinking
included, as Gemini bills it) are priced from the engine's table per model (``engine/ledger.py``).

The SDK is imported when the first request is made: it takes half a second, and most commands never talk
to the model.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import re
import time
import uuid
from typing import Any

from kodo_bot.engine.models import Usage
from kodo_bot.engine.ports import OrchestratorReply, RetryNotice, ToolUse
from kodo_bot.errors import ModelAPIError, ModelAuthError
from kodo_bot.orchestrators._retry import ApiAdapter

DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"
#: where the key is looked up: kodo-bot's own name first (scrubbed from agents like the others), then Google's
KEY_VARIABLES = ("KODO_ORCHESTRATOR_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")
#: the SDK's own variable for another endpoint (a rehearsal against the scripted model server)
BASE_URL_VARIABLE = "GOOGLE_GEMINI_BASE_URL"
MAX_OUTPUT_TOKENS = 8192

_RESUME_HINT = "the run is saved: fix the cause and continue it with `kodo-bot resume`."


class _BadAnswer(Exception):
    """No usable answer (blocked, empty, a malformed call, none in time): asked again like a 5xx."""


class GeminiOrchestrator(ApiAdapter):
    """The ``Orchestrator`` port on the Gemini API."""

    fix = "set GOOGLE_API_KEY (or KODO_ORCHESTRATOR_API_KEY) to a Gemini API key."

    def __init__(self, model: str = DEFAULT_GEMINI_MODEL, **settings: Any) -> None:
        super().__init__(model, **settings)
        self._client: Any = None

    def missing(self) -> str | None:
        return None if self.api_key else "no Gemini API key for the orchestrator"

    def _sdk_client(self) -> Any:
        if self.missing():
            raise ModelAuthError("no Gemini API key for the orchestrator", hint=self.fix)
        if self._client is None:
            from google import genai
            from google.genai import types

            # one attempt per call: kodo-bot retries itself, so the policy and the notices are its own
            options = types.HttpOptions(
                base_url=self.base_url, retry_options=types.HttpRetryOptions(attempts=1), timeout=None
            )
            self._client = genai.Client(api_key=self.api_key, http_options=options)
        return self._client

    async def reply(
        self,
        system: str,
        messages: list[dict[str, Any]],
        tool_defs: list[dict[str, Any]],
        *,
        on_retry: RetryNotice | None = None,
    ) -> OrchestratorReply:
        client = self._sdk_client()
        contents = as_contents(messages)
        config = _config(system, tool_defs)
        started = time.monotonic()

        async def once() -> OrchestratorReply:
            try:
                answer = await asyncio.wait_for(
                    client.aio.models.generate_content(model=self.model, contents=contents, config=config),
                    timeout=self.timeout_s,
                )
            except TimeoutError as exc:
                raise _BadAnswer(f"no answer within {self.timeout_s:g}s") from exc
            except ValueError as exc:  # the SDK decodes and validates the body before anything else sees it
                raise _BadAnswer(f"a 200 response that is not an answer ({type(exc).__name__}: {exc})") from exc
            return _to_reply(answer, time.monotonic() - started)

        return await self._retrying(once, on_retry)

    def _transient(self, exc: Exception) -> bool:
        return _transient(exc)

    def _retry_after(self, exc: Exception) -> float | None:
        return _retry_after(exc)

    def _describe(self, exc: Exception) -> str:
        return _short(exc)

    def _give_up(self, exc: Exception, attempts: int) -> Exception:
        code = _code(exc)
        if code in (401, 403) or (code == 400 and "api key" in _message(exc).lower()):
            return ModelAuthError(
                f"the Gemini API refused the orchestrator's key ({code}): {_message(exc)}",
                hint=f"check KODO_ORCHESTRATOR_API_KEY / GOOGLE_API_KEY and that the key may use {self.model!r}.",
            )
        if code == 404:
            return ModelAPIError(
                f"the Gemini API does not know model {self.model!r}: {_message(exc)}",
                hint="pick another model: --orchestrator api:gemini:<model>",
            )
        where = self.base_url or "the Gemini API"
        if _transient(exc):
            return ModelAPIError(
                f"{where} kept failing after {attempts + 1} attempts: {_short(exc)}", hint=_RESUME_HINT
            )
        return ModelAPIError(f"{where} refused the request: {_short(exc)}", hint=_RESUME_HINT)

    async def close(self) -> None:
        if self._client is not None:
            try:
                await self._client.aio.aclose()
            finally:
                self._client = None


# --- the conversation, both ways ------------------------------------------------------------------------


def as_contents(messages: list[dict[str, Any]]) -> list[Any]:
    """The engine's conversation as Gemini ``Content``s. A tool result names its function, which Gemini
    needs and the engine's block does not carry: it is found by the call's id."""
    from google.genai import types

    names: dict[str, str] = {}
    contents = []
    for message in messages:
        blocks = message["content"]
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        parts = []
        for block in blocks:
            kind = block.get("type")
            signature = _signature(block.get("thought_signature"))
            if kind == "text" and block.get("text"):
                parts.append(types.Part(text=block["text"], thought_signature=signature))
            elif kind == "tool_use":
                names[block["id"]] = block["name"]
                call = types.FunctionCall(name=block["name"], args=block.get("input") or {}, id=block.get("call_id"))
                parts.append(types.Part(function_call=call, thought_signature=signature))
            elif kind == "tool_result":
                said = _result_text(block.get("content"))
                answer = {"error": said} if block.get("is_error") else {"result": said}
                name = names.get(block["tool_use_id"], "unknown")
                parts.append(types.Part(function_response=types.FunctionResponse(name=name, response=answer)))
        role = "model" if message["role"] == "assistant" else "user"
        contents.append(types.Content(role=role, parts=parts))
    return contents


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content or "")


def _signature(encoded: str | None) -> bytes | None:
    return base64.b64decode(encoded) if encoded else None


def _config(system: str, tool_defs: list[dict[str, Any]]) -> Any:
    from google.genai import types

    declarations = [
        types.FunctionDeclaration(
            name=t["name"], description=t.get("description", ""), parameters_json_schema=t["input_schema"]
        )
        for t in tool_defs
    ]
    return types.GenerateContentConfig(
        system_instruction=system,
        tools=[types.Tool(function_declarations=declarations)] if declarations else None,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        max_output_tokens=MAX_OUTPUT_TOKENS,
    )


def _to_reply(answer: Any, wait_s: float) -> OrchestratorReply:
    """Gemini's answer as the engine reads one. The tool uses get ids of kodo-bot's own (Gemini's, when it
    gives them, are kept beside them): the engine matches results to calls by id."""
    candidate = _usable_candidate(answer)
    content: list[dict[str, Any]] = []
    text: list[str] = []
    uses: list[ToolUse] = []
    for part in candidate.content.parts:
        signature = base64.b64encode(part.thought_signature).decode() if part.thought_signature else None
        extra = {"thought_signature": signature} if signature else {}
        if part.function_call is not None:
            call = part.function_call
            if not call.name:
                raise _BadAnswer("a function call without a name")
            ident = f"gemini_{uuid.uuid4().hex[:16]}"
            args = dict(call.args or {})
            uses.append(ToolUse(id=ident, name=call.name, input=args))
            block = {"type": "tool_use", "id": ident, "name": call.name, "input": args}
            content.append(block | extra | ({"call_id": call.id} if call.id else {}))
        elif part.text and not part.thought:
            text.append(part.text)
            content.append({"type": "text", "text": part.text} | extra)
    meta = answer.usage_metadata
    prompt = (meta.prompt_token_count or 0) if meta else 0
    cached = (meta.cached_content_token_count or 0) if meta else 0
    output = ((meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)) if meta else 0
    return OrchestratorReply(
        text="\n".join(text).strip(),
        tool_uses=uses,
        stop_reason="tool_use" if uses else "end_turn",
        usage=Usage(input_tokens=prompt - cached, output_tokens=output, cache_read_tokens=cached),
        content=content,
        wait_s=wait_s,
        provider="Gemini",
    )


def _usable_candidate(answer: Any) -> Any:
    """The first candidate, when it says something; else why not (retried: a resampled answer may)."""
    feedback = getattr(answer, "prompt_feedback", None)
    if not answer.candidates:
        reason = getattr(feedback, "block_reason", None) if feedback else None
        raise _BadAnswer(f"Gemini blocked the request ({_word(reason)})" if reason else "Gemini sent no candidate")
    candidate = answer.candidates[0]
    finish = _word(candidate.finish_reason)
    if finish == "MALFORMED_FUNCTION_CALL":
        raise _BadAnswer("Gemini could not form a function call (MALFORMED_FUNCTION_CALL)")
    if candidate.content is None or not candidate.content.parts:
        raise _BadAnswer(f"Gemini's answer was blocked ({finish})" if finish != "STOP" else "an empty answer")
    return candidate


def _word(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


# --- errors ---------------------------------------------------------------------------------------------


def _code(exc: Exception) -> int:
    return int(getattr(exc, "code", 0) or 0)


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)


def _transient(exc: Exception) -> bool:
    from google.genai import errors

    if isinstance(exc, (_BadAnswer, *_transport_errors())):
        return True
    return isinstance(exc, errors.APIError) and (_code(exc) in (408, 409, 429) or _code(exc) >= 500)


def _transport_errors() -> tuple[type[Exception], ...]:
    """A connection that failed or timed out, in whichever HTTP library the SDK runs on (httpx, or its
    fork httpx2)."""
    found = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except ImportError:
            continue
    return tuple(found)


def _retry_after(exc: Exception) -> float | None:
    """Gemini says how long to wait in the error's ``RetryInfo`` (``"retryDelay": "30s"``)."""
    response = getattr(exc, "response", None)
    header = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    try:
        if header is not None:
            return max(0.0, float(header))
    except ValueError:
        pass
    details = getattr(exc, "details", None)
    found = details.get("error", {}).get("details", []) if isinstance(details, dict) else []
    for item in found if isinstance(found, list) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and (match := re.fullmatch(r"(\d+(?:\.\d+)?)s", delay)):
            return float(match.group(1))
    return None


def _short(exc: Exception) -> str:
    if isinstance(exc, _BadAnswer):
        return str(exc)
    code = _code(exc)
    return f"HTTP {code}: {_message(exc)}" if code else f"{type(exc).__name__}: {exc}"
