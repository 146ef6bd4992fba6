"""The orchestrator on the Anthropic Messages API, with kodo-bot's own retry policy.

401/403 stop at once; 429, 5xx and 529, a request left unanswered for ``timeout_s`` and a 200 whose body is
not a message are retried with backoff (honouring ``retry-after``); still failing, ``ModelAPIError`` leaves
the run resumable. The SDK is imported when the first request is made, not when kodo-bot starts: most
commands never talk to the model.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from pydantic import BaseModel, ValidationError, model_validator

from kodo_bot.engine.models import DEFAULT_ORCHESTRATOR_MODEL, Usage
from kodo_bot.engine.ports import OrchestratorReply, RetryNotice, ToolUse
from kodo_bot.errors import ModelAPIError, ModelAuthError

MAX_TOKENS = 4096
#: where the key is looked up when none is given: kodo-bot's own name first, so it can be scrubbed from agents
KEY_VARIABLES = ("KODO_ORCHESTRATOR_API_KEY", "ANTHROPIC_API_KEY")


class ApiOrchestrator:
    """The ``Orchestrator`` port on the Anthropic Messages API: calls the model, nothing else."""

    fix = "set KODO_ORCHESTRATOR_API_KEY (or ANTHROPIC_API_KEY) to an Anthropic API key."

    def __init__(
        self,
        model: str = DEFAULT_ORCHESTRATOR_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        retries: int = 4,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 120.0,
    ) -> None:
        self.model = model
        #: None: taken from the environment by the composition root (``KEY_VARIABLES``)
        self.api_key, self.base_url = api_key, base_url
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self.timeout_s = timeout_s
        self._client: Any = None

    def missing(self) -> str | None:
        """What keeps this orchestrator from answering, checked before a run creates anything."""
        if not self.api_key:
            return "no API key for the orchestrator model"
        return None

    def _sdk_client(self) -> Any:
        if self.missing():
            raise ModelAuthError("no API key for the orchestrator model", hint=self.fix)
        if self._client is None:
            import anthropic

            # kodo-bot retries itself, so the policy (and the notices it emits) is ours and bounded.
            self._client = anthropic.AsyncAnthropic(
                api_key=self.api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s
            )
        return self._client

    async def reply(
        self,
        system: str,
        messages: list[dict[str, Any]],
        tool_defs: list[dict[str, Any]],
        *,
        on_retry: RetryNotice | None = None,
    ) -> OrchestratorReply:
        import anthropic

        client = self._sdk_client()
        attempt = 0
        started = time.monotonic()
        while True:
            try:
                msg = await self._create(client, system, messages, tool_defs)
                return _to_reply(msg, time.monotonic() - started)
            except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as exc:
                raise ModelAuthError(
                    f"the model API refused the orchestrator's credentials ({exc.status_code}): {_message(exc)}",
                    hint="check KODO_ORCHESTRATOR_API_KEY / ANTHROPIC_API_KEY and that the key may use "
                    f"model {self.model!r}.",
                ) from exc
            except anthropic.NotFoundError as exc:
                raise ModelAPIError(
                    f"the model API does not know model {self.model!r}: {_message(exc)}",
                    hint="pick another --orchestrator-model",
                ) from exc
            except (anthropic.APIConnectionError, anthropic.APIStatusError, _BadAnswer) as exc:
                if not _retryable(exc) or attempt >= self.retries:
                    raise ModelAPIError(_describe_failure(exc, self.base_url, attempt), hint=_RESUME_HINT) from exc
                delay = self._delay(attempt, exc)
                attempt += 1
                if on_retry:
                    on_retry(attempt, delay, _short(exc))
                await asyncio.sleep(delay)

    async def _create(
        self, client: Any, system: str, messages: list[dict[str, Any]], tool_defs: list[dict[str, Any]]
    ) -> Any:
        """One request, bounded in time as a whole (the client's own timeout only bounds each read)."""
        import anthropic

        try:
            return await asyncio.wait_for(
                client.messages.create(
                    model=self.model, max_tokens=MAX_TOKENS, system=system, messages=messages, tools=tool_defs
                ),
                timeout=self.timeout_s,
            )
        except (TimeoutError, anthropic.APITimeoutError) as exc:
            raise _BadAnswer(f"no answer within {self.timeout_s:g}s") from exc
        except ValueError as exc:  # the SDK decodes the body before anything checks it
            raise _BadAnswer(f"a 200 response that is not JSON ({exc})") from exc

    def _delay(self, attempt: int, exc: Exception) -> float:
        retry_after = _retry_after(exc)
        if retry_after is not None:
            return min(retry_after, self.max_backoff_s)
        base = min(self.backoff_s * 2.0**attempt, self.max_backoff_s)
        return base * (0.75 + random.random() * 0.5)  # jitter: several runners must not retry in step

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


_RESUME_HINT = "the run is saved: fix the cause and continue it with `kodo-bot resume`."


class _BadAnswer(Exception):
    """No answer in time, or a 200 whose body is not a message: retried like a 5xx."""


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
    """What kodo-bot reads of a reply. The SDK builds its ``Message`` without checking the body, so a cut or
    foreign 200 would otherwise surface as an AttributeError deep in the run."""

    content: list[_Block]
    usage: _ApiUsage
    stop_reason: str | None = None


def _checked(msg: Any) -> _Message:
    raw = msg.model_dump(mode="json", warnings=False) if isinstance(msg, BaseModel) else msg
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
    import anthropic

    if isinstance(exc, (anthropic.APIConnectionError, _BadAnswer)):
        return True
    status = getattr(exc, "status_code", 0)
    return status in (408, 409, 429) or status >= 500


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    raw = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(exc)


def _short(exc: Exception) -> str:
    if isinstance(exc, _BadAnswer):
        return str(exc)
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}: {_message(exc)}" if status else f"{type(exc).__name__}: {exc}"


def _describe_failure(exc: Exception, base_url: str | None, attempts: int) -> str:
    import anthropic

    if isinstance(exc, _BadAnswer):
        return f"the model API at {base_url or 'api.anthropic.com'} kept failing after {attempts + 1} attempts: {exc}"
    if isinstance(exc, anthropic.APIConnectionError):
        where = base_url or "the Anthropic API"
        return f"cannot reach the model API at {where} after {attempts + 1} attempts ({exc})"
    return f"the model API kept failing after {attempts + 1} attempts: {_short(exc)}"
