"""Labels: the repository's set, and adding and removing them on issues and pull requests (each change
announced as ``labeled`` or ``unlabeled``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kodo_bot.sandbox.github_emulator._errors import ApiError, not_found, validation_failed
from kodo_bot.sandbox.github_emulator._models import Issue, IssueEvent, Label, PendingEvent, Repo

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from datetime import datetime

_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")


class LabelsMixin:
    """The label part of ``Store``, which provides the members declared here."""

    if TYPE_CHECKING:
        lock: threading.RLock
        clock: Callable[[], datetime]

        def next_id(self, kind: str) -> int: ...
        def emit(self, event: PendingEvent) -> None: ...

    # -- labels --------------------------------------------------------------------------------------

    def label(self, repo: Repo, name: str) -> Label:
        found = repo.labels.get(name.lower())
        if found is None:
            raise not_found()
        return found

    def create_label(self, repo: Repo, name: str, color: str | None = None, description: str | None = None) -> Label:
        with self.lock:
            if not name or not name.strip():
                raise validation_failed({"resource": "Label", "code": "missing_field", "field": "name"})
            if name.lower() in repo.labels:
                raise validation_failed({"resource": "Label", "code": "already_exists", "field": "name"})
            color = color or "ededed"
            if not _COLOR.match(color):
                raise validation_failed({"resource": "Label", "code": "invalid", "field": "color"})
            found = Label(self.next_id("label"), name, color.lower(), description)
            repo.labels[name.lower()] = found
            return found

    def ensure_label(self, repo: Repo, name: str) -> Label:
        """GitHub creates a missing label (color ``ededed``) when one is added to an issue by name."""
        return repo.labels.get(name.lower()) or self.create_label(repo, name)

    def add_labels(self, repo: Repo, issue: Issue, names: list[str], actor: str) -> None:
        with self.lock:
            present = {n.lower() for n in issue.labels}
            for name in names:
                found = self.ensure_label(repo, name)
                if found.name.lower() not in present:
                    present.add(found.name.lower())
                    self._labeled(repo, issue, found.name, actor, "labeled")

    def remove_label(self, repo: Repo, issue: Issue, name: str, actor: str) -> None:
        with self.lock:
            for present in issue.labels:
                if present.lower() == name.lower():
                    self._labeled(repo, issue, present, actor, "unlabeled")
                    return
            raise ApiError(404, "Label does not exist")

    def set_labels(self, repo: Repo, issue: Issue, names: list[str], actor: str) -> None:
        with self.lock:
            wanted = [self.ensure_label(repo, n).name for n in names]
            for present in list(issue.labels):
                if present.lower() not in {w.lower() for w in wanted}:
                    self._labeled(repo, issue, present, actor, "unlabeled")
            self.add_labels(repo, issue, wanted, actor)

    def _labeled(self, repo: Repo, issue: Issue, name: str, actor: str, action: str) -> None:
        if action == "labeled":
            issue.labels.append(name)
        else:
            issue.labels = [n for n in issue.labels if n != name]
        now = self.clock()
        issue.updated_at = now
        issue.events.append(IssueEvent(self.next_id("event"), action, actor, now, label=name))
        event = "pull_request" if issue.is_pull else "issues"
        self.emit(PendingEvent(event, action, repo.full_name, actor, issue.number, label=name))
