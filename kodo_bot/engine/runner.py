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
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from kodo_bot.engine import commands, secret_scan
from kodo_bot.engine import events as ev
from kodo_bot.engine.cycle_commit import CycleCommit
from kodo_bot.engine.delegation import Delegation
from kodo_bot.engine.journal import Journal
from kodo_bot.engine.ledger import api_cost_usd
from kodo_bot.engine.models import Outcome
from kodo_bot.engine.orchestrator import DONE_TOOL, cycle_seed, system_prompt, tool_result, tools
from kodo_bot.engine.ports import Orchestrator, SessionFactory, ToolUse
from kodo_bot.engine.state import Ending, RunState, RunStore, VerificationInProgress, unconfined_reason
from kodo_bot.engine.verdict import rejection_feedback
from kodo_bot.engine.verification import Verification
from kodo_bot.engine.verify_round import VerifyRound
from kodo_bot.engine.workspace import RunWorkspace
from kodo_bot.errors import KodoError, ModelAPIError

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
    """The loop and the run's end. Its steps' work is done by the parts it holds: ``Delegation`` (agent
    calls), ``CycleCommit`` (the cycle's commit), ``VerifyRound`` (checks and verifiers), all writing
    through one ``Journal``."""

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
        self.state, self.workspace, self.orchestrator, self.bus = state, workspace, orchestrator, bus
        self.resumed = resumed
        self._team = state.settings.team
        self._system = system_prompt(self._team)
        self._tools = tools(self._team)
        self.journal = Journal(state, store, bus)
        self._checkpoint, self._emit, self._elapsed = self.journal.checkpoint, self.journal.emit, self.journal.elapsed
        self.delegation = Delegation(
            self.journal, team=self._team, factory=factory, workspace=workspace, on_start=self._agent_started
        )
        self._commit_cycle = CycleCommit(self.journal, workspace)
        self._verify_round = VerifyRound(self.journal, verification, self._team)

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
            await self.delegation.close()
            await self._verify_round.verification.discard()
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
                # the round's checkouts take the commit while it is recorded
                ready = (lambda sha: self._verify_round.get_ready(s.rounds + 1, sha)) if step.success else None
                commit = self._commit_cycle(step.summary, ready)
                if not step.success:
                    s.summaries.append(step.summary)  # the run's summary is what it gave up with
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
            # people who ask for more before an accepted run ends get it, while the cycle limit allows
            room = s.finishing.outcome is Outcome.accepted and s.cycle < s.settings.max_cycles
            if room and self._take_steering():
                return None
            return _Finish(s.finishing.outcome, s.finishing.reason, s.finishing.handoff)
        if s.verifying is not None or s.cycle_open:
            return None
        last = s.summaries[-1] if s.summaries else ""
        if s.cycle and (stop := self.bus.stop_requested()):
            return _Finish(Outcome.stopped, stop, self._handoff(last))
        if s.cycle >= s.settings.max_cycles:
            return _Finish(
                Outcome.max_cycles, f"reached the limit of {s.settings.max_cycles} cycles", self._handoff(last)
            )
        self._take_steering()
        return None

    def _take_steering(self) -> bool:
        """Input from people that the sinks offer and the run has not taken, saved for the next cycle's first
        message; its review points join the run's, so verification answers them too. Called between cycles
        only, or when the run would end accepted, which it then no longer does (in the same write)."""
        s = self.state
        new = [x for x in self.bus.steering() if x.id not in s.steering_taken]
        if not new:
            return False
        s.steering += new
        s.steering_taken += [x.id for x in new]
        known = {p.id for p in s.review_points}
        s.review_points += [p for x in new for p in x.points if p.id not in known]
        s.finishing = None
        self._checkpoint(ev.SteeringTaken(run_id=s.run_id, cycle=s.cycle + 1, steering=new))
        return True

    def _agent_started(self) -> None:
        # An agent's CLI is up and its model is about to think: the next round's verifiers start now, each
        # CLI after the other, rather than beside the orchestrator's last request, where a loaded machine can
        # leave them still starting (and the commit waiting for CPU) when "done" comes. The secret scan that
        # the agent's snapshot runs first loads too, and the shell parser that judging a verdict needs: loaded
        # as the run starts, it held the interpreter while the first orchestrator request was being sent.
        self._verify_round.get_ready(self.state.rounds + 1)
        secret_scan.warm_up()
        commands.warm()

    # ----------------------------------------------------------------- cycles
    def _open_cycle(self) -> None:
        s = self.state
        s.cycle += 1
        s.cycle_open, s.exchange, s.completed_calls = True, 0, {}
        previous = s.summaries[-1] if s.summaries else None
        seed = cycle_seed(
            s.goal,
            cycle=s.cycle,
            max_cycles=s.settings.max_cycles,
            previous=previous,
            rejection=s.rejection,
            notes=s.engine_notes,
            steering=s.steering,
        )
        s.messages, s.engine_notes, s.steering = [{"role": "user", "content": seed}], [], []
        self._checkpoint(ev.CycleStarted(run_id=s.run_id, cycle=s.cycle))

    def _close_cycle(self, reason: str, summary: str, *events: ev.Event) -> None:
        s = self.state
        s.summaries.append(summary)
        s.cycle_open, s.messages = False, []
        self._checkpoint(*events, ev.CycleEnded(run_id=s.run_id, cycle=s.cycle, reason=reason, summary=summary))

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
        results = await asyncio.gather(*(self.delegation.run_tool(u) for u in uses if u is not done))
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
        return [
            ToolUse(id=b["id"], name=b["name"], input=b["input"]) for b in last["content"] if b["type"] == "tool_use"
        ]

    async def _ask_orchestrator(self) -> list[ToolUse]:
        s = self.state

        def on_retry(attempt: int, delay: float, why: str) -> None:
            self._emit(ev.Notice(run_id=s.run_id, message=f"model API: {why}; retry {attempt} in {delay:.1f}s"))

        # While it thinks (once the request is under way): the agents' backend loads, and, when it has results to
        # judge and so may say done, the next round's verifiers get ready.
        asyncio.get_running_loop().call_soon(self.delegation.warm_up)
        if s.exchange:
            self._verify_round.get_ready(s.rounds + 1)
        reply = await self.orchestrator.reply(self._system, s.messages, self._tools, on_retry=on_retry)
        s.add_wait("model", reply.wait_s)
        s.exchange += 1
        s.messages.append({"role": "assistant", "content": reply.content or [{"type": "text", "text": "(no reply)"}]})
        s.last_text = reply.text or s.last_text
        cost = reply.cost_usd if reply.cost_usd is not None else api_cost_usd(self.orchestrator.model, reply.usage)
        s.ledger.add("orchestrator", reply.bucket, cost, reply.usage, provider=reply.provider)
        self._checkpoint(
            ev.OrchestratorReplied(
                run_id=s.run_id,
                cycle=s.cycle,
                exchange=s.exchange,
                text=reply.text,
                tool_calls=[u.name for u in reply.tool_uses],
                usage=reply.usage,
                cost_usd=cost,
                bucket=reply.bucket,
                provider=reply.provider,
                wait_s=reply.wait_s,
            )
        )
        return reply.tool_uses

    # ----------------------------------------------------------------- verification
    async def _verify(self, pending: VerificationInProgress) -> None:
        """One verification round, and what it means: the end (accepted, or a person after too many
        rejections, saved in ``finishing``) or the next cycle, which opens with the findings."""
        s = self.state
        finished = await self._verify_round(pending)
        s.verifying = None
        if finished.accepted:
            s.summaries.append(pending.summary)
            s.cycle_open, s.messages = False, []
            s.finishing = Ending(
                outcome=Outcome.accepted, reason=f"verification round {pending.round} accepted {pending.sha[:12]}"
            )
            self._checkpoint(finished)
            return
        s.rejections += 1
        s.rejection = rejection_feedback(finished.checks, finished.verdicts)
        if s.rejections >= s.settings.max_rejections:
            s.summaries.append(pending.summary)
            s.cycle_open, s.messages = False, []
            s.finishing = Ending(
                outcome=Outcome.needs_human,
                reason=f"verification rejected the work {s.rejections} times",
                handoff=self._handoff(pending.summary),
            )
            self._checkpoint(finished)
            return
        self._close_cycle(f"verification round {pending.round} rejected", pending.summary, finished)

    # ----------------------------------------------------------------- budgets and the end
    def _over_budget(self) -> _Finish | None:
        s = self.state
        spent = s.ledger.total("api")
        if s.settings.max_cost_usd is not None and spent >= s.settings.max_cost_usd:
            return _Finish(
                Outcome.budget_exhausted,
                f"API spend ${spent:.4f} reached the limit ${s.settings.max_cost_usd:.2f}",
                self._handoff(s.last_text),
            )
        if s.settings.max_minutes is not None and self._elapsed() >= s.settings.max_minutes * 60:
            return _Finish(
                Outcome.budget_exhausted,
                f"the run reached its limit of {s.settings.max_minutes:g} minutes",
                self._handoff(s.last_text),
            )
        return None

    async def _with_time_budget(self, loop: Coroutine[Any, Any, _Finish]) -> _Finish:
        limit = self.state.settings.max_minutes
        if limit is None:
            return await loop
        try:
            return await asyncio.wait_for(loop, timeout=max(0.0, limit * 60 - self._elapsed()))
        except TimeoutError:
            return _Finish(
                Outcome.budget_exhausted,
                f"the run reached its limit of {limit:g} minutes",
                self._handoff(self.state.last_text),
            )

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
                run_id=s.run_id,
                outcome=finish.outcome,
                reason=finish.reason,
                summary=s.summaries[-1] if s.summaries else s.last_text,
                cycles=s.cycle,
                rounds=s.rounds,
                cost=s.ledger.report(),
                duration_s=round(s.elapsed_s, 3),
                branch=s.branch,
                head_sha=s.head_sha,
                handoff=finish.handoff,
                files_changed=self.workspace.files_changed_since(s.base_sha),
                build_output=s.build_output,
                warnings=self._warnings(),
            )
        )

    def _finish_after_crash(self, exc: Exception) -> None:
        try:
            self._finish(_Finish(Outcome.error, f"internal error: {type(exc).__name__}: {exc}"))
        except Exception:
            log.exception("could not save run %s as failed", self.state.run_id)

    def _warnings(self) -> list[str]:
        settings, warnings = self.state.settings, []
        if not settings.check_commands and not settings.default_check:
            warnings.append(
                "the default check was turned off (--no-default-check): no command run by the engine "
                "itself backs this result, only the verifiers' word and the evidence they were seen to produce"
            )
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

    def _started_event(self) -> ev.RunStarted:
        s = self.state
        return ev.RunStarted(
            run_id=s.run_id,
            goal_title=s.goal_title,
            project=s.project,
            branch=s.branch,
            worktree=s.worktree,
            team=list(self._team.agents),
            resumed=self.resumed,
            max_cycles=s.settings.max_cycles,
            max_cost_usd=s.settings.max_cost_usd,
            max_minutes=s.settings.max_minutes,
        )
