"""``IssueRun``: what the GitHub sink works on (one issue and its branch) and how often it talks to GitHub.

A plain frozen value that every part of the sink reads; ``handle`` builds it from the issue and the
settings. Import it from ``kodo_bot.github.sink``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kodo_bot.github.followup import Followup


@dataclass(frozen=True)
class IssueRun:
    """What the sink works on: one issue, its branch, and how often to talk to GitHub."""

    issue_number: int
    branch: str
    base: str
    title: str
    goal: str
    trigger_label: str = "kodo"
    runner: str = ""
    job_url: str | None = None
    #: the Actions artifact the run's log and HTML view are uploaded as, named in the final comment
    artifact: str | None = None
    min_interval_s: float = 10.0
    #: refresh the lease at least this often when nothing else edits the progress comment
    heartbeat_s: float = 60.0
    #: wait before retrying something GitHub refused
    retry_s: float = 5.0
    #: how long ``close`` keeps trying to deliver what is outstanding
    drain_s: float = 120.0
    #: once closing, how long one write may keep failing before it is given up
    write_retry_s: float = 60.0
    #: ``time.time()`` by which the job ends (the drain stops before it); None when unknown
    deadline: float | None = None
    #: verification rounds earlier runs already posted on this PR (a takeover on another machine numbers
    #: its rounds after theirs, so the PR reads round 1, round 2 ... across runners)
    round_offset: int = 0
    #: the feedback this run follows up (a review, a mention, a CI failure), and its review round's number
    followup: Followup | None = None
    review_round: int = 0
    #: bots whose feedback counts as a writer's (``trusted_bots`` in .github/kodo.yml)
    trusted_bots: tuple[str, ...] = ()
