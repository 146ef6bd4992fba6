"""How the end of a run is reported on GitHub, step by step (``_want.final_steps``).

Accepted: the summary comment on the PR, the answers to a review's comments in their threads (resolved),
the PR marked ready, its body updated, the ``kodo:accepted`` label. Otherwise: the outcome comment on the
issue (why, what is done, what is left), the answers in the threads (not resolved), the PR body, the
outcome's label. Either way ``kodo:running`` comes off. An interrupted run reports nothing: it keeps its
lease label, and the heartbeat going stale lets another runner take over.

The end goes out once the pushes, rounds and statuses before it are through, or when closing even if they
are stuck: the person waiting must hear how the run ended whatever else failed.
"""

from __future__ import annotations

from functools import partial

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Outcome
from kodo_bot.github import render
from kodo_bot.github._delivery import Delivery
from kodo_bot.github._pull_request import PullRequest
from kodo_bot.github._sink_state import SinkState
from kodo_bot.github._thread_replies import ThreadReplies
from kodo_bot.github.client import GitHubClient
from kodo_bot.github.comments import CommentSlots
from kodo_bot.github.config import LABEL_RUNNING, LABEL_STOP
from kodo_bot.github.markers import Marker
from kodo_bot.morning import RunFacts


class EndReport:
    def __init__(
        self,
        state: SinkState,
        client: GitHubClient,
        slots: CommentSlots,
        pull_request: PullRequest,
        replies: ThreadReplies,
    ) -> None:
        self.state, self.client, self.slots, self.pull_request = state, client, slots, pull_request
        self.replies = replies

    def deliver(self, d: Delivery) -> bool:
        s, w = self.state, self.state.want
        if w.finished is None or not (s.closing or not (w.push or w.rounds or w.statuses)):
            return True
        ok = True
        for step in list(w.final_steps):
            ok = (
                d.attempt(
                    f"report the end ({step})", partial(self._report, step, w.finished), partial(s.drop_final, step)
                )
                and ok
            )
        return ok

    def _report(self, step: str, finished: ev.RunFinished) -> None:
        steps = {
            "summary": self._summary,
            "outcome": self._outcome,
            "threads": self.replies.deliver,
            "ready": self._ready,
            "pr body": self._pr_body,
            "labels": self._labels,
        }
        steps[step](finished)
        with self.state.cv:
            self.state.final_step_done(step)
            self.state.want.progress_due = True

    def _pr_number(self) -> int | None:
        return self.state.pull.number if self.state.pull else None

    def _summary(self, f: ev.RunFinished) -> None:
        run = self.state.run
        body = render.render_accepted(
            f,
            pr_number=self._pr_number(),
            job_url=run.job_url,
            review=self._review_round(),
            facts=self._facts(f),
            artifact=run.artifact,
        )
        self.slots.upsert(self._pr_number() or run.issue_number, Marker(run=f.run_id, kind="summary"), body)

    def _facts(self, f: ev.RunFinished) -> RunFacts:
        with self.state.cv:
            history = list(self.state.history)
            points = [p for followup in self.state.followups() for p in followup.points]
        return RunFacts.of_finished(f, goal=self.state.run.goal, events=history, points=points)

    def _review_round(self) -> list[str] | None:
        run, verified = self.state.run, self.state.accepted_round
        if run.followup is None:
            return None
        points = [(p.id, p.author, p.file, p.line) for p in run.followup.points]
        answers = [a for v in verified.verdicts for a in v.points] if verified else []
        # the first verifier's answer to each point stands for the round: every one of them passed it
        first = list({a.id: a for a in reversed(answers)}.values())
        return render.render_review_round(run.review_round, run.followup.source, points, first)

    def _outcome(self, f: ev.RunFinished) -> None:
        """On the PR when there is one, where its reviewer reads the morning report; else on the issue."""
        run = self.state.run
        body = render.render_not_accepted(
            f,
            label=render.label_for_outcome(f.outcome),
            pr_number=self._pr_number(),
            job_url=run.job_url,
            facts=self._facts(f),
            artifact=run.artifact,
        )
        self.slots.upsert(self._pr_number() or run.issue_number, Marker(run=f.run_id, kind="outcome"), body)

    def _ready(self, f: ev.RunFinished) -> None:
        self.pull_request.mark_ready()

    def _pr_body(self, f: ev.RunFinished) -> None:
        self.pull_request.update_body()

    def _labels(self, f: ev.RunFinished) -> None:
        n, label = self.state.run.issue_number, render.label_for_outcome(f.outcome)
        if label:
            self.client.add_labels(n, label)
        self.client.remove_label(n, LABEL_RUNNING)
        if f.outcome is Outcome.stopped:
            self.client.remove_label(n, LABEL_STOP)  # a `/kodo stop` is carried out
