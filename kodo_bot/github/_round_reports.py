"""Each verification round on the pull request: one comment with every verdict, and the
``kodo/verification`` commit status on the round's commit, linking to that comment.

Both go only where GitHub has them: the comment once the PR exists, the status once the commit is pushed.
When no PR can ever be opened (its creation or the push refused for good), they are given up and listed
as undelivered, rather than waited for until the drain runs out.
"""

from __future__ import annotations

from functools import partial

from kodo_bot.engine import events as ev
from kodo_bot.errors import GitHubError
from kodo_bot.github import render
from kodo_bot.github._delivery import Delivery
from kodo_bot.github._evidence import EVIDENCE_BRANCH, EvidencePush
from kodo_bot.github._sink_state import SinkState
from kodo_bot.github.client import GitHubClient
from kodo_bot.github.comments import CommentSlots
from kodo_bot.github.markers import Marker

STATUS_CONTEXT = "kodo/verification"


class RoundReports:
    def __init__(
        self, state: SinkState, client: GitHubClient, slots: CommentSlots, evidence: EvidencePush | None = None
    ) -> None:
        self.state, self.client, self.slots = state, client, slots
        self._urls: dict[int, str] = {}
        #: publishes browser verifiers' screenshots; what it published (or why not), by round, is kept, so a
        #: comment posted again does not push again
        self.evidence = evidence
        self._images: dict[int, dict[str, str] | str] = {}

    def deliver(self, d: Delivery) -> bool:
        s, w = self.state, self.state.want
        with s.cv:
            if s.pull_unreachable():
                d.attempts.given_up += w.pr_items()  # listed as undelivered
                w.rounds.clear()
                w.statuses.clear()
            rounds, shas = sorted(w.rounds), list(w.statuses)
        if s.pull is None or not s.pushed_sha:
            return True
        ok = True
        for number in rounds:
            ok = (
                d.attempt(
                    f"post verification round {number}",
                    partial(self._post_round, s.pull.number, number),
                    partial(w.rounds.pop, number, None),
                )
                and ok
            )
        for sha in shas:
            ok = (
                d.attempt(
                    f"set the status on {sha[:12]}", partial(self._post_status, sha), partial(w.statuses.pop, sha, None)
                )
                and ok
            )
        return ok

    def _post_round(self, pr_number: int, number: int) -> None:
        s = self.state
        event = s.want.rounds[number]
        marker = Marker(run=event.run_id, kind="verdicts", round=number)
        images = self._published(number, event)
        posted = self.slots.upsert(pr_number, marker, render.render_verification_round(event, images))
        self._urls[number] = posted.html_url
        with s.cv:
            if s.want.rounds.get(number) is event:
                del s.want.rounds[number]

    def _published(self, number: int, event: ev.VerificationFinished) -> dict[str, str] | str:
        """The round's screenshots' URLs, or why they could not be published (the comment goes out anyway)."""
        if self.evidence is None or not any(v.screenshots for v in event.verdicts):
            return {}
        if number not in self._images:
            try:
                self._images[number] = self.evidence.images(event)
            except GitHubError as exc:
                self._images[number] = f"the screenshots could not be pushed to {EVIDENCE_BRANCH}: {exc}"
        return self._images[number]

    def _post_status(self, sha: str) -> None:
        state, text, number = self.state.want.statuses[sha]
        self.client.create_status(
            sha, state=state, context=STATUS_CONTEXT, description=text, target_url=self._urls.get(number)
        )
        with self.state.cv:
            self.state.want.statuses.pop(sha, None)
