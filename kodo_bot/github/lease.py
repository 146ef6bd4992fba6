"""One run per issue: reading the lease an issue carries, and taking it.

The lease is the ``kodo:running`` label plus the lease marker in the bot's progress comment (run id, heartbeat
time, runner name; see ``markers``). The running sink refreshes the heartbeat with every progress edit. So:

- no progress comment with a lease, and no ``kodo:running`` label: nobody holds the issue, start a run;
- a lease whose heartbeat is fresh: a run is alive (whether or not it has added its label yet), change
  nothing and end as ``duplicate``;
- a stale heartbeat (older than ``lease_stale_minutes``): its runner is presumed dead; the new run takes
  over the same branch (see ``handle``), editing the same progress comment instead of posting another.

Only comments written by the bot's own login count: anyone can type a marker into a comment.

Reading the comments and then writing one is not atomic: two triggers delivered at once would both read
"nobody holds it". So before any comment, a run takes a **claim**: it creates the ref
``refs/kodo/claims/issue-N/K`` in the repository, where K is one more than the claim the latest progress
comment records. GitHub creates a ref exactly once (422 "Reference already exists" to everyone after), so
of all the triggers that read the same comments, one wins; the others change nothing and end as
``duplicate``. The winner records K in its progress comment, so the next trigger races for K+1.

A winner that died between its claim and its first comment would block K forever, so a loser waits
``settle_s`` for the winner's comment; if none records K by then, it races for K+1 instead. (A winner
slower than that between two requests could then run beside the taker; ``settle_s`` is sized so that it
does not happen without a GitHub outage.) Taking claim K deletes claim K-1.

:func:`inspect_lease` is pure. :func:`take_claim` and :func:`acquire` perform the writes that take the
lease. Actions' ``concurrency`` group per issue queues most repeat triggers before a runner is taken; the
claim is what holds across runners, workflow re-runs and manual ``kodo-bot handle`` calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kodo_bot.errors import GitHubError
from kodo_bot.github.client import CommentInfo, GitHubClient, IssueInfo
from kodo_bot.github.config import LABEL_RUNNING
from kodo_bot.github.markers import Lease, LeaseState, find_claim, find_lease, find_marker, lease_state
from kodo_bot.github.tokens import ACTIONS_BOT_LOGIN

log = logging.getLogger(__name__)


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


def latest_progress(own: list[CommentInfo]) -> CommentInfo | None:
    return next((c for c in reversed(own) if find_marker(c.body, "progress")), None)


def inspect_lease(issue: IssueInfo, own: list[CommentInfo], *, now: datetime, stale_after_s: float) -> LeaseCheck:
    """Who holds the issue, from its labels and the bot's own comments (``own_comments``).

    The lease in the comment decides, with or without the ``kodo:running`` label: a run posts its comment
    before it adds the label, and a trigger reading in between must still see the run. The label alone
    (a comment without a lease) means the run was interrupted.
    """
    progress = latest_progress(own)
    lease = find_lease(progress.body) if progress is not None else None
    if lease is not None:
        return LeaseCheck(lease_state(lease, now, stale_after_s), lease, progress)
    if LABEL_RUNNING not in issue.labels or progress is None:
        return LeaseCheck("none", None, progress)
    # Still labelled running but no lease: the run was interrupted (Ctrl-C, a cancelled job) and said so
    # in its last edit. Nobody is working on it; the next trigger resumes it.
    marker = find_marker(progress.body, "progress")
    assert marker is not None  # latest_progress picks only comments that carry one
    return LeaseCheck("stale", Lease(run=marker.run, heartbeat=datetime.min.replace(tzinfo=UTC)), progress)


def acquire(
    client: GitHubClient,
    issue_number: int,
    progress_body: str,
    existing: CommentInfo | None,
    *,
    extra_labels: tuple[str, ...] = (),
) -> CommentInfo:
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


def claim_ref(issue_number: int, number: int) -> str:
    return f"refs/kodo/claims/issue-{issue_number}/{number}"


def take_claim(
    client: GitHubClient,
    issue_number: int,
    check: LeaseCheck,
    *,
    sha: str,
    settle_s: float,
    reread: Callable[[], list[CommentInfo]],
) -> int | None:
    """The claim number this trigger won, or None when another trigger holds the issue (see the module
    docstring). ``sha`` is any commit in the repository (a ref must point at one); ``reread`` returns the
    bot's own comments as they are now."""
    number = (find_claim(check.progress.body) if check.progress else 0) + 1
    if client.create_ref(claim_ref(issue_number, number), sha):
        return number
    time.sleep(settle_s)
    latest = latest_progress(reread())
    if latest is not None and find_claim(latest.body) >= number:
        return None  # the winner is at work
    log.warning(
        "claim %s on issue #%s has no run behind it after %.0f s; claiming the next one", number, issue_number, settle_s
    )
    number += 1
    return number if client.create_ref(claim_ref(issue_number, number), sha) else None


def release_claim(client: GitHubClient, issue_number: int, number: int) -> None:
    """Delete an old claim (best effort: a leftover ref costs nothing but tidiness)."""
    if number < 1:
        return
    try:
        client.delete_ref(claim_ref(issue_number, number))
    except GitHubError as exc:
        log.warning("could not delete the old claim %s: %s", claim_ref(issue_number, number), exc)
