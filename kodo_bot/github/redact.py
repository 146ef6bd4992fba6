"""Last line of defence against a secret reaching a comment, a PR body, a log or the step summary.

Secrets are never meant to be inputs of the renderers, but text they quote (a verifier's command output, an
agent's summary, an exception message) comes from processes that may have seen one. Every sink passes what
it is about to publish through :func:`redact` with the secrets it knows (the GitHub token, the model keys).
Known token shapes (GitHub ``ghp_``/``ghs_``/``github_pat_``..., Anthropic ``sk-ant-``) are masked even when
the caller did not list them, because a token from elsewhere is just as bad to leak.

This module only transforms strings; it does not know where secrets come from or read the environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import SecretStr

MASK = "***"

#: shorter values would mask ordinary words ("true", "main"); real tokens are far longer
MIN_SECRET_LEN = 6

_TOKEN_SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|sk-ant-[A-Za-z0-9_\-]{20,})"
)


def redact(text: str, secrets: Iterable[str | SecretStr | None] = ()) -> str:
    """``text`` with every listed secret and every known token shape replaced by ``***``."""
    values = set()
    for secret in secrets:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if value and len(value) >= MIN_SECRET_LEN:
            values.add(value)
    # Longest first, so a secret that contains another is masked whole rather than leaving a tail.
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    return _TOKEN_SHAPES.sub(MASK, text)
