"""Answers to review comments, in their threads, as a follow-up run ends: what changed (with the commit), or
why it was not changed; threads are resolved only when verification accepted the work.

Each answer carries a marker naming the run and the comment it answers, so a retried, resumed or taken-over
run finds what it already said (among the bot's own replies only) and never answers twice. The words come
from the verifiers' answers to the run's review points (``Verdict.points``), not from the team's claims.
"""

from __future__ import annotations

from kodo_bot import markdown as _md
from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Outcome
from kodo_bot.github._sink_state import SinkState
from kodo_bot.github.client import GitHubClient
from kodo_bot.github.markers import find_marker, render_marker
from kodo_bot.github.records import ReviewThread


class ThreadReplies:
    def __init__(self, state: SinkState, client: GitHubClient, bot_login: str) -> None:
        self.state, self.client, self.bot_login = state, client, bot_login

    def deliver(self, finished: ev.RunFinished) -> None:
        s = self.state
        threads = [t for f in s.followups() for t in f.threads]
        if not threads or s.pull is None:
            return
        pr = s.pull.number
        # one read gives both what this run already answered (a retried, resumed or taken-over run) and which
        # threads to resolve: a reply posted now changes no thread's resolution
        found = self.client.review_threads(pr)
        said = self._answered(found, finished.run_id)
        for point_id, comment_id in threads:
            if comment_id not in said:
                self.client.reply_in_thread(pr, comment_id, self._reply(finished, point_id, comment_id))
        if finished.outcome is Outcome.accepted:
            ours = {comment_id for _, comment_id in threads}
            self.client.resolve_threads([t.id for t in found if not t.resolved and ours.intersection(t.comment_ids)])

    def _answered(self, found: list[ReviewThread], run_id: str) -> set[int]:
        """Comments this run already answered (by the bot itself, by its exact login: a person can copy a
        marker, not an author, and a user ``name`` is not the App ``name[bot]``)."""
        answered = set()
        for reply in (c for t in found for c in t.comments[1:]):
            marker = find_marker(reply.body, "reply")
            if reply.author.lower() == self.bot_login.lower() and marker is not None and marker.run == run_id:
                answered.add(marker.round)
        return {a for a in answered if a is not None}

    def _reply(self, finished: ev.RunFinished, point_id: str, comment_id: int) -> str:
        marker = render_marker(finished.run_id, "reply", round=comment_id)
        verified = self.state.accepted_round
        sha = _md.short_sha(finished.head_sha)
        if finished.outcome is Outcome.accepted and verified is not None:
            hows = [p.how for v in verified.verdicts for p in v.points if p.id == point_id and p.addressed and p.how]
            how = hows[0] if hows else "the verifiers found it addressed"
            return f"{marker}\nkodo-bot: addressed in {sha}: {_md.inline(how, 600)}"
        reason = _md.inline(finished.reason, 400)
        return f"{marker}\nkodo-bot: not changed yet. The run ended `{finished.outcome.value}`: {reason}"
