"""Keeping a runner's work directory from growing without end.

Clones live in ``KODO_WORK_DIR/OWNER/NAME/issue-N`` between jobs so that a run killed on this runner can be
resumed by the next job here (see ``handle``). Once every run in a clone has finished and the newest of them
is a week old, nothing will resume it and its branch is on GitHub: the clone is removed.

A clone is kept whenever in doubt: a run without an outcome or ``interrupted`` (resumable), a checkpoint that
cannot be read, or any run touched within the week. Only a run's ``outcome`` is read from its checkpoint, so
this stays independent of the rest of the engine's state format.

Not here: choosing the work directory (the action gives each runner its own, ``RUNNER_NAME``, so two runners
on one host never share a clone).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)

WEEK_S = 7 * 24 * 3600
#: outcomes after which nothing resumes a run
_FINISHED = {"accepted", "needs_human", "max_cycles", "budget_exhausted", "stopped", "error"}


def clean_finished(work_root: Path, *, older_than_s: float = WEEK_S, now: float | None = None) -> list[Path]:
    """Remove the clones under ``work_root`` whose runs all finished more than ``older_than_s`` ago."""
    cutoff = (time.time() if now is None else now) - older_than_s
    removed = []
    for clone in sorted(work_root.glob("*/*/issue-*")):
        if clone.is_dir() and _finished_before(clone, cutoff):
            shutil.rmtree(clone, ignore_errors=True)
            removed.append(clone)
    if removed:
        log.info("removed %d finished clone(s) older than %.0f days", len(removed), older_than_s / 86400)
    return removed


def _finished_before(clone: Path, cutoff: float) -> bool:
    checkpoints = list((clone / ".kodo" / "runs").glob("*/state.json"))
    if not checkpoints:  # no run ever started here (it failed before the engine): old is enough
        return clone.stat().st_mtime < cutoff
    for path in checkpoints:
        try:
            if path.stat().st_mtime >= cutoff or json.loads(path.read_bytes()).get("outcome") not in _FINISHED:
                return False
        except (OSError, ValueError, AttributeError):
            return False
    return True
