"""What the engine calls out to, and nothing more: the ports its adapters implement.

The run loop talks to two kinds of model-backed things. An **orchestrator** answers the conversation that
directs the team (``kodo_bot.orchestrators``: the Anthropic API; ``kodo_bot.sandbox.scripted``: a script). A
**session** is one conversation with one agent (``kodo_bot.agents.claude``: Claude Code; the script again),
opened by a **session factory**. The engine owns these protocols so that it imports no adapter: adapters
import the engine's models and this module, never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from kodo_bot.engine.models import AgentResult, Bucket, Usage


def role_marker(role: str) -> str:
    """The first line of every system prompt kodo-bot sends.

    It names the role plainly so a scripted model (the model server, or the in-process script) can tell who
    is asking, and a person reading a transcript can too. Verifier sessions use ``verifier/<agent>``; the
    orchestrator ``orchestrator``.
    """
    return f"kodo-role: {role}"


class ToolUse(BaseModel):
    """One tool call the orchestrator asked for."""

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
    #: the assistant message as it goes back into the conversation (Anthropic's block format)
    content: list[dict[str, Any]]
    wait_s: float
    #: what the reply cost, when the adapter knows better than the engine's Anthropic price table
    cost_usd: float | None = None
    #: who pays: the API, per token (what ``max_cost_usd`` limits), or a subscription (Claude Code itself)
    bucket: Bucket = "api"
    #: whose model it is, as the cost tables name it (``Claude``, ``Gemini``)
    provider: str = "Claude"


#: ``on_retry(attempt, delay_s, why)``: told before an adapter waits to retry a failed request
RetryNotice = Callable[[int, float, str], None]


class Orchestrator(Protocol):
    """The model that directs the team. Implementations: ``kodo_bot.orchestrators.anthropic.ApiOrchestrator``,
    ``kodo_bot.sandbox.scripted.ScriptedOrchestrator``."""

    #: the model's name, for the price table and the log
    model: str
    #: how to fix what ``missing`` reports, for the error a run that cannot start ends with
    fix: str

    def missing(self) -> str | None:
        """What keeps this orchestrator from answering (a missing key), or None. Asked before a run starts."""
        ...

    async def reply(
        self,
        system: str,
        messages: list[dict[str, Any]],
        tool_defs: list[dict[str, Any]],
        *,
        on_retry: RetryNotice | None = None,
    ) -> OrchestratorReply:
        """One answer to the conversation so far. Raises ``ModelAPIError`` when it cannot be had."""
        ...

    async def close(self) -> None: ...


class Session(Protocol):
    """One agent conversation. Implementations: ``kodo_bot.agents.claude.ClaudeSession``,
    ``kodo_bot.sandbox.scripted.ScriptedSession``."""

    agent: str

    @property
    def session_id(self) -> str | None:
        """The backend's own id for the conversation, known after the first query; lets a later process
        resume it."""
        ...

    async def start(self) -> None:
        """Start the backend process now rather than at the first ``query``, so the query does not wait for
        it. Sends nothing to the model. Raises ``AgentError`` as ``query`` would when the backend cannot start."""
        ...

    async def query(self, prompt: str) -> AgentResult:
        """Send one task; return when the agent has finished it (or a limit ended it: see result.error)."""
        ...

    async def close(self) -> None:
        """End the backend process. Safe to call twice."""
        ...


class SessionFactory(Protocol):
    """Opens sessions; the engine gets one so tests and backends can be swapped at this seam. A factory may
    also offer ``warm_up()``: the engine calls it while the orchestrator thinks, to load in the background what
    opening a session needs (``ClaudeSessionFactory`` imports claude-agent-sdk then)."""

    def available(self, backend: str) -> str | None:
        """None when the backend can run here, else a sentence saying why not."""
        ...

    def open(
        self,
        *,
        agent: str,
        role: str,
        system_prompt: str,
        model: str | None,
        cwd: Path,
        max_turns: int,
        idle_timeout_s: float,
        timeout_s: float,
        resume: str | None = None,
        watch: Callable[[], str] | None = None,
    ) -> Session:
        """``watch``, when given, is called just before and just after every tool the agent uses; it
        returns what differs in the agent's checkout from the commit it should hold ("" when nothing),
        and the session records both answers on each ``ToolCall`` (``checkout_before``/``_after``)."""
        ...
