"""The run loop: cycles of orchestrator exchanges, a commit per cycle, verification when the team is done.

Read ``Run._loop`` top to bottom: it is the whole algorithm as a short sequence of named steps. State lives
in ``RunState`` and is checkpointed after every orchestrator step and every finished agent call, so a run
killed at any point resumes without repeating finished work. Each checkpoint is a whole transition: the
events a step tells go out only after the write that records the step (``_checkpoint``), a decision that
cannot be made again from the saved state (verification's verdict on the run) is saved with the step that
made it (``RunState.finishing``), and the rest is decided from the saved state at the top of the loop, so
a resumed run decides the same. Everything the run does is told to the event bus; the loop itself prints
nothing and knows nothing of GitHub.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from kodo_bot.engine import events as ev
from kodo_bot.engine.ledger import api_cost_usd
from kodo_bot.engine.models import AgentResult, Outcome, Verdict
from kodo_bot.engine.orchestrator import DELEGATE_PREFIX, DONE_TOOL, cycle_seed, describe_result, system_prompt, tool_result, tools
from kodo_bot.engine.ports import Orchestrator, Session, SessionFactory, ToolUse, role_marker
from kodo_bot.engine.state import Ending, RunState, RunStore, VerificationInProgress, unconfined_reason
from kodo_bot.engine.verdict import rejection_feedback
from kodo_bot.engine.verification import Verification
from kodo_bot.engine.workspace import RunWorkspace
from kodo_bot.errors import AgentError, KodoError, ModelAPIError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Continue:
    pass


@dataclass(frozen=True)
class _CycleOver:
    summary: str
    reason: str


@dataclass(frozen=True)
class _Done:
    summary: str
    success: bool


@dataclass(frozen=True)
class _Finish:
    outcome: Outcome
    reason: str
    handoff: str = ""


class Run:
    def __init__(
        self,
        state: RunState,
        *,
        store: RunStore,
        workspace: RunWorkspace,
        orchestrator: Orchestrator,
        factory: SessionFactory,
        verification: Verification,
        bus: ev.EventBus,
        resumed: bool = False,
    ) -> None:
        self.state, self.store, self.workspace = state, store, workspace
        self.orchestrator, self.factory, self.verification, self.bus = orchestrator, factory, verification, bus
        self.resumed = resumed
        self._team = state.settings.team
        self._system = system_prompt(self._team)
        self._tools = tools(self._team)
        self._live: dict[str, Session] = {}
        self._locks: dict[str, asyncio.Lock] = {name: asyncio.Lock() for name in self._team.agents}
        self._clock_start = time.monotonic()
        self._elapsed_at_start = state.elapsed_s

    # ----------------------------------------------------------------- the loop
    async def execute(self) -> RunState:
        self._emit(self._started_event())
        try:
            finish = await self._with_time_budget(self._loop())
        except asyncio.CancelledError:
            self._finish(_Finish(Outcome.interrupted, "interrupted; continue with `kodo-bot resume`"))
            raise
        except ModelAPIError as exc:
            finish = _Finish(Outcome.error, f"{exc}" + (f" ({exc.hint})" if exc.hint else ""))
        except KodoError as exc:
            finish = _Finish(Outcome.error, str(exc))
        except Exception as exc:
            # A bug of ours or the machine failing (disk full, git broken): the run must not stay "running".
            self._finish_after_crash(exc)
            raise
        finally:
            await self._close_sessions()
        self._finish(finish)
        return self.state

    async def _loop(self) -> _Finish:
        s = self.state
        while True:
            if end := self._decided() or self._over_budget():
                return end
            if s.verifying is not None:
                await self._verify(s.verifying)
                continue
            if not s.cycle_open:
                self._open_cycle()
            step = await self._exchange()
            if isinstance(step, _Continue):
                continue
            if isinstance(step, _Done):
                commit = self._commit_cycle(step.summary)
                if not step.success:
                    return _Finish(Outcome.needs_human, "the orchestrator gave up", self._handoff(step.summary))
                s.rounds += 1
                s.verifying = VerificationInProgress(sha=commit, summary=step.summary, round=s.rounds)
                self._checkpoint()
                continue
            self._commit_cycle(step.summary)
            self._close_cycle(step.reason, step.summary)

    def _decided(self) -> _Finish | None:
        """An end already decided (saved in ``finishing``), or the end due between two cycles. Both come from
        the saved state, so a run killed just after a cycle closed ends as it would have, not with one more."""
        s = self.state
        if s.finishing is not None:
            return _Finish(s.finishing.outcome, s.finishing.reason, s.finishing.handoff)
        if s.verifying is not None or s.cycle_open:
            return None
        last = s.summaries[-1] if s.summaries else ""
        if s.cycle and (stop := self.bus.stop_requested()):
            return _Finish(Outcome.stopped, stop, self._handoff(last))
        if s.cycle >= s.settings.max_cycles:
            return _Finish(Outcome.max_cycles, f"reached the limit of {s.settings.max_cycles} cycles", self._handoff(last))
        return None

    # ----------------------------------------------------------------- cycles
    def _open_cycle(self) -> None:
        s = self.state
        s.cycle += 1
        s.cycle_open, s.exchange, s.completed_calls = True, 0, {}
        previous = s.summaries[-1] if s.summaries else None
        seed = cycle_seed(s.goal, cycle=s.cycle, max_cycles=s.settings.max_cycles, previous=previous,
                          rejection=s.rejection, notes=s.engine_notes)
        s.messages, s.engine_notes = [{"role": "user", "content": seed}], []
        self._checkpoint(ev.CycleStarted(run_id=s.run_id, cycle=s.cycle))

    def _close_cycle(self, reason: str, summary: str, *events: ev.Event) -> None:
        s = self.state
        s.summaries.append(summary)
        s.cycle_open, s.messages = False, []
        self._checkpoint(*events, ev.CycleEnded(run_id=s.run_id, cycle=s.cycle, reason=reason, summary=summary))

    def _commit_cycle(self, summary: str) -> str:
        s = self.state
        head = self.workspace.repo.head.commit
        if self._committed_this_cycle(head.message) and not self.workspace.has_changes():
            # Committed before an interruption: never commit a cycle twice. If the run was killed between the
            # commit and the checkpoint recording it, record it now.
            if s.head_sha != head.hexsha:
                self._record_commit(head.hexsha, summary, self._files_of(head.hexsha), [],
                                    self._engine_notes(self.workspace.withheld))
            return head.hexsha
        commit = self.workspace.commit(summary, run_id=s.run_id, cycle=s.cycle)
        self._record_commit(commit.sha, summary, commit.files_changed, commit.build_output,
                            self._engine_notes(commit.withheld))
        return commit.sha

    def _engine_notes(self, withheld: list) -> list[str]:
        """What the engine undid in the worktree's git, and what it kept out of the commit, for the team."""
        return [*self.workspace.take_interference(),
                *(f"`{w.path}` was not committed: {w.reason}. Take it (or the secret in it) out of the worktree."
                  for w in withheld)]

    def _committed_this_cycle(self, message: str) -> bool:
        lines = message.splitlines()
        return f"Kodo-Run: {self.state.run_id}" in lines and f"Kodo-Cycle: {self.state.cycle}" in lines

    def _files_of(self, sha: str) -> list[str]:
        return self.workspace.repo.git.diff("--name-only", "--no-renames", f"{sha}^", sha).splitlines()

    def _record_commit(self, sha: str, summary: str, files: list[str], build_output: list[str],
                       notes: list[str] = ()) -> None:
        s = self.state
        s.head_sha = sha
        s.build_output = sorted({*s.build_output, *build_output})
        s.engine_notes = [*s.engine_notes, *notes]
        self._checkpoint(*(ev.Notice(run_id=s.run_id, level="warning", message=note) for note in notes),
                         ev.CycleCommitted(run_id=s.run_id, cycle=s.cycle, sha=sha, branch=s.branch, summary=summary,
                                           files_changed=files, build_output=build_output))

    # ----------------------------------------------------------------- one orchestrator exchange
    async def _exchange(self) -> _Continue | _CycleOver | _Done:
        s = self.state
        uses = self._pending_tool_uses()
        if uses is None:
            if s.exchange >= s.settings.max_exchanges:
                return _CycleOver(s.last_text or f"Cycle {s.cycle} reached its exchange limit.", "exchange limit")
            uses = await self._ask_orchestrator()
        if not uses:
            return _CycleOver(s.last_text or f"Cycle {s.cycle} ended.", "the orchestrator ended its turn")
        done = next((u for u in uses if u.name == DONE_TOOL), None)
        results = await asyncio.gather(*(self._run_tool(u) for u in uses if u is not done))
        if done is not None and isinstance(done.input.get("summary"), str) and "success" in done.input:
            return _Done(done.input["summary"], bool(done.input["success"]))
        if done is not None:
            results.append(tool_result(done.id, "done needs `summary` (string) and `success` (boolean).", True))
        s.messages.append({"role": "user", "content": list(results)})
        self._checkpoint()
        return _Continue()

    def _pending_tool_uses(self) -> list[ToolUse] | None:
        """After a resume: the tool calls of the last orchestrator reply that have no results yet."""
        last = self.state.messages[-1] if self.state.messages else None
        if not last or last["role"] != "assistant":
            return None
        return [ToolUse(id=b["id"], name=b["name"], input=b["input"]) for b in last["content"] if b["type"] == "tool_use"]

    async def _ask_orchestrator(self) -> list[ToolUse]:
        s = self.state

        def on_retry(attempt: int, delay: float, why: str) -> None:
            self._emit(ev.Notice(run_id=s.run_id, message=f"model API: {why}; retry {attempt} in {delay:.1f}s"))

        reply = await self.orchestrator.reply(self._system, s.messages, self._tools, on_retry=on_retry)
        s.add_wait("model", reply.wait_s)
        s.exchange += 1
        s.messages.append({"role": "assistant", "content": reply.content or [{"type": "text", "text": "(no reply)"}]})
        s.last_text = reply.text or s.last_text
        cost = reply.cost_usd if reply.cost_usd is not None else api_cost_usd(self.orchestrator.model, reply.usage)
        s.ledger.add("orchestrator", "api", cost, reply.usage)
        self._checkpoint(
            ev.OrchestratorReplied(
                run_id=s.run_id, cycle=s.cycle, exchange=s.exchange, text=reply.text,
                tool_calls=[u.name for u in reply.tool_uses], usage=reply.usage, cost_usd=cost, wait_s=reply.wait_s,
            )
        )
        return reply.tool_uses

    async def _run_tool(self, use: ToolUse) -> dict[str, Any]:
        agent = use.name.removeprefix(DELEGATE_PREFIX)
        task = use.input.get("task")
        if not use.name.startswith(DELEGATE_PREFIX) or agent not in self._team.agents:
            return tool_result(use.id, f"Unknown tool {use.name!r}. Use the delegate_* tools or done.", True)
        if not isinstance(task, str) or not task.strip():
            return tool_result(use.id, "A delegation needs a non-empty `task` string.", True)
        result = await self._delegate(use.id, agent, task, bool(use.input.get("fresh")))
        return tool_result(use.id, describe_result(result), result.is_error)

    async def _delegate(self, call_id: str, agent: str, task: str, fresh: bool) -> AgentResult:
        s = self.state
        if (done := s.completed_calls.get(call_id)) is not None:
            return done  # finished before an interruption: never run an agent call twice
        self._emit(ev.AgentCallStarted(run_id=s.run_id, cycle=s.cycle, call_id=call_id, agent=agent, task=task, fresh=fresh))
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
        s.ledger.add(agent, "subscription", result.cost_usd, result.usage)
        # Before the checkpoint says the call finished, its files are safe from a lost worktree.
        await asyncio.to_thread(self.workspace.snapshot)
        s.completed_calls[call_id] = result
        self._checkpoint(ev.AgentCallFinished(run_id=s.run_id, cycle=s.cycle, call_id=call_id, result=result))
        return result

    async def _session(self, agent: str, fresh: bool) -> Session:
        if fresh and agent in self._live:
            await self._live.pop(agent).close()
        if fresh:
            self.state.sessions.pop(agent, None)
        if agent not in self._live:
            spec = self._team.agents[agent]
            self._live[agent] = self.factory.open(
                agent=agent, role=agent, system_prompt=f"{role_marker(agent)}\n\n{spec.prompt}", model=spec.model,
                cwd=self.workspace.path, max_turns=spec.max_turns, idle_timeout_s=spec.idle_timeout_s,
                timeout_s=spec.timeout_s, resume=self.state.sessions.get(agent),
            )
        return self._live[agent]

    # ----------------------------------------------------------------- verification
    async def _verify(self, pending: VerificationInProgress) -> None:
        s = self.state
        started = time.monotonic()
        ran = await self.verification.checks(pending.sha, s.settings.check_commands, pending.round,
                                             run_detected=s.settings.default_check)
        checks = ran.results
        s.add_wait("checks", time.monotonic() - started)
        self._tell_detected(checks)
        verdicts: list[Verdict] = []
        if checks:
            self._emit(ev.ChecksFinished(run_id=s.run_id, cycle=s.cycle, round=pending.round, sha=pending.sha,
                                         results=checks, passed=all(c.passed for c in checks)))
        if all(c.passed for c in checks):
            verdicts = await self._run_verifiers(pending, ran.test_commands)
        wall = time.monotonic() - started
        s.add_wait("verification", wall)
        accepted = all(c.passed for c in checks) and all(v.passed for v in verdicts)
        finished = ev.VerificationFinished(run_id=s.run_id, cycle=s.cycle, round=pending.round, sha=pending.sha,
                                           accepted=accepted, checks=checks, verdicts=verdicts, wall_s=wall)
        s.verifying = None
        if accepted:
            s.summaries.append(pending.summary)
            s.cycle_open, s.messages = False, []
            s.finishing = Ending(outcome=Outcome.accepted,
                                 reason=f"verification round {pending.round} accepted {pending.sha[:12]}")
            self._checkpoint(finished)
            return
        s.rejections += 1
        s.rejection = rejection_feedback(checks, verdicts)
        if s.rejections >= s.settings.max_rejections:
            s.finishing = Ending(outcome=Outcome.needs_human, reason=f"verification rejected the work {s.rejections} times",
                                 handoff=self._handoff(pending.summary))
            self._checkpoint(finished)
            return
        self._close_cycle(f"verification round {pending.round} rejected", pending.summary, finished)

    def _tell_detected(self, checks: list) -> None:
        s = self.state
        if s.settings.check_commands or not s.settings.default_check:
            return
        if checks:
            message = f"no check configured: the engine ran the project's test command `{checks[0].command}` itself"
        else:
            message = "no check configured and no test command detected: only the verifiers judge this round"
        self._emit(ev.Notice(run_id=s.run_id, level="info" if checks else "warning", message=message))

    async def _run_verifiers(self, pending: VerificationInProgress, test_commands: list[str]) -> list[Verdict]:
        s = self.state
        verifiers = self._team.verifiers_for(s.goal, ui=s.settings.ui)
        self._emit(ev.VerificationStarted(run_id=s.run_id, cycle=s.cycle, round=pending.round, sha=pending.sha,
                                          verifiers=[v.name for v in verifiers]))

        def recorded(key: str, result: AgentResult, verdict: Verdict) -> None:
            if key in s.completed_calls:
                return  # recorded, and told, before an interruption
            s.completed_calls[key] = result
            s.ledger.add(f"verifier/{result.agent}", "subscription", result.cost_usd, result.usage)
            self._checkpoint(ev.VerdictReceived(run_id=s.run_id, cycle=s.cycle, round=pending.round, sha=pending.sha,
                                                verdict=verdict))

        return await self.verification.verdicts(
            pending.sha, goal=s.goal, summary=pending.summary, round_no=pending.round, verifiers=verifiers,
            test_commands=test_commands, cached=s.completed_calls.get, on_result=recorded,
        )

    # ----------------------------------------------------------------- budgets and the end
    def _elapsed(self) -> float:
        return self._elapsed_at_start + (time.monotonic() - self._clock_start)

    def _over_budget(self) -> _Finish | None:
        s = self.state
        spent = s.ledger.total("api")
        if s.settings.max_cost_usd is not None and spent >= s.settings.max_cost_usd:
            return _Finish(Outcome.budget_exhausted, f"API spend ${spent:.4f} reached the limit ${s.settings.max_cost_usd:.2f}",
                           self._handoff(s.last_text))
        if s.settings.max_minutes is not None and self._elapsed() >= s.settings.max_minutes * 60:
            return _Finish(Outcome.budget_exhausted, f"the run reached its limit of {s.settings.max_minutes:g} minutes",
                           self._handoff(s.last_text))
        return None

    async def _with_time_budget(self, loop) -> _Finish:
        limit = self.state.settings.max_minutes
        if limit is None:
            return await loop
        try:
            return await asyncio.wait_for(loop, timeout=max(0.0, limit * 60 - self._elapsed()))
        except TimeoutError:
            return _Finish(Outcome.budget_exhausted, f"the run reached its limit of {limit:g} minutes",
                           self._handoff(self.state.last_text))

    def _finish(self, finish: _Finish) -> None:
        s = self.state
        if finish.outcome not in (Outcome.accepted, Outcome.interrupted) and self.workspace.has_changes():
            # Nothing is lost: whatever the agents left uncommitted goes onto the branch. (An interrupted
            # run keeps its worktree as it is, and resume carries on from there.)
            self._commit_cycle(f"Work in progress when the run stopped ({finish.outcome.value}): {finish.reason}")
        s.outcome, s.reason = finish.outcome, finish.reason
        s.head_sha = self.workspace.head()
        s.elapsed_s = self._elapsed()
        self._checkpoint(
            ev.RunFinished(
                run_id=s.run_id, outcome=finish.outcome, reason=finish.reason,
                summary=s.summaries[-1] if s.summaries else s.last_text, cycles=s.cycle, rounds=s.rounds,
                cost=s.ledger.report(), duration_s=round(s.elapsed_s, 3), branch=s.branch, head_sha=s.head_sha,
                handoff=finish.handoff, files_changed=self.workspace.files_changed_since(s.base_sha),
                build_output=s.build_output, warnings=self._warnings(),
            )
        )

    def _finish_after_crash(self, exc: Exception) -> None:
        try:
            self._finish(_Finish(Outcome.error, f"internal error: {type(exc).__name__}: {exc}"))
        except Exception:  # noqa: BLE001 - the first failure is the one to report; the lock shows it dead anyway
            log.exception("could not save run %s as failed", self.state.run_id)

    def _warnings(self) -> list[str]:
        settings, warnings = self.state.settings, []
        if not settings.check_commands and not settings.default_check:
            warnings.append("the default check was turned off (--no-default-check): no command run by the engine "
                            "itself backs this result, only the verifiers' word and the evidence they were seen to produce")
        if why := unconfined_reason(settings):
            warnings.append(f"agents ran without the sandbox: {why}")
        return warnings

    def _handoff(self, last_summary: str) -> str:
        s = self.state
        parts = [f"Branch `{s.branch}` holds every cycle's commit ({s.cycle} cycles, {s.rounds} verification rounds)."]
        if last_summary:
            parts.append(f"Last summary:\n{last_summary.strip()}")
        if s.rejection:
            parts.append(f"Last verification findings:\n{s.rejection.strip()}")
        return "\n\n".join(parts)

    async def _close_sessions(self) -> None:
        live, self._live = list(self._live.values()), {}
        for session in live:
            try:
                await session.close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's own outcome
                pass

    # ----------------------------------------------------------------- plumbing
    def _checkpoint(self, *events: ev.Event) -> None:
        """Save the state with the events of the step that changed it, then tell them: after a crash, what the
        log lacks of the last step's events is told by the resume (``launch``), and nothing twice."""
        s = self.state
        s.elapsed_s = self._elapsed()
        s.outbox = [self.bus.number(event) for event in events]
        s.next_seq = self.bus.next_seq
        self.store.save(s)
        for event in s.outbox:
            self.bus.deliver(event)

    def _emit(self, event: ev.Event) -> None:
        self.bus.emit(event)
        self.state.next_seq = self.bus.next_seq

    def _started_event(self) -> ev.RunStarted:
        s = self.state
        return ev.RunStarted(
            run_id=s.run_id, goal_title=s.goal_title, project=s.project, branch=s.branch, worktree=s.worktree,
            team=list(self._team.agents), resumed=self.resumed, max_cycles=s.settings.max_cycles,
            max_cost_usd=s.settings.max_cost_usd, max_minutes=s.settings.max_minutes,
        )
