"""The orchestrator on the Anthropic Messages API, with kodo-bot's own retry policy.

401/403 stop at once; 429, 5xx and 529, a request left unanswered for ``timeout_s`` and a 200 whose body is
not a message are retried with backoff (honouring ``retry-after``); still failing, ``ModelAPIError`` leaves
the run resumable. The requests go out through ``_http`` (httpx2, the HTTP client the anthropic SDK is built
on), not through the SDK, whose import alone (about 1.5 s) would stand between starting kodo-bot and its first
request.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from pydantic import BaseModel, ValidationError, model_validator

from kodo_bot.engine.models import DEFAULT_ORCHESTRATOR_MODEL, Usage
from kodo_bot.engine.ports import OrchestratorReply, RetryNotice, ToolUse
from kodo_bot.errors import ModelAPIError, ModelAuthError
from kodo_bot.orchestrators._http import Answer, ConnectionFailed, JsonPoster
from kodo_bot.orchestrators._retry import ApiAdapter

MAX_TOKENS = 4096
API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
#: where the key is looked up when none is given: kodo-bot's own name first, so it can be scrubbed from agents
KEY_VARIABLES = ("KODO_ORCHESTRATOR_API_KEY", "ANTHROPIC_API_KEY")


class ApiOrchestrator(ApiAdapter):
    """The ``Orchestrator`` port on the Anthropic Messages API: calls the model, nothing else."""

    fix = "set KODO_ORCHESTRATOR_API_KEY (or ANTHROPIC_API_KEY) to an Anthropic API key."

    def __init__(self, model: str = DEFAULT_ORCHESTRATOR_MODEL, **settings: Any) -> None:
        super().__init__(model, **settings)
        self._client: JsonPoster | None = None

    def missing(self) -> str | None:
        """What keeps this orchestrator from answering, checked before a run creates anything."""
        if not self.api_key:
            return "no API key for the orchestrator model"
        return None

    def _poster(self) -> JsonPoster:
        if self.missing():
            raise ModelAuthError("no API key for the orchestrator model", hint=self.fix)
        if self._client is None:
            headers = {"x-api-key": str(self.api_key), "anthropic-version": API_VERSION, "user-agent": _user_agent()}
            self._client = JsonPoster(self.base_url or DEFAULT_BASE_URL, headers, self.timeout_s)
        return self._client

    async def reply(
        self,
        system: str,
        messages: list[dict[str, Any]],
        tool_defs: list[dict[str, Any]],
        *,
        on_retry: RetryNotice | None = None,
    ) -> OrchestratorReply:
        client = self._poster()
        started = time.monotonic()
        payload = {
            "model": self.model,
            "max_tokens": MAX_TOKENS,
            "system": system,
            "messages": messages,
            "tools": tool_defs,
        }

        async def once() -> OrchestratorReply:
            return _to_reply(await self._create(client, payload), time.monotonic() - started)

        return await self._retrying(once, on_retry)

    def _transient(self, exc: Exception) -> bool:
        return _retryable(exc)

    def _retry_after(self, exc: Exception) -> float | None:
        return _retry_after(exc)

    def _describe(self, exc: Exception) -> str:
        return _short(exc)

    def _give_up(self, exc: Exception, attempts: int) -> Exception:
        """What a failure that is not retried (any more) ends the run with."""
        if isinstance(exc, _StatusError) and exc.status_code in (401, 403):
            return ModelAuthError(
                f"the model API refused the orchestrator's credentials ({exc.status_code}): {exc.message}",
                hint="check KODO_ORCHESTRATOR_API_KEY / ANTHROPIC_API_KEY and that the key may use "
                f"model {self.model!r}.",
            )
        if isinstance(exc, _StatusError) and exc.status_code == 404:
            return ModelAPIError(
                f"the model API does not know model {self.model!r}: {exc.message}",
                hint="pick another --orchestrator-model",
            )
        if isinstance(exc, (_StatusError, ConnectionFailed, _BadAnswer)):
            return ModelAPIError(_describe_failure(exc, self.base_url, attempts), hint=_RESUME_HINT)
        return exc  # a bug of ours: raised as it is

    async def _create(self, client: JsonPoster, payload: dict[str, Any]) -> Any:
        """One request, bounded in time as a whole (the socket's own timeout only bounds each read)."""
        try:
            answer = await asyncio.wait_for(client.post("/v1/messages", payload), timeout=self.timeout_s)
        except TimeoutError as exc:
            raise _BadAnswer(f"no answer within {self.timeout_s:g}s") from exc
        if answer.status != 200:
            raise _StatusError(answer)
        try:
            return json.loads(answer.body)
        except ValueError as exc:
            raise _BadAnswer(f"a 200 response that is not JSON ({exc})") from exc

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


_RESUME_HINT = "the run is saved: fix the cause and continue it with `kodo-bot resume`."


class _BadAnswer(Exception):
    """No answer in time, or a 200 whose body is not a message: retried like a 5xx."""


class _StatusError(Exception):
    """An answer other than 200; ``message`` is the API's own (its error body), else the body's start."""

    def __init__(self, answer: Answer) -> None:
        self.status_code = answer.status
        self.headers = answer.headers
        self.message = _error_message(answer.body)
        super().__init__(f"HTTP {self.status_code}: {self.message}")


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip() or "(no body)"
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    return json.dumps(data)[:200]


class _Block(BaseModel):
    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> _Block:
        if self.type == "text" and self.text is None:
            raise ValueError("a text block without text")
        if self.type == "tool_use" and (not self.id or not self.name or self.input is None):
            raise ValueError("a tool_use block without id, name or input")
        return self


class _ApiUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class _Message(BaseModel):
    """What kodo-bot reads of a reply, checked, so a cut or foreign 200 is retried rather than surfacing as
    an AttributeError deep in the run."""

    content: list[_Block]
    usage: _ApiUsage
    stop_reason: str | None = None


def _checked(raw: Any) -> _Message:
    try:
        return _Message.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(map(str, err["loc"]))
        at = f"{where}: " if where else ""
        raise _BadAnswer(f"a 200 response that is not a message ({at}{err['msg']})") from None


def _to_reply(raw: Any, wait_s: float) -> OrchestratorReply:
    msg = _checked(raw)
    content: list[dict[str, Any]] = []
    text: list[str] = []
    uses: list[ToolUse] = []
    for block in msg.content:  # _Block has already refused a text block without text, a tool_use without input
        if block.type == "text" and block.text is not None:
            text.append(block.text)
            content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use" and block.id and block.name and block.input is not None:
            uses.append(ToolUse(id=block.id, name=block.name, input=block.input))
            content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
    u = msg.usage
    usage = Usage(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_input_tokens or 0,
        cache_creation_tokens=u.cache_creation_input_tokens or 0,
    )
    return OrchestratorReply(
        text="\n".join(text).strip(),
        tool_uses=uses,
        stop_reason=msg.stop_reason,
        usage=usage,
        content=content,
        wait_s=wait_s,
    )


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, (ConnectionFailed, _BadAnswer)):
        return True
    status = getattr(exc, "status_code", 0)
    return status in (408, 409, 429) or status >= 500


def _retry_after(exc: Exception) -> float | None:
    raw = exc.headers.get("retry-after") if isinstance(exc, _StatusError) else None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def _short(exc: Exception) -> str:
    if isinstance(exc, _StatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
    if isinstance(exc, _BadAnswer):
        return str(exc)
    return f"connection failed: {exc}"


def _describe_failure(exc: Exception, base_url: str | None, attempts: int) -> str:
    if isinstance(exc, _BadAnswer):
        return f"the model API at {base_url or 'api.anthropic.com'} kept failing after {attempts + 1} attempts: {exc}"
    if isinstance(exc, ConnectionFailed):
        where = base_url or "the Anthropic API"
        return f"cannot reach the model API at {where} after {attempts + 1} attempts ({exc})"
    return f"the model API kept failing after {attempts + 1} attempts: {_short(exc)}"


def _user_agent() -> str:
    from kodo_bot import __version__

    return f"kodo-bot/{__version__}"
