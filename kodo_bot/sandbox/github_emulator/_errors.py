"""The error answers GitHub gives, as one exception the routes raise and the server renders.

Bodies follow GitHub's current shape: ``message``, ``documentation_url`` and ``status`` (a string, as
GitHub has sent since 2023), plus ``errors`` for 422 validation failures.
"""

from __future__ import annotations

from typing import Any

REST_DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """An HTTP error answer. ``docs`` defaults to the operation's documentation at render time."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[Any] | None = None,
        docs: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.docs = docs
        self.headers = headers or {}

    def body(self, default_docs: str) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            out["errors"] = self.errors
        out["documentation_url"] = self.docs or default_docs
        out["status"] = str(self.status)
        return out


def not_found(message: str = "Not Found") -> ApiError:
    return ApiError(404, message)


def validation_failed(*errors: dict[str, Any]) -> ApiError:
    """422 ``Validation Failed`` with GitHub's ``errors`` list (resource, field, code[, message])."""
    return ApiError(422, "Validation Failed", errors=list(errors))


def invalid_request(detail: str) -> ApiError:
    """422 for a body that breaks the operation's JSON schema, worded as GitHub words it."""
    return ApiError(422, f"Invalid request.\n\n{detail}")


def forbidden_for(token_user_type: str) -> ApiError:
    """403 for a token that lacks a permission. GitHub names the kind of token in the message."""
    who = "integration" if token_user_type == "Bot" else "personal access token"
    return ApiError(403, f"Resource not accessible by {who}")
