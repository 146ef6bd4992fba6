"""Last line of defence against a secret reaching a comment, a PR body, a log or the step summary.

Secrets are never meant to be inputs of the renderers, but text they quote (a verifier's command output, an
agent's summary, an exception message) comes from processes that may have seen one. Every sink passes what
it is about to publish through :func:`redact` with the secrets it knows (the GitHub token, the model keys).
Known token shapes (GitHub ``ghp_``/``ghs_``/``github_pat_``..., Anthropic ``sk-ant-``) are masked even when
the caller did not list them, because a token from elsewhere is just as bad to leak.

It works on rendered Markdown too: the renderers escape ``_`` as ``\\_`` and defuse some characters with a
zero-width space, which would otherwise hide ``ghs_abc`` (shown to readers as ``ghs_abc``) from a plain
search, so a secret is matched with such marks between its characters.

It lives outside the engine and the GitHub layer because both use it. This module only transforms strings;
it does not know where secrets come from or read the environment.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from functools import lru_cache

from pydantic import SecretStr

#: not "***", which alone on a line is a Markdown rule and elsewhere turns into emphasis
MASK = "[redacted]"

#: shorter values would mask ordinary words ("true", "main"); real tokens are far longer
MIN_SECRET_LEN = 6

# What a renderer may have put between two characters of a secret: a backslash escape or a zero-width space.
_GAP = r"(?:\\|\u200b)?"
_TOKEN_SHAPES = re.compile(
    rf"\b(?:gh[pousr]{_GAP}_(?:{_GAP}[A-Za-z0-9]){{20,}}"
    rf"|github{_GAP}_pat{_GAP}_(?:{_GAP}[A-Za-z0-9_]){{20,}}"
    rf"|sk-ant-(?:{_GAP}[A-Za-z0-9_\-]){{20,}})"
)


def secret_forms(secrets: Iterable[str | SecretStr | None]) -> set[str]:
    """Each secret as given, and the base64 forms it takes in an ``http.extraheader`` (``x-access-token:T``,
    as ``actions/checkout`` writes it) or a Basic auth header (``T`` alone)."""
    forms = set()
    for secret in secrets:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not value or len(value) < MIN_SECRET_LEN:
            continue
        forms.add(value)
        for raw in (value, f"x-access-token:{value}", f"x-oauth-basic:{value}"):
            encoded = base64.b64encode(raw.encode()).decode()
            forms.update({encoded, encoded.rstrip("=")})
    return forms


def redact(text: str, secrets: Iterable[str | SecretStr | None] = ()) -> str:
    """``text`` with every listed secret (and its base64 forms) and every known token shape replaced by
    ``[redacted]``."""
    values = secret_forms(secrets)
    # Longest first, so a secret that contains another is masked whole rather than leaving a tail.
    for value in sorted(values, key=len, reverse=True):
        text = _pattern(value).sub(MASK, text)
    return _TOKEN_SHAPES.sub(MASK, text)


@lru_cache(maxsize=256)
def _pattern(value: str) -> re.Pattern[str]:
    """One secret form as a compiled pattern, kept: a GitHub App's private key and its base64 forms run to
    thousands of characters, and ``re``'s own cache (first in, first out on Python 3.11) drops them among
    the patterns of every other library, so each comment's redaction compiled them again (0.1 s a call)."""
    return re.compile(_GAP.join(re.escape(ch) for ch in value))
