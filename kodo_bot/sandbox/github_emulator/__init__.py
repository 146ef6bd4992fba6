"""A stateful GitHub emulator for tests, the demo and users' rehearsals.

It serves the part of GitHub's REST and GraphQL APIs that a labelled-issue-to-PR bot uses, on
127.0.0.1, for the real PyGithub client: repositories backed by real bare git repositories, issues
and PRs sharing numbers, comments, labels, statuses, collaborators and token permissions, reviews and
review threads, reactions, CI runs that really run a command (check suites, jobs, logs), GitHub App
JWTs and installation tokens, GitHub's error shapes, pagination, webhook payloads, fault injection and
a call log. Optionally it checks every request and response against GitHub's OpenAPI description
(``validate=``).

What it deliberately does not emulate (forks, merges, requested reviewers, workflow files, search,
the web UI, git over HTTPS) is listed in ``docs/github-emulator.md``.
"""

from kodo_bot.sandbox.github_emulator._dispatch import Call
from kodo_bot.sandbox.github_emulator._models import (
    Comment,
    Issue,
    Label,
    PullRequest,
    Repo,
    Status,
    User,
)
from kodo_bot.sandbox.github_emulator._webhooks import Delivery
from kodo_bot.sandbox.github_emulator.emulator import GitHubEmulator
from kodo_bot.sandbox.github_emulator.faults import FaultRule, Faults

__all__ = [
    "Call",
    "Comment",
    "Delivery",
    "FaultRule",
    "Faults",
    "GitHubEmulator",
    "Issue",
    "Label",
    "PullRequest",
    "Repo",
    "Status",
    "User",
]
