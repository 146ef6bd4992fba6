"""What the engine needs from an agent backend, and nothing more.

A session is one conversation with one agent. The engine hands it a task and gets back an ``AgentResult``
holding the final text, usage, cost and, as evidence, every tool call with the result the backend observed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from kodo_bot.engine.models import AgentResult


def role_marker(role: str) -> str:
    """The first line of every system prompt kodo-bot sends.

    It names the role plainly so the scripted model server can tell who is asking (and a person reading a
    transcript can too). Verifier sessions use ``verifier/<agent>``; the orchestrator ``orchestrator``.
    """
    return f"kodo-role: {role}"


class Session(Protocol):
    """One agent conversation. Implementations: ``kodo_bot.agents.claude.ClaudeSession``."""

    agent: str
    #: the backend's own id for the conversation, known after the first query; lets a later process resume
    session_id: str | None

    async def query(self, prompt: str) -> AgentResult:
        """Send one task; return when the agent has finished it (or a limit ended it: see result.error)."""
        ...

    async def close(self) -> None:
        """End the backend process. Safe to call twice."""
        ...


class SessionFactory(Protocol):
    """Opens sessions; the engine gets one so tests and backends can be swapped at this seam."""

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
