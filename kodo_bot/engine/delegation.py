"""The orchestrator's tools carried out: each delegation to an agent, never twice.

One live session per agent, reused across the agent's delegations in a run (its conversation goes on unless
the orchestrator asks for a ``fresh`` one) and resumed by id in a later process. An agent takes one task at
a time; different agents work at once. A finished call is checkpointed with its result, after its files are
snapshotted, so a resumed run answers it from the record instead of running it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from kodo_bot.engine import events as ev
from kodo_bot.engine.journal import Journal
from kodo_bot.engine.models import AgentResult
from kodo_bot.engine.orchestrator import DELEGATE_PREFIX, describe_result, tool_result
from kodo_bot.engine.ports import Session, SessionFactory, ToolUse, role_marker
from kodo_bot.engine.team import Team
from kodo_bot.engine.workspace import RunWorkspace
from kodo_bot.errors import AgentError


class Delegation:
    """``on_start`` is told each time an agent's session has started (its backend process is up, before the
    task is sent): the run starts what it wants ready later then, one start after another rather than all
    at once."""

    def __init__(
        self,
        journal: Journal,
        *,
        team: Team,
        factory: SessionFactory,
        workspace: RunWorkspace,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.journal, self.team, self.factory, self.workspace = journal, team, factory, workspace
        self._on_start = on_start
        self._live: dict[str, Session] = {}
        self._locks = {name: asyncio.Lock() for name in team.agents}

    async def run_tool(self, use: ToolUse) -> dict[str, Any]:
        """One tool call of the orchestrator's, as the tool result it reads next."""
        agent = use.name.removeprefix(DELEGATE_PREFIX)
        task = use.input.get("task")
        if not use.name.startswith(DELEGATE_PREFIX) or agent not in self.team.agents:
            return tool_result(use.id, f"Unknown tool {use.name!r}. Use the delegate_* tools or done.", True)
        if not isinstance(task, str) or not task.strip():
            return tool_result(use.id, "A delegation needs a non-empty `task` string.", True)
        result = await self.delegate(use.id, agent, task, bool(use.input.get("fresh")))
        return tool_result(use.id, describe_result(result), result.is_error)

    async def delegate(self, call_id: str, agent: str, task: str, fresh: bool) -> AgentResult:
        s = self.journal.state
        if (done := s.completed_calls.get(call_id)) is not None:
            return done  # finished before an interruption: never run an agent call twice
        self.journal.emit(
            ev.AgentCallStarted(run_id=s.run_id, cycle=s.cycle, call_id=call_id, agent=agent, task=task, fresh=fresh)
        )
        started = time.monotonic()
        async with self._locks[agent]:
            try:
                session = await self._session(agent, fresh)
                result = await session.query(task)
                if session.session_id:
                    s.sessions[agent] = session.session_id
            except AgentError as exc:
                result = AgentResult(agent=agent, is_error=True, error=str(exc), duration_s=time.monotonic() - started)
        s.add_wait("agents", time.monotonic() - started)
        s.ledger.charge(agent, result, self.team.agents[agent].backend)
        # Before the checkpoint says the call finished, its files are safe from a lost worktree.
        await asyncio.to_thread(self.workspace.snapshot)
        s.completed_calls[call_id] = result
        self.journal.checkpoint(ev.AgentCallFinished(run_id=s.run_id, cycle=s.cycle, call_id=call_id, result=result))
        return result

    def warm_up(self) -> None:
        """Let the agents' backend load what opening a session needs, in the background. A factory may offer
        ``warm_up()`` for this (``ClaudeSessionFactory`` does); one that does not needs none."""
        warm = getattr(self.factory, "warm_up", None)
        if callable(warm):
            warm()

    async def _session(self, agent: str, fresh: bool) -> Session:
        if fresh and agent in self._live:
            await self._live.pop(agent).close()
        if fresh:
            self.journal.state.sessions.pop(agent, None)
        if agent not in self._live:
            spec = self.team.agents[agent]
            session = self.factory.open(
                agent=agent,
                role=agent,
                system_prompt=f"{role_marker(agent)}\n\n{spec.prompt}",
                model=spec.model,
                cwd=self.workspace.path,
                max_turns=spec.max_turns,
                idle_timeout_s=spec.idle_timeout_s,
                timeout_s=spec.timeout_s,
                resume=self.journal.state.sessions.get(agent),
            )
            self._live[agent] = session
            await session.start()
            if self._on_start is not None:
                self._on_start()
        return self._live[agent]

    async def close(self) -> None:
        live, self._live = list(self._live.values()), {}
        for session in live:
            try:
                await session.close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's own outcome
                pass
