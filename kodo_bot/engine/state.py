"""A run's durable state, and where runs live on disk.

``<state_dir>/runs/<run-id>/state.json`` is rewritten atomically after every orchestrator step and every
finished agent call, so ``kodo-bot resume`` after Ctrl-C, kill -9 or a crash restores the orchestrator's
conversation, the agents' session ids and every completed agent result: nothing finished is run again.
Next to it: ``events.jsonl`` (the event log), ``lock`` (held by the process working on the run) and
``claude/`` (the agents' Claude Code config and sessions).

Each write is one whole state transition: what the step decided (the run's ending included, in
``finishing``) and the events it tells (``outbox``) are saved together, so a crash between two writes
resumes to the same place. ``CrashAt`` kills the process at a chosen write, to prove it.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from kodo_bot.confine import sandbox_problem
from kodo_bot.engine.events import Event
from kodo_bot.engine.ledger import Ledger
from kodo_bot.engine.models import DEFAULT_ORCHESTRATOR_MODEL, AgentResult, Outcome, ReviewPoint, Steering
from kodo_bot.engine.orchestrator_choice import DEFAULT_MODELS, OrchestratorKind
from kodo_bot.engine.team import Team
from kodo_bot.errors import UserError
from kodo_bot.redact import redact


class RunSettings(BaseModel):
    """Limits and choices fixed when the run starts (a resume may raise the limits)."""

    max_cycles: int = Field(default=10, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_minutes: float | None = Field(default=None, gt=0)
    #: orchestrator model calls allowed within one cycle before the cycle is closed
    max_exchanges: int = Field(default=30, ge=1)
    #: verification rounds that may reject before the run goes to a person
    max_rejections: int = Field(default=5, ge=1)
    #: who directs the team (``orchestrator_choice``); its model is ``orchestrator_model``, which defaults to
    #: the kind's own default when only the kind is given
    orchestrator_kind: OrchestratorKind = "api:anthropic"
    orchestrator_model: str = DEFAULT_ORCHESTRATOR_MODEL
    check_commands: list[str] = Field(default_factory=list)
    #: with no check_commands, run the project's detected test command as a check (``--no-default-check``)
    default_check: bool = True
    check_timeout_s: float = 1800
    #: True/False forces UI verifiers on/off; None decides from the goal text
    ui: bool | None = None
    #: confine agents and checks with bubblewrap (``sandbox: off`` in the team file or .github/kodo.yml)
    sandbox: bool = True
    #: environment variables (names) agents and checks may see beyond the built-in allowlist
    agent_env: list[str] = Field(default_factory=list)
    team: Team

    @model_validator(mode="before")
    @classmethod
    def _kinds_own_model(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("orchestrator_kind") and not data.get("orchestrator_model"):
            data = {**data, "orchestrator_model": DEFAULT_MODELS.get(data["orchestrator_kind"])}
        return data

    @property
    def orchestrator(self) -> str:
        """The choice as it is spelled everywhere: ``api:gemini:gemini-2.5-flash``."""
        return f"{self.orchestrator_kind}:{self.orchestrator_model}"


def unconfined_reason(settings: RunSettings) -> str | None:
    """Why agents and checks of a run with these settings are not sandboxed, or None when they are."""
    if not settings.sandbox:
        return "the sandbox is off (`sandbox: off`)"
    return sandbox_problem()


class VerificationInProgress(BaseModel):
    sha: str
    summary: str
    round: int


class Ending(BaseModel):
    """How the run will end, decided but not yet carried out (the last commit, the final event)."""

    outcome: Outcome
    reason: str
    handoff: str = ""


class RunState(BaseModel):
    run_id: str
    created_at: datetime
    goal: str
    goal_title: str
    project: str
    worktree: str
    branch: str
    base_sha: str
    settings: RunSettings

    outcome: Outcome | None = None
    reason: str = ""
    cycle: int = 0
    cycle_open: bool = False
    exchange: int = 0
    #: the orchestrator's conversation in the current cycle (Anthropic message dicts)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    #: results of agent calls finished in the current cycle, by tool_use id (or verify:<round>:<agent>)
    completed_calls: dict[str, AgentResult] = Field(default_factory=dict)
    #: each agent's backend session id, so a resumed run continues their conversations
    sessions: dict[str, str] = Field(default_factory=dict)
    summaries: list[str] = Field(default_factory=list)
    last_text: str = ""
    rejection: str | None = None
    rounds: int = 0
    rejections: int = 0
    verifying: VerificationInProgress | None = None
    head_sha: str | None = None
    #: what the engine undid or withheld since the last cycle began (told to the next cycle, then cleared)
    engine_notes: list[str] = Field(default_factory=list)
    #: what people asked of the work (review comments, CI failures): every verifier answers each one
    review_points: list[ReviewPoint] = Field(default_factory=list)
    #: input from people taken at the last cycle boundary, told to the next cycle, then cleared
    steering: list[Steering] = Field(default_factory=list)
    #: ids of all the steering the run took, so none is taken twice (a sink may offer it again after a resume)
    steering_taken: list[str] = Field(default_factory=list)
    #: build output and caches the cycle commits left out, so far
    build_output: list[str] = Field(default_factory=list)
    ledger: Ledger = Field(default_factory=Ledger)
    #: seconds the run has been active, across resumes (what --max-minutes limits)
    elapsed_s: float = 0.0
    #: seconds spent waiting on the model, on agents and on verification (the rest is engine overhead)
    waits: dict[str, float] = Field(default_factory=dict)
    next_seq: int = 1
    left_out: list[str] = Field(default_factory=list)
    #: set in the same write as the step that decided the run is over; a resume carries it out
    finishing: Ending | None = None
    #: the events of the last transition, numbered; a resume delivers those the log does not have
    outbox: list[Event] = Field(default_factory=list)

    @property
    def resumable(self) -> bool:
        return self.outcome is None or self.outcome in (Outcome.interrupted, Outcome.error)

    def add_wait(self, kind: str, seconds: float) -> None:
        self.waits[kind] = self.waits.get(kind, 0.0) + seconds


class CorruptCheckpoint(UserError):
    """A run's state.json cannot be read back (truncated, not JSON, not a run)."""


@dataclass(frozen=True)
class Listed:
    """One run directory as ``RunStore.scan`` found it: its state, or why it has none."""

    run_id: str
    state: RunState | None
    problem: str = ""


class Crashed(BaseException):
    """An in-process stand-in for SIGKILL (``CrashAt(kill=False)``). A BaseException, so no ``except Exception``
    in the run saves anything on its way out, as nothing would after a real kill."""


@dataclass(frozen=True)
class CrashAt:
    """Test-only, but real: SIGKILL this process at its ``save``-th checkpoint write (counted from 1), just
    after the new checkpoint is in place, or just before it is written (``before=True``). With
    ``kill=False`` it raises ``Crashed`` instead, so a test can crash a run at every write in one process."""

    save: int
    before: bool = False
    kill: bool = True

    def __call__(self, count: int, *, written: bool) -> None:
        # In process, a task already under way when the run "died" (a sibling verifier whose answer came in the
        # same instant) may still reach a checkpoint: it crashes too, as nothing is written after a real kill.
        if count > self.save or (count == self.save and written != self.before):
            if not self.kill:
                raise Crashed(f"crashed {'before' if self.before else 'after'} checkpoint write {count}")
            os.kill(os.getpid(), signal.SIGKILL)


class RunStore:
    """The runs under one state directory (default ``<project>/.kodo``)."""

    def __init__(self, state_dir: Path, *, crash: CrashAt | None = None) -> None:
        self.state_dir = state_dir
        self.runs_dir = state_dir / "runs"
        self.crash = crash
        self.saves = 0
        #: values masked in every checkpoint written (the credentials the entry point read), like the event log
        self.secrets: tuple[str, ...] = ()

    def new_run_id(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{secrets.token_hex(2)}"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def worktree_dir(self, run_id: str) -> Path:
        return self.state_dir / "worktrees" / run_id

    def scratch_dir(self, run_id: str) -> Path:
        """Throw-away checkouts for checks and verifiers."""
        return self.state_dir / "scratch" / run_id

    def events_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "events.jsonl"

    def save(self, state: RunState) -> None:
        self.saves += 1
        if self.crash:
            self.crash(self.saves, written=False)
        path = self.run_dir(state.run_id) / "state.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(redact(state.model_dump_json(indent=1), self.secrets))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic: a kill -9 leaves either the old or the new checkpoint
        if self.crash:
            self.crash(self.saves, written=True)

    def load(self, run_id: str) -> RunState:
        path = self.run_dir(run_id) / "state.json"
        if not path.exists():
            known = [s.run_id for s in self.scan()][-5:]
            raise UserError(
                f"no run {run_id!r} under {self.runs_dir}",
                hint=f"known runs: {', '.join(known)}" if known else "no runs yet: start one with `kodo-bot run`",
            )
        return self._read(path)

    def _read(self, path: Path) -> RunState:
        try:
            return RunState.model_validate_json(path.read_bytes())
        except ValidationError as exc:  # bad JSON, a truncated file and a wrong shape alike
            err = exc.errors()[0]
            where = ".".join(map(str, err["loc"]))
            raise CorruptCheckpoint(
                f"the checkpoint of run {path.parent.name} is corrupt: {where + ': ' if where else ''}{err['msg']} "
                f"({path})",
                hint=f"it cannot be resumed or reported; its branch keeps every committed cycle. Move {path.parent} "
                "away to stop seeing this.",
            ) from None

    def scan(self) -> list[Listed]:
        """Every run directory with a checkpoint, oldest first; a corrupt one is listed with its problem."""
        if not self.runs_dir.is_dir():
            return []
        found = []
        for d in sorted(self.runs_dir.iterdir()):
            if (d / "state.json").exists():
                try:
                    found.append(Listed(d.name, self._read(d / "state.json")))
                except CorruptCheckpoint as exc:
                    found.append(Listed(d.name, None, str(exc)))
        return found

    def list(self) -> list[RunState]:
        """The runs that can be read (see ``scan`` for the corrupt ones too)."""
        return [x.state for x in self.scan() if x.state is not None]

    def latest_resumable(self, *, limit_stops: bool = False) -> RunState:
        """The newest run that can go on; with ``limit_stops`` (limits are being raised), a run stopped at
        ``max_cycles`` or ``budget_exhausted`` counts too. A corrupt checkpoint newer than it is an error, not
        skipped: the person meant that run, most likely."""
        for listed in reversed(self.scan()):
            if listed.state is None:
                raise CorruptCheckpoint(
                    listed.problem, hint=f"resume another run by its id, or move {self.run_dir(listed.run_id)} away"
                )
            stopped = listed.state.outcome in (Outcome.max_cycles, Outcome.budget_exhausted)
            if listed.state.resumable or (limit_stops and stopped):
                return listed.state
        raise UserError(f"no interrupted run to resume under {self.runs_dir}", hint="see `kodo-bot runs`")

    def lock_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "lock"

    def is_live(self, run_id: str) -> bool:
        """Whether a process holds the run's lock (``launch.RunLock``). The OS drops the lock with its holder,
        however it died, so an unheld lock means nothing is working on the run."""
        try:
            fh = open(self.lock_path(run_id), "rb")
        except FileNotFoundError:
            return False
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    def as_seen(self, state: RunState) -> RunState:
        """The run as a reader should see it: one with no outcome that no process holds died without saving
        (kill -9, a crash, a lost machine), so it is interrupted, not running. Nothing is written."""
        if state.outcome is not None or self.is_live(state.run_id):
            return state
        return state.model_copy(
            update={
                "outcome": Outcome.interrupted,
                "reason": "the process working on it ended without saving (killed or crashed); continue with "
                "`kodo-bot resume`",
            }
        )
