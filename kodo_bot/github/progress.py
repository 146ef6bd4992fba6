"""What the progress comment shows, folded from the engine's events: ``apply(state, event) -> state``.

The GitHub sink keeps one :class:`ProgressState`, folds every event into it and, when
:func:`should_publish` says so, renders it (``render.render_progress``) and edits the comment. Because the
state is a pure fold over the event log, a run resumed on another runner rebuilds the same comment by
replaying its log; events already seen (by ``seq``) are skipped, so replaying twice changes nothing.

Not here: the clock (callers pass ``now``), rendering, or talking to GitHub.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import CostReport, Outcome

Phase = Literal["starting", "planning", "working", "checking", "verifying", "accepted", "finished"]

#: how much of the orchestrator's latest text the comment keeps ("the plan as it forms")
PLAN_MAX_CHARS = 3_000
_MAX_NOTICES = 5


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgentActivity(_Frozen):
    call_id: str
    agent: str
    task: str = ""


class VerdictLine(_Frozen):
    round: int
    verifier: str
    passed: bool
    summary: str = ""


class RoundLine(_Frozen):
    round: int
    cycle: int
    sha: str
    #: None while the round is still running
    accepted: bool | None = None
    checks_passed: bool | None = None


class ProgressState(_Frozen):
    run_id: str
    #: the lease claim this run won (``lease.claim_ref``); 0 before claims existed
    claim: int = 0
    issue_number: int | None = None
    #: the Actions run's page, when running in Actions
    job_url: str | None = None
    goal_title: str = ""
    branch: str = ""
    resumed: bool = False
    started_at: datetime | None = None
    max_cycles: int | None = None
    max_cost_usd: float | None = None
    phase: Phase = "starting"
    cycle: int = 0
    plan: str = ""
    active: tuple[AgentActivity, ...] = ()
    #: verifiers asked in the current round that have not answered yet
    verifying: tuple[str, ...] = ()
    verdicts: tuple[VerdictLine, ...] = ()
    rounds: tuple[RoundLine, ...] = ()
    commits: int = 0
    head_sha: str | None = None
    #: API and subscription spend together, as reported so far; the exact split arrives with RunFinished
    cost_usd: float = 0.0
    notices: tuple[str, ...] = ()
    #: time of the last event: proof of life even when no comment edit was due
    heartbeat: datetime | None = None
    last_seq: int = 0
    outcome: Outcome | None = None
    outcome_reason: str = ""
    final_cost: CostReport | None = None
    #: feedback from people the run took in while it was live (``SteeringTaken``), by id
    taken: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        return self.outcome is not None


def initial_state(run_id: str, *, issue_number: int | None = None, job_url: str | None = None) -> ProgressState:
    return ProgressState(run_id=run_id, issue_number=issue_number, job_url=job_url)


def apply(state: ProgressState, event: ev.Event) -> ProgressState:
    """The state after ``event``. Events already folded in (``seq`` not above ``last_seq``) change nothing."""
    if event.seq and event.seq <= state.last_seq:
        return state
    update = _changes(state, event)
    update["heartbeat"] = event.at
    if event.seq:
        update["last_seq"] = event.seq
    return state.model_copy(update=update)


# Long by nature: one match arm per event type, so each event's effect on the state is read in one place.
def _changes(s: ProgressState, e: ev.Event) -> dict[str, Any]:
    match e:
        case ev.RunStarted():
            return {
                "goal_title": e.goal_title,
                "branch": e.branch,
                "resumed": e.resumed,
                "started_at": s.started_at or e.at,
                "max_cycles": e.max_cycles,
                "max_cost_usd": e.max_cost_usd,
                "phase": "planning",
            }
        case ev.CycleStarted():
            return {"cycle": e.cycle, "phase": "planning", "active": ()}
        case ev.OrchestratorReplied():
            plan = e.text.strip()[-PLAN_MAX_CHARS:] if e.text.strip() else s.plan
            return {"plan": plan, "cost_usd": s.cost_usd + e.cost_usd, "cycle": max(s.cycle, e.cycle)}
        case ev.AgentCallStarted():
            activity = AgentActivity(call_id=e.call_id, agent=e.agent, task=e.task)
            return {"active": (*s.active, activity), "phase": "working"}
        case ev.AgentCallFinished():
            active = tuple(a for a in s.active if a.call_id != e.call_id)
            return {"active": active, "cost_usd": s.cost_usd + e.result.cost_usd}
        case ev.CycleCommitted():
            return {"commits": s.commits + 1, "head_sha": e.sha, "branch": e.branch or s.branch}
        case ev.ChecksFinished():
            return {
                "rounds": _upsert_round(s.rounds, e.round, e.cycle, e.sha, checks_passed=e.passed),
                "phase": "checking",
            }
        case ev.VerificationStarted():
            return {
                "rounds": _upsert_round(s.rounds, e.round, e.cycle, e.sha),
                "phase": "verifying",
                "verifying": tuple(e.verifiers),
                "active": (),
            }
        case ev.VerdictReceived():
            v = e.verdict
            line = VerdictLine(round=e.round, verifier=v.verifier, passed=v.passed, summary=v.summary)
            return {
                "verdicts": (*s.verdicts, line),
                "cost_usd": s.cost_usd + v.cost_usd,
                "verifying": tuple(n for n in s.verifying if n != v.verifier),
            }
        case ev.VerificationFinished():
            rounds = _upsert_round(s.rounds, e.round, e.cycle, e.sha, accepted=e.accepted)
            # rejected: the findings go back to the orchestrator; accepted: the run is ending
            return {"rounds": rounds, "verifying": (), "phase": "accepted" if e.accepted else "planning"}
        case ev.CycleEnded():
            return {"active": (), "phase": "planning"}
        case ev.SteeringTaken():
            ids = tuple(x.id for x in e.steering)
            told = f"took in new input from people for cycle {e.cycle}: {', '.join(ids)}"
            return {"taken": (*s.taken, *ids), "notices": (*s.notices, told)[-_MAX_NOTICES:]}
        case ev.Notice():
            if e.level == "info":
                return {}
            return {"notices": (*s.notices, f"{e.level}: {e.message}")[-_MAX_NOTICES:]}
        case ev.RunFinished():
            return {
                "phase": "finished",
                "outcome": e.outcome,
                "outcome_reason": e.reason,
                "final_cost": e.cost,
                "cost_usd": e.cost.api_usd + e.cost.subscription_usd,
                "cycle": e.cycles,
                "head_sha": e.head_sha or s.head_sha,
                "active": (),
                "verifying": (),
            }
    return {}


def _upsert_round(
    rounds: tuple[RoundLine, ...], number: int, cycle: int, sha: str, **fields: bool
) -> tuple[RoundLine, ...]:
    for i, r in enumerate(rounds):
        if r.round == number:
            return (*rounds[:i], r.model_copy(update={"sha": sha, **fields}), *rounds[i + 1 :])
    return (*rounds, RoundLine(round=number, cycle=cycle, sha=sha, **fields))


#: events after which the comment is always edited, however recent the last edit (the spec's "always one
#: at each cycle end and at the end"; a verification round's result is worth showing at once too)
_ALWAYS = (ev.RunStarted, ev.CycleEnded, ev.VerificationFinished, ev.RunFinished)


def should_publish(
    event: ev.Event | None, *, last_published: datetime | None, now: datetime, min_interval_s: float
) -> bool:
    """Whether to edit the progress comment now. Coalesces edits to one per ``min_interval_s``.

    Call it after every event, and with ``event=None`` from a heartbeat timer: a skipped edit stays pending
    in the state and goes out with the next call that returns True, so nothing is lost, only merged.
    """
    if last_published is None or isinstance(event, _ALWAYS):
        return True
    return (now - last_published).total_seconds() >= min_interval_s
