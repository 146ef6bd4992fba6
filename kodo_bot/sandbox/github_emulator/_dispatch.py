"""One request in, one answer out: faults, authentication, routing, rate-limit headers, call log.

Transport-free (``_server`` feeds it bytes from sockets), so the order GitHub applies things in is
visible in one place: injected faults (a proxy or rate limiter answers first), User-Agent, token,
JSON body, route, token permission, handler. The handler runs under the store's lock; webhook
deliveries it queued are rendered under that lock and handed out after it is released.
"""

from __future__ import annotations

import itertools
import json
import mimetypes
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kodo_bot.sandbox.github_emulator._apps import authenticate_jwt, looks_like_jwt
from kodo_bot.sandbox.github_emulator._conditional import revalidate
from kodo_bot.sandbox.github_emulator._errors import REST_DOCS, ApiError
from kodo_bot.sandbox.github_emulator._git import BareRepo
from kodo_bot.sandbox.github_emulator._graphql import execute
from kodo_bot.sandbox.github_emulator._models import Token
from kodo_bot.sandbox.github_emulator._pages import PAGE, render_page
from kodo_bot.sandbox.github_emulator._render import API_PREFIX, GRAPHQL_PATH, Renderer
from kodo_bot.sandbox.github_emulator._router import Ctx, FileBody, RawBody, Response, Router
from kodo_bot.sandbox.github_emulator._routes_actions import LOGS_PREFIX
from kodo_bot.sandbox.github_emulator._webhooks import Delivery, render_delivery
from kodo_bot.sandbox.github_emulator.faults import FaultRule, Faults

_GRAPHQL_DOCS = "https://docs.github.com/graphql"
_UA_MESSAGE = (
    "Request forbidden by administrative rules. Please make sure your request has a User-Agent "
    "header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). "
    "Check https://developer.github.com for other possible causes."
)


@dataclass(frozen=True)
class Call:
    """One request the emulator answered, as recorded in ``emulator.calls``."""

    method: str
    path: str  # API path without the ``/api/v3`` prefix; ``/graphql`` for GraphQL
    status: int
    kind: str  # "rest", "graphql" or "other" (outside the API)
    operation: str | None  # REST operationId, or the GraphQL top-level fields ("markPullRequestReadyForReview")
    login: str | None
    query: dict[str, str] = field(default_factory=dict)
    request_body: Any = None
    response_body: Any = None
    fault: str | None = None  # the injected fault kind that answered, if any

    @property
    def graphql(self) -> bool:
        return self.kind == "graphql"


@dataclass
class Outcome:
    status: int
    body: Any
    headers: dict[str, str]
    drop: bool = False  # close the connection without answering


class Dispatcher:
    def __init__(
        self,
        render: Renderer,
        router: Router,
        faults: Faults,
        *,
        rate_limit: int,
        on_call: Callable[[Call], None],
        on_deliveries: Callable[[list[Delivery]], None],
        validator: Any = None,
        installation_id: int | None = None,
    ) -> None:
        self.render, self.store, self.router, self.faults = render, render.store, router, faults
        self.rate_limit = rate_limit
        self.on_call, self.on_deliveries, self.validator = on_call, on_deliveries, validator
        self.installation_id = installation_id
        self.internal_errors: list[str] = []
        self._rate_lock = threading.Lock()
        self._used: dict[str, int] = {}
        self._reset = int(time.time()) + 3600
        self._request_ids = itertools.count(1)

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes) -> Outcome:
        """Answer one request. ``headers`` must have lower-cased names."""
        if method == "GET" and (page := PAGE.match(path)):
            return self._page(page)
        kind, api_path = _api_path(path)
        if kind == "download":
            return self._download(method, api_path, query)
        if kind == "raw":
            return self._raw(method, api_path, query)
        ex = _Exchange(method, api_path, kind, query)
        rule = self.faults.take(method, api_path)
        if rule is not None and self._hold(rule, ex):
            self.on_call(Call(method, api_path, 0, kind, None, None, query, fault=rule.kind))
            return Outcome(0, None, {}, drop=True)
        injecting = rule if rule is not None and rule.status else None  # a rule that answers in GitHub's place
        if injecting is None or injecting.applied:
            self._answer_or_fail(ex, headers, raw)
        if injecting is not None:  # the injected answer replaces whatever happened
            token = ex.token or self._token(headers)
            user_id = self.store.users[token.login.lower()].id if token else None
            ex.response = Response(*injecting.answer(user_id))
        response = ex.response
        if injecting is None and kind == "rest" and ex.token is not None:
            if revalidate(method, headers, response, ex.token.login):
                self._uncount(ex.token.value)  # an authorised 304 is not counted by GitHub
        if self.validator is not None and kind == "rest" and injecting is None:
            if raw.strip() and ex.parsed:
                self.validator.check_request(method, api_path, ex.body)
            self.validator.check_response(method, api_path, response.status, response.body)
        self._record(ex)
        if ex.deliveries:
            self.on_deliveries(ex.deliveries)
        return Outcome(response.status, response.body, self._headers(ex.token, kind, response))

    def _download(self, method: str, path: str, query: dict[str, str]) -> Outcome:
        """A job log's download URL (what GitHub's 302 points at): no authentication, streamed."""
        key = path.removeprefix(LOGS_PREFIX).split("/", 1)[0]
        found = self.store.downloads.get(key)
        status = 200 if found is not None and method in ("GET", "HEAD") else 404
        self.on_call(Call(method, path, status, "other", None, None, query))
        if found is None or status != 200:
            return Outcome(404, {"message": "Not Found"}, {"content-type": "application/json; charset=utf-8"})
        return Outcome(200, FileBody(found), {"content-type": "text/plain; charset=utf-8"})

    def _raw(self, method: str, path: str, query: dict[str, str]) -> Outcome:
        """A file at a commit or branch, as ``https://github.com/OWNER/REPO/raw/REF/PATH`` serves it (what a
        comment embeds as an image). Like a public repository's: no authentication."""
        owner, name, _, rest = path.lstrip("/").split("/", 3)
        with self.store.lock:
            found = self.store.repos.get(f"{owner}/{name}".lower())
            git = self.store.git(found) if found is not None else None
        data = _raw_file(git, rest) if git is not None and method in ("GET", "HEAD") else None
        self.on_call(Call(method, path, 200 if data is not None else 404, "other", None, None, query))
        if data is None:
            return Outcome(404, "404: Not Found", {"content-type": "text/plain; charset=utf-8"})
        kind = mimetypes.guess_type(rest)[0] or "application/octet-stream"
        return Outcome(200, RawBody(data), {"content-type": kind})

    def _hold(self, rule: FaultRule, ex: _Exchange) -> bool:
        """Apply a fault rule's delay; True when it drops the connection instead of answering."""
        ex.fault = rule.kind
        if rule.barrier is not None:
            rule.wait_for_the_others()
        elif rule.delay_s:
            time.sleep(rule.delay_s)
        return rule.drop_connection

    def _answer_or_fail(self, ex: _Exchange, headers: dict[str, str], raw: bytes) -> None:
        """Set ``ex.response``: the answer, GitHub's error for an ``ApiError``, or a 500 for an emulator bug."""
        try:
            self._answer(ex, headers, raw)
        except ApiError as exc:
            docs = _GRAPHQL_DOCS if ex.kind == "graphql" else REST_DOCS
            ex.response = Response(exc.status, exc.body(docs), exc.headers)
        except Exception:  # noqa: BLE001 - a bug in the emulator: answer 500 and keep the trace for the test to show
            self.internal_errors.append(traceback.format_exc())
            self.store.take_pending()  # half-made changes announce nothing
            ex.response = Response(500, {"message": "Server Error (emulator bug; see emulator.internal_errors)"})

    def _record(self, ex: _Exchange) -> None:
        self.on_call(
            Call(
                ex.method,
                ex.path,
                ex.response.status,
                ex.kind,
                ex.operation,
                ex.token.login if ex.token else None,
                ex.query,
                ex.body,
                ex.response.body,
                ex.fault,
            )
        )

    def _answer(self, ex: _Exchange, headers: dict[str, str], raw: bytes) -> None:
        if ex.kind == "other":
            raise ApiError(404, "Not Found", docs=REST_DOCS)
        if not headers.get("user-agent"):
            raise ApiError(403, _UA_MESSAGE, docs=REST_DOCS)
        ex.token = self._authenticate(headers, ex.kind)
        self._count(ex.token.value)
        ex.body = self._parse(raw)
        ex.parsed = True
        with self.store.lock:
            if ex.kind == "graphql":
                if ex.method != "POST":
                    raise ApiError(404, "Not Found", docs=_GRAPHQL_DOCS)
                answer, ex.operation = execute(self.render, ex.token, ex.body)
                ex.response = Response(200, answer)
            else:
                ex.response, ex.operation = self._rest(ex.method, ex.path, ex.query, ex.body, ex.token)
            ex.deliveries = self.render_pending()

    # -- steps ---------------------------------------------------------------------------------------

    def _authenticate(self, headers: dict[str, str], kind: str) -> Token:
        header = headers.get("authorization")
        if not header:
            if kind == "graphql":
                raise ApiError(401, "This endpoint requires you to be authenticated.", docs=_GRAPHQL_DOCS)
            raise ApiError(401, "Requires authentication", docs=REST_DOCS)
        value = (headers.get("authorization") or "").strip().partition(" ")[2].strip()
        if looks_like_jwt(value):
            return authenticate_jwt(self.store, value)
        token = self._token(headers)
        if token is None:
            raise ApiError(401, "Bad credentials", docs=REST_DOCS)
        return token

    def _token(self, headers: dict[str, str]) -> Token | None:
        scheme, _, value = (headers.get("authorization") or "").strip().partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        token = self.store.tokens.get(value.strip())
        if token is not None and token.expires_at is not None and self.store.clock() >= token.expires_at:
            return None  # an installation token past its hour
        return token

    def _count(self, token: str) -> None:
        with self._rate_lock:
            now = int(time.time())
            if now >= self._reset:
                self._used.clear()
                self._reset = now + 3600
            self._used[token] = self._used.get(token, 0) + 1
            over = self._used[token] > self.rate_limit
        if over:  # the real primary limit, not an injected one
            raise ApiError(
                403,
                "API rate limit exceeded for installation. If you reach out to GitHub "
                "Support for help, please include the request ID EMU0.",
                docs="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            )

    def _uncount(self, token: str) -> None:
        with self._rate_lock:
            self._used[token] = max(0, self._used.get(token, 0) - 1)

    @staticmethod
    def _parse(raw: bytes) -> Any:
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "Problems parsing JSON", docs=REST_DOCS) from None

    def _rest(
        self, method: str, api_path: str, query: dict[str, str], body: Any, token: Token
    ) -> tuple[Response, str | None]:
        found = self.router.match(method, api_path)
        if found is None:
            raise ApiError(404, "Not Found", docs=REST_DOCS)
        route, params = found
        ctx = Ctx(
            self.store,
            self.render,
            route,
            params,
            query,
            body,
            token,
            self.render.urls.api + api_path,
            self.rate_bucket(token.value),
        )
        try:
            ctx.check_token()
            return route.handler(ctx), route.operation
        except ApiError as exc:
            return Response(exc.status, exc.body(route.docs), exc.headers), route.operation

    def render_pending(self) -> list[Delivery]:
        """Render the webhooks queued by the last change (call with the store's lock held)."""
        out = []
        for pending in self.store.take_pending():
            delivery = render_delivery(self.render, pending, self.installation_id)
            if delivery is not None:
                out.append(delivery)
        return out

    def _page(self, match: re.Match[str]) -> Outcome:
        """An issue's or pull request's web page (``_pages``): what a person opening the bot's links sees."""
        owner, name, kind, number = match.group("owner", "name", "kind", "number")
        page = render_page(self.store, owner, name, kind, int(number))
        self.on_call(Call("GET", match.group(0), 200 if page else 404, "other", None, None, {}))
        if page is None:
            return Outcome(404, "<h1>404: Not Found</h1>", {})
        return Outcome(200, page, {"content-type": "text/html; charset=utf-8"})

    def rate_bucket(self, token: str | None) -> dict[str, int]:
        with self._rate_lock:
            used = self._used.get(token, 0) if token else 0
            return {
                "limit": self.rate_limit,
                "used": used,
                "remaining": max(0, self.rate_limit - used),
                "reset": self._reset,
            }

    def _headers(self, token: Token | None, kind: str, response: Response) -> dict[str, str]:
        """Response headers, lower-cased as GitHub sends them over HTTP/2."""
        out = {
            "content-type": "application/json; charset=utf-8",
            "x-github-media-type": "github.v3; format=json",
            "x-github-request-id": f"EMU0:{next(self._request_ids):06X}",
        }
        if token is not None:
            bucket = self.rate_bucket(token.value)
            out.update(
                {
                    "x-ratelimit-limit": str(bucket["limit"]),
                    "x-ratelimit-remaining": str(bucket["remaining"]),
                    "x-ratelimit-reset": str(bucket["reset"]),
                    "x-ratelimit-used": str(bucket["used"]),
                    "x-ratelimit-resource": "graphql" if kind == "graphql" else "core",
                }
            )
        # fault and handler headers win (an injected x-ratelimit-remaining: 0)
        out.update({k.lower(): v for k, v in response.headers.items()})
        return out


def _raw_file(git: BareRepo, ref_and_path: str) -> bytes | None:
    """The file ``REF/PATH`` names, or None. A branch name may hold slashes (``kodo/evidence``): the shortest
    prefix that names a commit and holds the rest as a file wins."""
    parts = ref_and_path.split("/")
    for cut in range(1, len(parts)):
        sha = git.resolve("/".join(parts[:cut]))
        entry = git.entry(sha, "/".join(parts[cut:])) if sha is not None else None
        if entry is not None and entry.type == "blob":
            return git.read_blob(entry.sha)
    return None


#: ``/OWNER/REPO/raw/REF/PATH``: a file as github.com serves it raw
_RAW = re.compile(r"^/[^/]+/[^/]+/raw/[^/]+/.+$")


def _api_path(path: str) -> tuple[str, str]:
    """The request's kind ("graphql", "rest" or "other") and its path without the API prefix."""
    if path.startswith(LOGS_PREFIX):
        return "download", path
    if _RAW.match(path):
        return "raw", path
    if path in (GRAPHQL_PATH, "/graphql"):
        return "graphql", "/graphql"
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return "rest", path[len(API_PREFIX) :] or "/"
    return "other", path


@dataclass
class _Exchange:
    """What is known about a request as it moves through ``handle``."""

    method: str
    path: str
    kind: str
    query: dict[str, str]
    token: Token | None = None
    body: Any = None
    parsed: bool = False
    operation: str | None = None
    fault: str | None = None
    response: Response = field(default_factory=lambda: Response(500, None))
    deliveries: list[Delivery] = field(default_factory=list)
