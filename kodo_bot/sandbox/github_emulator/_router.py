"""Route table and request context for the REST side of the emulator.

Routes are declared with GitHub's own path templates (``/repos/{owner}/{repo}/issues/{issue_number}``),
the operation id from GitHub's OpenAPI description and the token permission they need, so a reader can
line each handler up with the description, and the validator can find the operation without guessing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from kodo_bot.sandbox.github_emulator._errors import ApiError, forbidden_for, invalid_request, not_found
from kodo_bot.sandbox.github_emulator._models import Repo, Token, role_at_least

if TYPE_CHECKING:
    from kodo_bot.sandbox.github_emulator._render import Renderer
    from kodo_bot.sandbox.github_emulator._store import Store

#: Parameters that may contain slashes (branch names, file paths, refs).
_GREEDY = {"ref", "path", "branch", "sha"}
DOCS_ROOT = "https://docs.github.com/rest"


@dataclass(frozen=True)
class FileBody:
    """A body the server streams from disk (a job log), never read into memory."""

    path: str


@dataclass(frozen=True)
class RawBody:
    """A body sent as these bytes, with the content type the answer names (a file from a repository)."""

    data: bytes


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable; None means no body (204)
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Ctx"], Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    operation: str  # GitHub's operationId, e.g. "issues/create-comment"
    docs: str  # documentation_url used in error bodies for this operation
    handler: Handler
    #: (categories, level): any of the token permission categories at that level
    permission: tuple[tuple[str, ...], str]
    pattern: re.Pattern[str]


def compile_template(template: str) -> re.Pattern[str]:
    out, pos = "", 0
    for match in re.finditer(r"\{(\w+)\}", template):
        out += re.escape(template[pos : match.start()])
        name = match.group(1)
        out += f"(?P<{name}>.+)" if name in _GREEDY else f"(?P<{name}>[^/]+)"
        pos = match.end()
    return re.compile("^" + out + re.escape(template[pos:]) + "$")


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        template: str,
        operation: str,
        docs: str,
        handler: Handler,
        permission: tuple[str, str] = ("metadata", "read"),
    ) -> None:
        categories = tuple(permission[0].split("|"))
        self.routes.append(
            Route(method, template, operation, docs, handler, (categories, permission[1]), compile_template(template))
        )
        # Most literal characters first, so ``/commits/{ref}/status`` wins over ``/commits/{ref}``.
        self.routes.sort(key=lambda r: -len(re.sub(r"\{\w+\}", "", r.template)))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route for ``method path`` (path without the API prefix, still percent-encoded)."""
        for route in self.routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None


@dataclass
class Ctx:
    """What a handler sees: the parsed request, the caller, and the emulator's state."""

    store: Store
    render: Renderer
    route: Route
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    token: Token
    url: str  # absolute request URL without the query string, for Link headers
    rate: dict[str, int] = field(default_factory=dict)  # the caller's rate-limit bucket

    @property
    def login(self) -> str:
        return self.token.login

    # -- access --------------------------------------------------------------------------------------

    def repo(self) -> Repo:
        """The repository named in the path, or 404 when it does not exist *or* the caller cannot
        see it (GitHub hides private repositories rather than answering 403)."""
        repo = self.store.repo(f"{self.params['owner']}/{self.params['repo']}")
        if self.token.repos is not None and repo.full_name.lower() not in self.token.repos:
            raise not_found()
        if not self.is_app() and self.store.role_of(repo, self.login) == "none":
            raise not_found()
        return repo

    def require_role(self, repo: Repo, role: str, *, unless_author: str | None = None) -> None:
        """For user tokens: the user's role on the repo must reach ``role`` (authors may edit their own
        things). App installation tokens are not collaborators; their permissions decide alone."""
        if self.is_app() or role_at_least(self.store.role_of(repo, self.login), role):
            return
        if unless_author is not None and unless_author.lower() == self.login.lower():
            return
        raise forbidden_for(self.store.user(self.login).type)

    def check_token(self) -> None:
        categories, level = self.route.permission
        if "jwt" in categories or self.token.app_id is not None:
            return self._check_jwt("jwt" in categories)
        if not any(self.token.allows(c, level) for c in categories):
            raise forbidden_for(self.store.user(self.login).type)

    def _check_jwt(self, wanted: bool) -> None:
        """App routes take the app's JWT and nothing else; a JWT opens nothing but them."""
        if wanted and self.token.app_id is None:
            raise ApiError(401, "A JSON web token could not be decoded")
        if not wanted:
            raise forbidden_for("Bot")

    def require_token(self, category: str, level: str) -> None:
        """A narrower check inside a handler: issue routes accept ``pull_requests`` only for PRs."""
        if not self.token.allows(category, level):
            raise forbidden_for(self.store.user(self.login).type)

    def is_app(self) -> bool:
        """A GitHub App installation token: not a collaborator; its permissions decide alone."""
        return self.store.user(self.login).type == "Bot"

    # -- input ---------------------------------------------------------------------------------------

    def number(self, name: str) -> int:
        value = self.params[name]
        if not value.isdigit():
            raise not_found()
        return int(value)

    def obj(self) -> dict[str, Any]:
        body = self.body if self.body is not None else {}
        if not isinstance(body, dict):
            raise invalid_request(f"For 'links/0/schema', {_json(body)} is not an object.")
        return body

    def field(self, name: str, kind: type | tuple[type, ...], *, required: bool = False, nullable: bool = False) -> Any:
        """One body field, type-checked as GitHub's schema validation would (422 otherwise)."""
        body = self.obj()
        if name not in body:
            if required:
                raise invalid_request(f'"{name}" wasn\'t supplied.')
            return None
        value = body[name]
        if value is None and nullable:
            return None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        bad_bool = isinstance(value, bool) and bool not in kinds  # bool is an int in Python, not in the schema
        if not isinstance(value, kind) or bad_bool:
            names: dict[type | tuple[type, ...], str] = {
                str: "a string",
                bool: "a boolean",
                int: "an integer",
                list: "an array",
            }
            wanted = names.get(kind, "valid")
            raise invalid_request(f"For 'properties/{name}', {_json(value)} is not {wanted}.")
        return value

    # -- output --------------------------------------------------------------------------------------

    def page(self, items: list[Any], render: Callable[[Any], Any]) -> Response:
        """One page of a list, with GitHub's ``Link`` header (absolute URLs back to the emulator)."""
        try:
            per_page = max(1, min(100, int(self.query.get("per_page", 30))))
            page = max(1, int(self.query.get("page", 1)))
        except ValueError:
            per_page, page = 30, 1
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        for rel, target in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last):
                query = dict(self.query, per_page=str(per_page), page=str(target))
                links.append(f'<{self.url}?{urlencode(query)}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(200, [render(item) for item in chunk], headers)


def _json(value: Any) -> str:
    return json.dumps(value)
