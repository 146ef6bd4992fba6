"""The orchestrator's HTTP: one JSON POST at a time, through httpx2 (the HTTP client the anthropic SDK itself
is built on), not through the SDK.

Why not the anthropic SDK: importing it takes about 1.5 s (its thousands of types), more than the whole of
kodo-bot's start-up, and the orchestrator needs none of it: it sends one kind of request and checks what it
reads of the answer itself (``anthropic.py``). httpx2 imports in about 0.15 s and does what an HTTP client
must: kept-alive connections, TLS verified against certifi's bundle, ``HTTPS_PROXY``/``HTTP_PROXY``/
``NO_PROXY`` (with a proxy's credentials), and a request cancelled (``asyncio.wait_for``) ends at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ConnectionFailed(Exception):
    """The server could not be reached, or the connection broke before a whole answer came."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes


class JsonPoster:
    """POSTs JSON to ``base_url``; ``headers`` go with every request."""

    def __init__(self, base_url: str, headers: Mapping[str, str], timeout_s: float) -> None:
        import httpx2

        self._errors = (httpx2.TransportError,)
        self._client = httpx2.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"content-type": "application/json", "accept": "application/json", **headers},
            timeout=timeout_s,
            trust_env=True,  # the proxy variables, as the SDK's client honours them
        )

    async def post(self, path: str, payload: Any) -> Answer:
        """One request; raises ``ConnectionFailed``."""
        try:
            response = await self._client.post(path, json=payload)
        except self._errors as exc:
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    async def close(self) -> None:
        await self._client.aclose()
