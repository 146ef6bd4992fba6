"""The runner's work directory: finished clones older than a week go, anything that may be resumed stays."""

from __future__ import annotations

import json
import os
import time

from kodo_bot.github.workdir import WEEK_S, clean_finished

NOW = time.time()


def clone(root, issue: int, *outcomes: str | None, age_days: float = 8, corrupt: bool = False):
    path = root / "octo" / "app" / f"issue-{issue}"
    for i, outcome in enumerate(outcomes):
        state = path / ".kodo" / "runs" / f"run-{i}" / "state.json"
        state.parent.mkdir(parents=True)
        state.write_text("{not json" if corrupt else json.dumps({"run_id": f"run-{i}", "outcome": outcome}))
        stamp = NOW - age_days * 86400
        os.utime(state, (stamp, stamp))
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_only_finished_clones_older_than_a_week_are_removed(tmp_path):
    gone = [clone(tmp_path, 1, "accepted"), clone(tmp_path, 2, "error", "needs_human")]
    kept = [
        clone(tmp_path, 3, "accepted", age_days=6),  # finished, but within the week
        clone(tmp_path, 4, "accepted", None),  # a run still without an outcome: it may be resumed
        clone(tmp_path, 5, "interrupted"),  # resumable by the next trigger
        clone(tmp_path, 6, "accepted", corrupt=True),  # unreadable: keep when in doubt
    ]
    assert clean_finished(tmp_path, now=NOW) == gone
    assert not any(p.exists() for p in gone) and all(p.exists() for p in kept)
    assert clean_finished(tmp_path, now=NOW + WEEK_S) == [kept[0]]  # a week later, the recent one goes too
