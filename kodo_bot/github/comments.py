"""The bot's comments by marker slot: edit the one already there, or post it once.

A slot is a marker's (run, kind, round). A retried or resumed run fills the same slots, so it edits its
comments instead of repeating them. A post whose answer was lost (a timeout, a dropped connection, a 5xx
after GitHub had in fact saved it) leaves the slot *uncertain*: before posting again, the issue's comments
are read once and a comment carrying the marker is adopted.

Only comments by the bot's own login are believed: anyone can type a marker into a comment.
"""

from __future__ import annotations

from kodo_bot.github.client import CommentInfo, GitHubClient
from kodo_bot.github.markers import Marker, find_marker


def markers_by_slot(own: list[CommentInfo]) -> dict[Marker, CommentInfo]:
    """The bot's comments by the slot their marker names (the first comment wins a slot)."""
    slots: dict[Marker, CommentInfo] = {}
    for c in own:
        marker = find_marker(c.body)
        if marker is not None:
            slots.setdefault(marker, c)
    return slots


class CommentSlots:
    def __init__(self, client: GitHubClient, own_login: str, known: dict[Marker, CommentInfo] | None = None) -> None:
        self.client = client
        self.own_login = own_login
        self._known = dict(known or {})
        self._uncertain: set[Marker] = set()

    def get(self, marker: Marker) -> CommentInfo | None:
        return self._known.get(marker)

    def upsert(self, number: int, marker: Marker, body: str) -> CommentInfo:
        """Make issue/PR ``number`` show ``body`` in ``marker``'s slot; returns the comment."""
        if marker not in self._known and marker in self._uncertain:
            for c in self.client.comments(number):
                if c.author == self.own_login and find_marker(c.body) == marker:
                    self._known[marker] = c
                    break
        found = self._known.get(marker)
        if found is not None:
            self.client.edit_comment(found.id, body)
            return found
        self._uncertain.add(marker)
        created = self.client.create_comment(number, body)
        self._uncertain.discard(marker)
        self._known[marker] = created
        return created
