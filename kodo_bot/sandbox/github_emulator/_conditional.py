"""Conditional requests, as GitHub answers them: every successful GET carries an ``ETag`` (weak, of the
body), and a GET whose ``If-None-Match`` names the current one gets ``304 Not Modified`` with no body.

GitHub does not count such a 304 against the caller's primary rate limit when the request was authorised
("Use conditional requests if appropriate", REST API best practices), so the dispatcher gives the request
back to the caller's bucket. GitHub also sends ``Cache-Control: private, max-age=60, s-maxage=60`` and
``Vary: Accept, Authorization, Cookie, X-GitHub-OTP`` with such answers; so does the emulator. GitHub's
OpenAPI description lists 304 for only a few operations, though the service answers it on most GETs;
the validator records the others as undocumented statuses, not failures.

Not here: ``If-Modified-Since`` (GitHub's ``Last-Modified`` is per resource; a poller keyed on ETags does
not need it).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kodo_bot.sandbox.github_emulator._router import Response

CACHE_HEADERS = {
    "cache-control": "private, max-age=60, s-maxage=60",
    "vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
}


def etag(body: Any, login: str | None) -> str:
    """A weak validator of what this caller was shown (the same body for another token is another answer)."""
    digest = hashlib.sha256(json.dumps([login, body], sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f'W/"{digest}"'


def _matches(header: str, tag: str) -> bool:
    wanted = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in wanted or tag.removeprefix("W/") in wanted


def revalidate(method: str, headers: dict[str, str], response: Response, login: str | None) -> bool:
    """Give a successful GET its ETag; turn it into a 304 when the client already holds it. True: a 304."""
    if method != "GET" or response.status != 200 or isinstance(response.body, (str, bytes)) or response.body is None:
        return False
    if not isinstance(response.body, (dict, list)):
        return False
    tag = etag(response.body, login)
    response.headers.update({"ETag": tag, **CACHE_HEADERS})
    if _matches(headers.get("if-none-match", ""), tag):
        response.status, response.body = 304, None
        response.headers = {k: v for k, v in response.headers.items() if k.lower() != "link"}
        return True
    return False
