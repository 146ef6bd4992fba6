"""One run per issue: reading the lease an issue carries, and taking it.

The lease is the ``kodo:running`` label plus the lease marker in the bot's progress comment (run id, heartbeat
time, runner name; see ``markers``). The running sink refreshes the heartbeat with every progress edit. So:

- no ``kodo:running`` label, or no progress comment with a lease: nobody holds the issue, start a run;
- a lease whose heartbeat is fresh: a run is alive, answer the trigger with a pointer to it, start nothing;
- a stale heartbeat (older than ``lease_stale_minutes``): its runner is presumed dead; the new run takes
  over the same branch (see ``handle``), editing the same progress comment instead of posting another.

Only comments written by the bot's own login count: anyone can type a marker into a comment.

:func:`inspect_lease` is pure. :func:`acquire` performs the two writes that take the lease. Actions'
``concurrency`` group per issue makes a race between two triggers unlikely; the label-and-comment lease is
what holds across workflow re-runs and manual ``kodo-bot handle`` calls, which concurrency does not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from kodo_bot.github.client import CommentInfo, GitHubClient, IssueInfo
from kodo_bot.github.config import LABEL_RUNNING
from kodo_bot.github.markers import Lease, LeaseState, find_lease, find_marker, lease_state

#: who GitHub says wrote a comment made with an Actions ``GITHUB_TOKEN`` (it cannot ask ``GET /user``)
ACTIONS_BOT_LOGIN = "github-actions[bot]"


@dataclass(frozen=True)
class LeaseCheck:
    state: LeaseState
    lease: Lease | None = None
    #: the bot's latest progress comment on the issue (the one a takeover edits), if any
    progress: CommentInfo | None = None


def own_comments(comments: list[CommentInfo], own_login: str | None) -> list[CommentInfo]:
    """The comments the bot wrote itself. Without a known login, only the Actions bot's count."""
    login = (own_login or ACTIONS_BOT_LOGIN).lower()
    return [c for c in comments if c.author.lower() == login]


def has_markers(comments: list[CommentInfo]) -> bool:
    """Whether any comment carries a kodo-bot marker (only then is the bot's own login worth looking up)."""
    return any(find_marker(c.body) is not None for c in comments)


def inspect_lease(issue: IssueInfo, own: list[CommentInfo], *, now: datetime, stale_after_s: float) -> LeaseCheck:
    """Who holds the issue, from its labels and the bot's own comments (``own_comments``)."""
    progress = next((c for c in reversed(own) if find_marker(c.body, "progress")), None)
    if LABEL_RUNNING not in issue.labels or progress is None:
        return LeaseCheck("none", None, progress)
    lease = find_lease(progress.body)
    if lease is None:
        # Still labelled running but no lease: the run was interrupted (Ctrl-C, a cancelled job) and said so
        # in its last edit. Nobody is working on it; the next trigger resumes it.
        run = find_marker(progress.body, "progress").run
        return LeaseCheck("stale", Lease(run=run, heartbeat=datetime.min.replace(tzinfo=timezone.utc)), progress)
    return LeaseCheck(lease_state(lease, now, stale_after_s), lease, progress)


def acquire(client: GitHubClient, issue_number: int, progress_body: str, existing: CommentInfo | None, *,
            extra_labels: tuple[str, ...] = ()) -> CommentInfo:
    """Take the lease: the progress comment first (the first thing a waiting person sees), then the label.

    A takeover edits the earlier progress comment, so an issue keeps one progress comment however many
    runners it took.
    """
    if existing is not None:
        client.edit_comment(existing.id, progress_body)
        comment = CommentInfo(existing.id, existing.author, existing.author_type, progress_body, existing.html_url)
    else:
        comment = client.create_comment(issue_number, progress_body)
    client.add_labels(issue_number, LABEL_RUNNING, *extra_labels)
    return comment
