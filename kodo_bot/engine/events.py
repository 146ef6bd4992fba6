"""Typed events: the one way the engine tells the world what it is doing.

Every step of a run emits one of these to the subscribed sinks: the JSONL log, the terminal view and (later)
the GitHub layer each implement only what they need. The schema is documented in ``docs/events.md``; a test
keeps the two in step. Events are appended to the log in ``seq`` order and are never edited.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from kodo_bot.engine.models import (
    AgentResult,
    Bucket,
    CheckResult,
    CostReport,
    Outcome,
    Steering,
    Usage,
    Verdict,
)

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    #: position in the run's log, assigned by the bus; continues across resumes
    seq: int = 0
    at: datetime = Field(default_factory=_now)

    def __str__(self) -> str:
        """One line, for ``on_event=print``: ``#12 cycle_committed cycle=1 sha='3f2a...' ...``."""
        fields = self.model_dump(exclude={"run_id", "seq", "at", "type"})
        line = f"#{self.seq} {getattr(self, 'type', type(self).__name__)} " + " ".join(
            f"{key}={value!r}" for key, value in fields.items()
        )
        return line if len(line) <= 200 else line[:197] + "..."


class RunStarted(_Event):
    type: Literal["run_started"] = "run_started"
    goal_title: str
    project: str
    branch: str
    worktree: str
    team: list[str]
    resumed: bool = False
    max_cycles: int
    max_cost_usd: float | None = None
    max_minutes: float | None = None


class CycleStarted(_Event):
    type: Literal["cycle_started"] = "cycle_started"
    cycle: int


class OrchestratorReplied(_Event):
    """One exchange with the orchestrator model: what it said and which tools it called."""

    type: Literal["orchestrator_replied"] = "orchestrator_replied"
    cycle: int
    exchange: int
    text: str = ""
    tool_calls: list[str] = Field(default_factory=list)
    usage: Usage = Usage()
    cost_usd: float = 0.0
    #: who pays for it (``api``: per token, counted against ``max_cost_usd``) and whose model it is
    bucket: Bucket = "api"
    provider: str = ""
    wait_s: float = 0.0


class AgentCallStarted(_Event):
    type: Literal["agent_call_started"] = "agent_call_started"
    cycle: int
    call_id: str
    agent: str
    task: str
    fresh: bool = False


class AgentCallFinished(_Event):
    type: Literal["agent_call_finished"] = "agent_call_finished"
    cycle: int
    call_id: str
    result: AgentResult


class CycleCommitted(_Event):
    type: Literal["cycle_committed"] = "cycle_committed"
    cycle: int
    sha: str
    branch: str
    summary: str
    files_changed: list[str] = Field(default_factory=list)
    #: build output and caches in the worktree that the commit left out (``__pycache__/``, ``.venv/`` ...)
    build_output: list[str] = Field(default_factory=list)


class ChecksFinished(_Event):
    type: Literal["checks_finished"] = "checks_finished"
    cycle: int
    round: int
    sha: str
    results: list[CheckResult]
    passed: bool


class VerificationStarted(_Event):
    type: Literal["verification_started"] = "verification_started"
    cycle: int
    round: int
    sha: str
    verifiers: list[str]


class VerdictReceived(_Event):
    type: Literal["verdict_received"] = "verdict_received"
    cycle: int
    round: int
    sha: str
    verdict: Verdict


class VerificationFinished(_Event):
    """A whole verification round: checks, then every verifier. ``accepted`` only if all passed."""

    type: Literal["verification_finished"] = "verification_finished"
    cycle: int
    round: int
    sha: str
    accepted: bool
    checks: list[CheckResult] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)
    wall_s: float = 0.0


class SteeringTaken(_Event):
    """Input from people (``EventSink.steering``) that the run took; the next cycle starts with it."""

    type: Literal["steering_taken"] = "steering_taken"
    cycle: int
    steering: list[Steering]


class CycleEnded(_Event):
    type: Literal["cycle_ended"] = "cycle_ended"
    cycle: int
    reason: str
    summary: str


class Notice(_Event):
    """Something a person should see that is not a step: a warning, an agent left out, a retry."""

    type: Literal["notice"] = "notice"
    level: Literal["info", "warning", "error"] = "warning"
    message: str


class RunFinished(_Event):
    type: Literal["run_finished"] = "run_finished"
    outcome: Outcome
    reason: str
    summary: str = ""
    cycles: int
    rounds: int
    cost: CostReport
    duration_s: float
    branch: str
    head_sha: str | None = None
    #: for a person taking over: what is done, what is left, the last findings
    handoff: str = ""
    files_changed: list[str] = Field(default_factory=list)
    #: build output and caches the cycle commits left out, over the whole run
    build_output: list[str] = Field(default_factory=list)
    #: what a person should know about how the result was reached (e.g. the default check was turned off)
    warnings: list[str] = Field(default_factory=list)


Event = Annotated[
    RunStarted
    | CycleStarted
    | OrchestratorReplied
    | AgentCallStarted
    | AgentCallFinished
    | CycleCommitted
    | ChecksFinished
    | VerificationStarted
    | VerdictReceived
    | VerificationFinished
    | SteeringTaken
    | CycleEnded
    | Notice
    | RunFinished,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(line: str | bytes) -> Event:
    """One JSONL line back into its typed event."""
    return EVENT_ADAPTER.validate_json(line)


class EventSink:
    """Receives every event of a run. Override what you need; every method has a do-nothing default.

    A sink must not block for long: the engine calls it inline. A sink that raises is logged and skipped,
    never allowed to break the run.
    """

    def handle(self, event: Event) -> None:
        pass

    def stop_requested(self) -> str | None:
        """Polled at each cycle end: a reason to stop the run there (e.g. "the issue was closed"), or None."""
        return None

    def steering(self) -> list[Steering]:
        """Polled at each cycle boundary, and before an accepted run ends: input from people that arrived
        during the run. Offer it until the run's ``SteeringTaken`` event names it, so a crash loses none."""
        return []

    def close(self) -> None:
        pass


class EventBus:
    """Numbers events and fans them out to sinks, isolating the run from sink failures."""

    def __init__(self, sinks: list[EventSink] | None = None, *, next_seq: int = 1) -> None:
        self.sinks: list[EventSink] = list(sinks or [])
        self._next_seq = next_seq

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def emit(self, event: Event) -> Event:
        return self.deliver(self.number(event))

    def number(self, event: Event) -> Event:
        """Give the event the next ``seq`` without telling anyone yet (the run saves it in its checkpoint
        first, so a crash cannot lose or repeat it)."""
        event = event.model_copy(update={"seq": self._next_seq})
        self._next_seq += 1
        return event

    def deliver(self, event: Event) -> Event:
        """Hand an already numbered event to every sink."""
        for sink in self.sinks:
            try:
                sink.handle(event)
            except Exception:
                log.exception("event sink %s failed on %s", type(sink).__name__, event.type)
        return event

    def stop_requested(self) -> str | None:
        for sink in self.sinks:
            try:
                reason = sink.stop_requested()
            except Exception:
                log.exception("event sink %s failed in stop_requested", type(sink).__name__)
                continue
            if reason:
                return reason
        return None

    def steering(self) -> list[Steering]:
        taken: dict[str, Steering] = {}
        for sink in self.sinks:
            try:
                offered = sink.steering()
            except Exception:
                log.exception("event sink %s failed in steering", type(sink).__name__)
                continue
            taken.update((s.id, s) for s in offered if s.id not in taken)
        return list(taken.values())

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("event sink %s failed to close", type(sink).__name__)
