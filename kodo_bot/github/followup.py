"""What a follow-up run is asked: the feedback a trigger brought (a review with its inline comments, a
mention, a failed CI job), read from GitHub, bounded, and turned into the goal's "Review round N" section and
the review points every verifier must answer.

Only words of people who may steer the bot get here (``feedback_flow`` decides that before reading), and
even theirs lose hidden content (HTML comments, invisible characters) as the issue's own words do. Sizes are
bounded where the text arrives: a review body, each inline comment, the number of comments of one review,
and a CI log (its tail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kodo_bot.engine.models import ReviewPoint, Steering
from kodo_bot.github.goal_text import strip_hidden
from kodo_bot.github.records import FailedJob, ReviewComment

#: a review's body or one comment, as it reaches the goal
MAX_TEXT = 8_000
#: the diff hunk an inline comment was written on: its last lines are the ones it is about
MAX_HUNK = 1_500
#: the end of a failed job's log, as it reaches the goal
MAX_LOG = 6_000
#: the whole "Review round N" section, and the least one item gets when there are many
MAX_SECTION = 30_000
MIN_SHARE = 400

Kind = Literal["review", "mention", "ci"]


@dataclass(frozen=True)
class Item:
    """One piece of feedback: who said what, where."""

    point_id: str
    author: str
    text: str
    file: str | None = None
    line: int | None = None
    hunk: str = ""
    #: the inline comment to answer in its thread once verification accepts
    thread_comment: int | None = None


@dataclass(frozen=True)
class Followup:
    kind: Kind
    #: what the trigger was, in words, for the progress comment ("review 12 by alice")
    source: str
    items: tuple[Item, ...]
    #: what was left out or cut, said in the goal so nobody thinks it was read
    notes: tuple[str, ...] = ()
    #: where it came from, stable across retries (``review-12``, ``comment-34``, ``ci-56``): a live run that
    #: took it in records it, so the job queued behind that run does not start it again
    id: str = ""

    @property
    def points(self) -> tuple[ReviewPoint, ...]:
        return tuple(
            ReviewPoint(id=i.point_id, author=i.author, text=i.text, file=i.file, line=i.line, context=i.hunk)
            for i in self.items
        )

    @property
    def threads(self) -> tuple[tuple[str, int], ...]:
        """(point id, inline comment id) for every comment to answer in its thread."""
        return tuple((i.point_id, i.thread_comment) for i in self.items if i.thread_comment is not None)

    def section(self, round_no: int) -> str:
        """The goal's "Review round N" section: each item with its author, place, hunk and text."""
        return self._text(f"## Review round {round_no}")

    def steering(self) -> Steering:
        """The same, as input for a live run's next cycle."""
        return Steering(id=self.id, text=self._text(f"## New input: {self.source}"), points=self.points)

    def _text(self, heading: str) -> str:
        lines = [heading, "", _INTRO[self.kind], ""]
        # each item's share of a bounded whole, so 200 long comments still make a goal a model can read
        share = max(MIN_SHARE, MAX_SECTION // max(1, len(self.items)))
        for item in self.items:
            lines += _item_lines(item, share)
        lines += [f"_{note}_" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


_INTRO: dict[Kind, str] = {
    "review": "A reviewer asked for changes on the pull request. Address every point below; verifiers check each.",
    "mention": "A maintainer asked for more on the pull request or the issue. Address it; verifiers check it.",
    "ci": "The repository's own CI failed on the pull request's head. Make it pass; verifiers check it.",
}


def _item_lines(item: Item, share: int) -> list[str]:
    where = f" on `{item.file}`" + (f" line {item.line}" if item.line else "") if item.file else ""
    lines = [f"### Point `{item.point_id}`: {item.author}{where}", ""]
    if item.hunk:
        lines += ["Written on:", "```diff", _cut(item.hunk, share // 3, keep="tail"), "```", ""]
    text = _cut(item.text, share)
    lines += [*(f"> {line}" if line else ">" for line in text.splitlines()), ""]
    return lines


def _cut(text: str, limit: int, *, keep: Literal["head", "tail"] = "head") -> str:
    if len(text) <= limit:
        return text
    note = f"[... kodo-bot cut {len(text) - limit} characters]"
    return text[:limit] + "\n" + note if keep == "head" else note + "\n" + text[-limit:]


def _said(text: str) -> str:
    return _cut(strip_hidden(text).strip(), MAX_TEXT)


def from_review(review_id: int, author: str, body: str, comments: list[ReviewComment], total_comments: int) -> Followup:
    """A review: its body (when it says something) and each inline comment, each a point of its own."""
    items = []
    if said := _said(body):
        items.append(Item(point_id=f"review-{review_id}", author=author, text=said))
    for c in comments:
        if text := _said(c.body):
            items.append(
                Item(
                    point_id=f"comment-{c.id}",
                    author=c.author or author,
                    text=text,
                    file=c.path or None,
                    line=c.line,
                    hunk=_cut(c.diff_hunk, MAX_HUNK, keep="tail"),
                    thread_comment=c.id,
                )
            )
    notes: tuple[str, ...] = ()
    if total_comments > len(comments):
        notes = (
            f"kodo-bot read the first {len(comments)} of the review's {total_comments} inline comments; "
            "ask again for the rest once these are done.",
        )
    return Followup("review", f"review {review_id} by {author}", tuple(items), notes, id=f"review-{review_id}")


def from_mention(comment_id: int, author: str, text: str) -> Followup:
    said = _said(text) or "(no words beyond the mention: look at the discussion for what is asked)"
    return Followup(
        "mention",
        f"comment {comment_id} by {author}",
        (Item(point_id=f"comment-{comment_id}", author=author, text=said),),
        id=f"comment-{comment_id}",
    )


def from_ci(run_name: str, run_id: int, jobs: list[tuple[FailedJob, str, int]]) -> Followup:
    """A failed CI run: each failed job with its failing step and the tail of its log (job, tail, log size)."""
    items = []
    for job, tail, size in jobs:
        step = f" at step `{job.step}`" if job.step else ""
        cut = f" (the last {len(tail[-MAX_LOG:])} of {size} bytes)" if size > MAX_LOG else ""
        text = (
            f"The job `{job.name}` of `{run_name}` ended `{job.conclusion}`{step}. Its log{cut}:\n\n"
            f"```\n{tail[-MAX_LOG:]}\n```\n\nMake it pass without weakening the job."
        )
        items.append(Item(point_id=f"ci-{run_id}-{job.id}", author="the repository's CI", text=text))
    if not items:
        items.append(
            Item(
                point_id=f"ci-{run_id}",
                author="the repository's CI",
                text=f"`{run_name}` failed, and GitHub named no failed job. Find out why and fix it.",
            )
        )
    return Followup("ci", f"CI run {run_id} ({run_name})", tuple(items), id=f"ci-{run_id}")
