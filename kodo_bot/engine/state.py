"""A run's durable state, and where runs live on disk.

``<state_dir>/runs/<run-id>/state.json`` is rewritten atomically after every orchestrator step and every
finished agent call, so ``kodo-bot resume`` after Ctrl-C, kill -9 or a crash restores the orchestrator's
conversation, the agents' session ids and every completed agent result: nothing finished is run again.
Next to it: ``events.jsonl`` (the event log) and ``claude/`` (the agents' Claude Code config and sessions).
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from kodo_bot.engine.ledger import Ledger
from kodo_bot.engine.models import AgentResult, Outcome
from kodo_bot.engine.team import Team
from kodo_bot.errors import UserError


class RunSettings(BaseModel):
    """Limits and choices fixed when the run starts (a resume may raise the limits)."""

    max_cycles: int = Field(default=10, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_minutes: float | None = Field(default=None, gt=0)
    #: orchestrator model calls allowed within one cycle before the cycle is closed
    max_exchanges: int = Field(default=30, ge=1)
    #: verification rounds that may reject before the run goes to a person
    max_rejections: int = Field(default=5, ge=1)
    orchestrator_model: str = "claude-sonnet-5-5"
    check_commands: list[str] = Field(default_factory=list)
    #: with no check_commands, run the project's detected test command as a check (``--no-default-check``)
    default_check: bool = True
    check_timeout_s: float = 1800
    #: True/False forces UI verifiers on/off; None decides from the goal text
    ui: bool | None = None
    team: Team


class VerificationInProgress(BaseModel):
    sha: str
    summary: str
    round: int


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
    #: build output and caches the cycle commits left out, so far
    build_output: list[str] = Field(default_factory=list)
    ledger: Ledger = Field(default_factory=Ledger)
    #: seconds the run has been active, across resumes (what --max-minutes limits)
    elapsed_s: float = 0.0
    #: seconds spent waiting on the model, on agents and on verification (the rest is engine overhead)
    waits: dict[str, float] = Field(default_factory=dict)
    next_seq: int = 1
    left_out: list[str] = Field(default_factory=list)

    @property
    def resumable(self) -> bool:
        return self.outcome is None or self.outcome in (Outcome.interrupted, Outcome.error)

    def add_wait(self, kind: str, seconds: float) -> None:
        self.waits[kind] = self.waits.get(kind, 0.0) + seconds


class RunStore:
    """The runs under one state directory (default ``<project>/.kodo``)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.runs_dir = state_dir / "runs"

    def new_run_id(self) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
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
        path = self.run_dir(state.run_id) / "state.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(state.model_dump_json(indent=1))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic: a kill -9 leaves either the old or the new checkpoint

    def load(self, run_id: str) -> RunState:
        path = self.run_dir(run_id) / "state.json"
        if not path.exists():
            known = [s.run_id for s in self.list()][-5:]
            raise UserError(
                f"no run {run_id!r} under {self.runs_dir}",
                hint=f"known runs: {', '.join(known)}" if known else "no runs yet: start one with `kodo-bot run`",
            )
        return RunState.model_validate_json(path.read_text(encoding="utf-8"))

    def list(self) -> list[RunState]:
        if not self.runs_dir.is_dir():
            return []
        states = []
        for d in sorted(self.runs_dir.iterdir()):
            f = d / "state.json"
            if f.exists():
                try:
                    states.append(RunState.model_validate_json(f.read_text(encoding="utf-8")))
                except ValueError:
                    continue  # a foreign or half-written file is not a run
        return states

    def latest_resumable(self) -> RunState:
        runs = [s for s in self.list() if s.resumable]
        if not runs:
            raise UserError(f"no interrupted run to resume under {self.runs_dir}", hint="see `kodo-bot runs`")
        return runs[-1]
