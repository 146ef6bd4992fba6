"""The run's pull request: opened as a draft once a cycle's commit is on the remote, its body kept up to
date, marked ready for review when verification accepts.

GitHub refuses a PR without commits, so it is opened only after a push. A create whose answer was lost may
have opened the PR anyway: the next try looks for it by branch before opening another. Where draft PRs are
unavailable (some plans), a normal PR is opened; marking it ready is then moot.
"""

from __future__ import annotations

from kodo_bot.errors import GitHubError
from kodo_bot.github import render
from kodo_bot.github._delivery import Delivery
from kodo_bot.github._sink_state import SinkState
from kodo_bot.github.client import GitHubClient, PullInfo


class PullRequest:
    def __init__(self, state: SinkState, client: GitHubClient) -> None:
        self.state, self.client = state, client
        self._uncertain = False

    def deliver(self, d: Delivery) -> bool:
        s = self.state
        if not (s.pushed_sha and s.pull is None and s.progress.commits and "pull" not in s.refused):
            return True
        return d.attempt("open the pull request", self._open, lambda: s.refused.add("pull"))

    def _open(self) -> None:
        found = self.client.find_pull(self.state.run.branch) if self._uncertain else None
        if found is None:
            self._uncertain = True
            found = self._create()
        with self.state.cv:
            self.state.pull = found
        self._uncertain = False

    def _create(self) -> PullInfo:
        run = self.state.run
        body = self._body()
        try:
            return self.client.create_pull(title=run.title, body=body, head=run.branch, base=run.base, draft=True)
        except GitHubError as exc:
            if "draft" not in str(exc).lower():
                raise
            return self.client.create_pull(title=run.title, body=body, head=run.branch, base=run.base, draft=False)

    def _body(self) -> str:
        s = self.state
        return render.render_pr_body(state=s.progress, issue_number=s.run.issue_number, goal=s.run.goal)

    def update_body(self) -> None:
        """The PR's description as the run ended."""
        if self.state.pull is not None:
            self.client.edit_pull_body(self.state.pull.number, self._body())

    def mark_ready(self) -> None:
        pull = self.state.pull
        if pull is not None and pull.draft:
            self.client.mark_ready(pull)
