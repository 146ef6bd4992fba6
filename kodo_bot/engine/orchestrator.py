"""The orchestrator: a model on the Anthropic API that directs the team through tools.

It sees one delegation tool per agent and ``done(summary, success)``. This module builds those tools and the
prompts (pure functions) and makes the API call with kodo-bot's own retry policy: 401/403 stop at once;
429, 5xx and 529, a request left unanswered for ``timeout_s`` and a 200 whose body is not a message are
retried with backoff (honouring ``retry-after``); still failing, ``ModelAPIError`` leaves the run resumable.
It does not run tools: the run loop does.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import anthropic
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from kodo_bot.agents.base import role_marker
from kodo_bot.engine.models import AgentResult, Usage
from kodo_bot.engine.team import Team
from kodo_bot.errors import ModelAPIError, ModelAuthError

DONE_TOOL = "done"
DELEGATE_PREFIX = "delegate_"
MAX_TOKENS = 4096

SYSTEM_PROMPT = """\
{marker}

You are the orchestrator of a kodo-bot team of coding agents working in a git repository. You do not edit
files yourself: you direct the agents through your tools, one tool per agent. Give each agent a complete,
self-contained task (it does not see this conversation). Several tool calls in one reply run at the same
time: use that for independent work.

Work in cycles. The engine commits the repository at the end of every cycle. When the goal is fully met and
tested, call `done` with success=true and a summary of what changed and why: independent verifiers then check
the committed work in a clean checkout and either accept it or send their findings back to you in the next
cycle. Call `done` with success=false only if the goal cannot be reached; say what is left.

Your team:
{team}
"""


class ToolUse(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    input: dict[str, Any]


class OrchestratorReply(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str
    tool_uses: list[ToolUse]
    stop_reason: str | None
    usage: Usage
    #: the assistant message as it goes back into the conversation
    content: list[dict[str, Any]]
    wait_s: float


def system_prompt(team: Team) -> str:
    lines = [f"- {DELEGATE_PREFIX}{a.name}: {a.description or a.prompt.splitlines()[0]}" for a in team.agents.values()]
    return SYSTEM_PROMPT.format(marker=role_marker("orchestrator"), team="\n".join(lines))


def tools(team: Team) -> list[dict[str, Any]]:
    """One delegation tool per agent, plus ``done``."""
    out: list[dict[str, Any]] = [
        {
            "name": f"{DELEGATE_PREFIX}{agent.name}",
            "description": f"Give the {agent.name} agent a task. {agent.description}".strip(),
            "input_schema": {
                "type": "object",
                "properties": {
                    "task": {"type": "string", "description": "A complete, self-contained task."},
                    "fresh": {
                        "type": "boolean",
                        "description": "Start a new conversation with this agent instead of continuing it.",
                    },
                },
                "required": ["task"],
            },
        }
        for agent in team.agents.values()
    ]
    out.append(
        {
            "name": DONE_TOOL,
            "description": "End the cycle: success=true sends the committed work to independent verification.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "description": "What changed and why."},
                    "success": {"type": "boolean"},
                },
                "required": ["summary", "success"],
            },
        }
    )
    return out


def cycle_seed(goal: str, *, cycle: int, max_cycles: int, previous: str | None, rejection: str | None,
               notes: list[str] = ()) -> str:
    """The first message of a cycle. Only the goal, the last summary, the last rejection and what the
    engine had to undo or withhold carry over, so the orchestrator's context stays the same size however many
    cycles run."""
    parts = [f"# Goal\n{goal.strip()}", f"# Cycle {cycle} of at most {max_cycles}"]
    if previous:
        parts.append(f"# Where the previous cycle ended\n{previous.strip()}")
    if notes:
        listed = "\n".join(f"- {note}" for note in notes)
        parts.append(f"# What kodo-bot had to undo or keep out of the commits\n{listed}")
    if rejection:
        parts.append(f"# Verification rejected the last attempt\nFix these, then call done again.\n\n{rejection.strip()}")
    return "\n\n".join(parts)


class ApiOrchestrator:
    """Calls the orchestrator model; nothing else."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None = None,
        retries: int = 4,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 120.0,
    ) -> None:
        if not api_key:
            raise ModelAuthError(
                "no API key for the orchestrator model",
                hint="set KODO_ORCHESTRATOR_API_KEY (or ANTHROPIC_API_KEY) to an Anthropic API key.",
            )
        self.model = model
        self.base_url = base_url
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self.timeout_s = timeout_s
        # kodo-bot retries itself, so the policy (and the notices it emits) is ours and bounded.
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )

    async def reply(
        self, system: str, messages: list[dict[str, Any]], tool_defs: list[dict[str, Any]], *, on_retry=None
    ) -> OrchestratorReply:
        attempt = 0
        started = time.monotonic()
        while True:
            try:
                msg = await self._create(system, messages, tool_defs)
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

    async def _create(self, system: str, messages: list[dict[str, Any]], tool_defs: list[dict[str, Any]]) -> Any:
        """One request, bounded in time as a whole (the client's own timeout only bounds each read)."""
        try:
            return await asyncio.wait_for(self._client.messages.create(
                model=self.model, max_tokens=MAX_TOKENS, system=system, messages=messages, tools=tool_defs
            ), timeout=self.timeout_s)
        except (TimeoutError, anthropic.APITimeoutError) as exc:
            raise _BadAnswer(f"no answer within {self.timeout_s:g}s") from exc
        except ValueError as exc:  # the SDK decodes the body before anything checks it
            raise _BadAnswer(f"a 200 response that is not JSON ({exc})") from exc

    def _delay(self, attempt: int, exc: Exception) -> float:
        retry_after = _retry_after(exc)
        if retry_after is not None:
            return min(retry_after, self.max_backoff_s)
        base = min(self.backoff_s * (2**attempt), self.max_backoff_s)
        return base * (0.75 + random.random() * 0.5)  # jitter: several runners must not retry in step

    async def close(self) -> None:
        await self._client.close()


#: how much of an agent's final text the orchestrator is shown
RESULT_TEXT_LIMIT = 6000


def tool_result(tool_use_id: str, text: str, is_error: bool) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": text, "is_error": is_error}


def describe_result(result: AgentResult) -> str:
    """An agent's result as the orchestrator reads it: bounded, with the commands it was seen to run."""
    head = f"{result.agent} finished after {result.turns} turns"
    if result.is_error:
        head += f", with an error: {result.error or 'unknown'}"
    text = result.text.strip()
    if len(text) > RESULT_TEXT_LIMIT:
        text = text[:RESULT_TEXT_LIMIT] + "\n[... cut]"
    lines = [head + ".", text]
    commands = result.commands[-10:]
    if commands:
        lines.append("Commands observed:\n" + "\n".join(f"- `{c.command}` -> exit {c.exit_code}" for c in commands))
    return "\n\n".join(x for x in lines if x)


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
        raise _BadAnswer(f"a 200 response that is not a message ({where + ': ' if where else ''}{err['msg']})") from None


def _to_reply(raw: Any, wait_s: float) -> OrchestratorReply:
    msg = _checked(raw)
    content, text, uses = [], [], []
    for block in msg.content:
        if block.type == "text":
            text.append(block.text)
            content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
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
    if isinstance(exc, _BadAnswer):
        return f"the model API at {base_url or 'api.anthropic.com'} kept failing after {attempts + 1} attempts: {exc}"
    if isinstance(exc, anthropic.APIConnectionError):
        where = base_url or "the Anthropic API"
        return f"cannot reach the model API at {where} after {attempts + 1} attempts ({exc})"
    return f"the model API kept failing after {attempts + 1} attempts: {_short(exc)}"
