"""What GitHub should show that it does not yet: the GitHub sink's desired state, and how it is named.

The sink folds engine events into a :class:`Want` under its lock; its worker delivers each item and
removes it. The names :meth:`Want.outstanding` gives are what the job summary lists as not delivered.
Pure data: no requests, no lock of its own.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Outcome


@dataclass
class Want:
    push: bool = False
    progress_due: bool = False
    progress_owed: bool = False
    rounds: dict[int, ev.VerificationFinished] = field(default_factory=dict)
    statuses: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # sha -> (state, text, round)
    finished: ev.RunFinished | None = None
    final_steps: list[str] = field(default_factory=list)
    #: read the issue (closed? the label removed?) for the next stop check, and the feedback people gave since
    #: the run started (reviews, mentions) for the next cycle
    watch: bool = False

    def busy(self) -> bool:
        """Anything to do now, rather than on the progress or heartbeat timer."""
        return bool(self.progress_due or self.push or self.rounds or self.statuses or self.final_steps or self.watch)

    def pr_items(self) -> list[str]:
        return [f"verdicts of round {r}" for r in self.rounds] + [f"status on {s[:12]}" for s in self.statuses]

    def outstanding(self, *, progress_refused: bool) -> list[str]:
        left = ["push"] if self.push else []
        left += self.pr_items() + list(self.final_steps)
        if (self.progress_due or self.progress_owed) and not progress_refused:
            left.append("progress comment")
        return left


def final_steps(outcome: Outcome, *, refused: AbstractSet[str] = frozenset(), threads: bool = False) -> list[str]:
    """How the end is reported, in order, leaving out steps GitHub refused for good. ``threads``: the run
    answers review comments, in their threads, once accepted (and resolves them)."""
    if outcome is Outcome.accepted:
        steps = ["summary", *(["threads"] if threads else []), "ready", "pr body", "labels"]
    elif outcome is Outcome.interrupted:
        steps = []  # resumable: keep the lease label; the heartbeat going stale lets another runner take over
    else:
        steps = ["outcome", *(["threads"] if threads else []), "pr body", "labels"]
    return [s for s in steps if s not in refused]
