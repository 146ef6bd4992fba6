"""Route a GitHub event to the functions that handle it, by name: ``"issues.labeled"``.

In the style of probot's ``app.on("issues.labeled", handler)`` and gidgethub's ``Router``: a route is the
event name, optionally with the payload's ``action``; ``"issues"`` matches every action of that event and
``"*"`` matches everything. Tests hand an event straight to :meth:`Router.dispatch`, no server needed.

The router does no I/O, parsing or validation beyond reading ``action``: handlers get the payload as it came
and turn it into typed values themselves (see ``context``). Handler exceptions propagate: a handler that
fails aborts the dispatch, the caller reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kodo_bot.errors import UserError


@dataclass(frozen=True)
class WebhookEvent:
    """One delivery: the event name (``X-GitHub-Event`` / ``GITHUB_EVENT_NAME``) and its payload."""

    name: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def action(self) -> str | None:
        action = self.payload.get("action")
        return action if isinstance(action, str) else None

    @property
    def route(self) -> str:
        return f"{self.name}.{self.action}" if self.action else self.name


Handler = Callable[[WebhookEvent], Any]
H = TypeVar("H", bound=Handler)


class Router:
    """Handlers keyed by route. ``dispatch`` calls the most specific ones first."""

    def __init__(self) -> None:
        self._routes: dict[str, list[Handler]] = {}

    def on(self, *routes: str) -> Callable[[H], H]:
        """Decorator: ``@router.on("issues.labeled", "pull_request.labeled")``."""
        for route in routes:
            if not route or route.count(".") > 1 or route.startswith(".") or route.endswith("."):
                raise ValueError(f"route {route!r} should look like 'issues' or 'issues.labeled'")

        def register(handler: H) -> H:
            for route in routes:
                self._routes.setdefault(route, []).append(handler)
            return handler

        return register

    def handlers_for(self, event: WebhookEvent) -> list[Handler]:
        keys = [event.route, event.name, "*"] if event.action else [event.name, "*"]
        return [h for key in keys for h in self._routes.get(key, [])]

    def dispatch(self, event_name: str, payload: Mapping[str, Any]) -> list[Any]:
        """Call every matching handler; their return values in call order ([] when nothing matched)."""
        if not isinstance(payload, Mapping):
            kind = type(payload).__name__
            raise UserError(f"the {event_name!r} event payload must be a JSON object, not {kind}")
        event = WebhookEvent(event_name, payload)
        return [handler(event) for handler in self.handlers_for(event)]
