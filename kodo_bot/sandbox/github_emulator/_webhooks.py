"""Webhook payloads, shaped as GitHub sends them (``issues``, ``issue_comment``, ``pull_request``).

The emulator records a delivery for every change GitHub would announce, whether the change came from
the Python scene API (a person labelling an issue) or from a client's request (the bot's own comment,
which a bot must recognise and ignore). Payload objects are the REST renderings, which is what GitHub
embeds too, plus the event-specific keys (``label``, ``changes``, ``number``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from kodo_bot.sandbox.github_emulator._models import PendingEvent, Repo, node_id
from kodo_bot.sandbox.github_emulator._render import Renderer


@dataclass(frozen=True)
class Delivery:
    """One webhook: ``event`` is the ``X-GitHub-Event`` header, ``payload`` the JSON body."""

    event: str
    action: str
    payload: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def name(self) -> str:
        """``issues.labeled`` style, as the examples and probot name them."""
        return f"{self.event}.{self.action}"

    def headers(self) -> dict[str, str]:
        """The headers GitHub sends with the delivery (unsigned: no secret is configured)."""
        return {
            "X-GitHub-Event": self.event,
            "X-GitHub-Delivery": self.id,
            "User-Agent": "GitHub-Hookshot/emulator",
            "Content-Type": "application/json",
        }


def render_delivery(render: Renderer, event: PendingEvent, installation_id: int | None = None) -> Delivery | None:
    """The delivery for a queued event, or None when its subject no longer exists. ``installation_id``
    adds the ``installation`` key a GitHub App's deliveries carry."""
    store = render.store
    repo = store.repos.get(event.repo.lower())
    if repo is None:
        return None
    payload: dict[str, Any] = {"action": event.action}
    subject = _subject(render, repo, event) if event.subject else _issue_subject(render, repo, event)
    if subject is None:
        return None
    payload.update(subject)
    if event.changes:
        payload["changes"] = event.changes
    payload["repository"] = render.repo(repo)
    owner = store.user(repo.owner)
    if owner.type == "Organization":
        payload["organization"] = _organization(render, owner.login, owner.id)
    payload["sender"] = render.user(event.sender)
    if installation_id is not None:
        payload["installation"] = {"id": installation_id, "node_id": node_id("Integration", installation_id)}
    return Delivery(event.event, event.action, payload)


def _issue_subject(render: Renderer, repo: Repo, event: PendingEvent) -> dict[str, Any] | None:
    """``issue`` or ``pull_request``, with the ``comment`` or ``label`` the event names."""
    store = render.store
    if event.number not in repo.issues:
        return None
    issue = repo.issues[event.number]
    payload: dict[str, Any] = {}
    if event.event == "pull_request":
        payload["number"] = issue.number
        pull = store.refresh_pull(repo, repo.pulls[issue.number])
        payload["pull_request"] = render.pull(repo, pull, observe=False)
        if event.action == "opened":  # GitHub computes mergeability after announcing the PR
            payload["pull_request"].update(mergeable=None, rebaseable=None, mergeable_state="unknown")
    else:
        payload["issue"] = render.issue(repo, issue)
        payload["issue"].setdefault("draft", False)  # webhook issues always carry it; REST ones only for PRs
    if event.comment_id is not None:
        comment = store.comments.get(event.comment_id)
        if comment is None:
            return None
        payload["comment"] = render.comment(repo, comment)
    if event.label is not None:
        label = repo.labels.get(event.label.lower())
        if label is not None:
            payload["label"] = render.label(repo, label)
    return payload


def _subject(render: Renderer, repo: Repo, event: PendingEvent) -> dict[str, Any]:
    """The objects a review, thread or CI event carries, named by ``event.subject``."""
    ids = event.subject
    out: dict[str, Any] = {}
    if "review" in ids:
        out["review"] = render.review(repo, repo.reviews[ids["review"]])
        out["review"]["state"] = out["review"]["state"].lower()  # webhooks spell it in lower case
    if "review_comment" in ids:
        out.pop("review")
        out["comment"] = render.review_comment(repo, repo.review_comments[ids["review_comment"]])
    if "thread" in ids:
        thread = repo.threads[ids["thread"]]
        comments = [render.review_comment(repo, repo.review_comments[i]) for i in thread.comment_ids]
        out["thread"] = {"node_id": node_id("PullRequestReviewThread", thread.id), "comments": comments}
    if event.number is not None:
        out["pull_request"] = render.pull(repo, render.store.pull(repo, event.number), simple=True, observe=False)
    if "run" in ids:
        run = repo.runs[ids["run"]]
        out["workflow_run"] = render.workflow_run(repo, run)
        out["workflow"] = render.workflow(repo, repo.workflows[run.workflow_id])
    if "suite" in ids:
        out["check_suite"] = render.check_suite(repo, repo.suites[ids["suite"]])
    if "check_run" in ids:
        check = repo.check_runs[ids["check_run"]]
        out["check_run"] = render.check_run(repo, check)
        out["check_run"]["check_suite"] = render.check_suite(
            repo, repo.suites[check.suite_id]
        )  # webhooks embed it whole
    return out


def _organization(render: Renderer, login: str, ident: int) -> dict[str, Any]:
    api = f"{render.urls.api}/orgs/{login}"
    return {
        "login": login,
        "id": ident,
        "node_id": node_id("Organization", ident),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{render.urls.origin}/avatars/u/{ident}?v=4",
        "description": None,
    }
