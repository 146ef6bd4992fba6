"""The parts of GitHub's webhook payloads that every parser reads (``context`` for labels, ``feedback`` for
what steers a PR), and the one way a payload that is not what GitHub sends is reported.

Extra fields are GitHub's business; a missing one is a ``UserError`` naming it, never a ``KeyError`` later.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from kodo_bot.engine.team import format_validation_error
from kodo_bot.errors import UserError
from kodo_bot.github.router import WebhookEvent


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class User(Loose):
    login: str
    type: str = "User"


class Repo(Loose):
    full_name: str
    default_branch: str | None = None
    clone_url: str | None = None
    html_url: str | None = None

    def described(self) -> dict[str, Any]:
        """The repository as a trigger carries it, so the flow need not ask GitHub."""
        return {"default_branch": self.default_branch, "clone_url": self.clone_url, "repo_html_url": self.html_url}


def validate_payload(model: type[Loose], event: WebhookEvent) -> Any:
    try:
        return model.model_validate(dict(event.payload))
    except ValidationError as exc:
        raise UserError(
            f"the {event.route} payload is not what GitHub sends:\n{format_validation_error(exc)}",
            hint="check that the event was delivered whole (GITHUB_EVENT_PATH points at GitHub's event file)",
        ) from exc
