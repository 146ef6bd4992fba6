"""Which run a trigger drives: a fresh one, the dead run resumed here, or a new one continuing its branch.

A takeover of a stale lease continues the same branch: with the dead run's checkpoint on this machine, the
engine resumes it (same run id, nothing finished is redone); elsewhere, a new engine run continues the branch
(``RunRequest.continue_branch``). Either way the issue keeps its one progress comment, rebuilt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kodo_bot.engine import events as ev
from kodo_bot.engine.log import read_events
from kodo_bot.engine.state import RunStore
from kodo_bot.errors import KodoError
from kodo_bot.github.lease import LeaseCheck
from kodo_bot.github.progress import ProgressState, apply, initial_state


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    #: the issue's clone on this runner; the run's state lives inside it
    clone: Path
    store: RunStore
    resume: bool
    taken_over_from: str | None

    def progress(self, issue_number: int, job_url: str | None) -> ProgressState:
        """What the progress comment shows before the engine says anything."""
        state = initial_state(self.run_id, issue_number=issue_number, job_url=job_url)
        if self.resume:  # rebuild the comment from the run's own log: verdicts so far, cost, plan
            for event in read_events(self.store.events_path(self.run_id)):
                state = apply(state, event)
        elif self.taken_over_from:
            state = apply(
                state,
                ev.Notice(
                    run_id=self.run_id,
                    message=(f"took over from run {self.taken_over_from}, whose runner stopped; continuing its branch"),
                ),
            )
        return state


def plan_run(work_root: Path, repo: str, issue_number: int, check: LeaseCheck) -> RunPlan:
    clone = work_root / repo / f"issue-{issue_number}"
    store = RunStore(clone / ".kodo")
    previous = check.lease.run if check.state == "stale" and check.lease else None
    if previous and _resumable_here(store, previous):
        return RunPlan(previous, clone, store, resume=True, taken_over_from=previous)
    return RunPlan(store.new_run_id(), clone, store, resume=False, taken_over_from=previous)


def _resumable_here(store: RunStore, run_id: str) -> bool:
    try:
        return store.load(run_id).resumable
    except (KodoError, ValueError, OSError):
        return False
