"""Nothing secret, and nothing huge, goes into a cycle commit.

Before the engine stages a cycle's files, each new or changed file is checked: its size against a limit,
its bytes against every credential kodo-bot holds (and their base64 forms, as an ``http.extraheader``
carries a token), and its text against detect-secrets' detectors for well-known credential formats. A file
that fails is withheld: it stays in the worktree, out of the commit, out of the repository's objects, and
the run tells the team why, so the next cycle can remove it.

Deliberately narrow: the entropy and keyword detectors are left out, since lock files, hashes and test
fixtures would trip them on every honest commit. The withheld reason names the kind of secret and the line,
never the value.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kodo_bot.redact import secret_forms

#: files larger than this are withheld (an agent's stray dump, a model file, a core)
MAX_FILE_BYTES = 10_000_000

_DETECTORS = (
    "AWSKeyDetector",
    "ArtifactoryDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "CloudantDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "IbmCloudIamDetector",
    "IbmCosHmacDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SoftlayerDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)


#: detect-secrets keeps its settings (the detectors in use) in module globals: one scan at a time
_scanning = threading.Lock()
_warming: threading.Thread | None = None


@dataclass(frozen=True)
class Withheld:
    path: str
    reason: str


def scan(
    root: Path, paths: Iterable[str], *, secrets: Iterable[str] = (), max_bytes: int = MAX_FILE_BYTES
) -> list[Withheld]:
    """The files among ``paths`` (relative to ``root``) that must not be committed, each with why."""
    forms = [f.encode() for f in secret_forms(secrets)]
    found = []
    for path in paths:
        full = root / path
        if full.is_symlink() or not full.is_file():
            continue
        size = full.stat().st_size
        if size > max_bytes:
            found.append(Withheld(path, f"it is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit"))
            continue
        data = full.read_bytes()
        if any(form in data for form in forms):
            found.append(Withheld(path, "it holds a credential kodo-bot was given"))
            continue
        if kind := _detected(full):
            found.append(Withheld(path, f"it looks like it holds a secret ({kind})"))
    return found


def warm_up() -> None:
    """Load detect-secrets and its detectors in a thread (once per process). The first scan otherwise waits
    a quarter of a second for them, on the way from an agent's last answer to its call's checkpoint."""
    global _warming
    if _warming is None:
        # this module's own text: any file would do, and this one is always there
        _warming = threading.Thread(target=_detected, args=(Path(__file__),), name="kodo-secret-scan", daemon=True)
        _warming.start()


def _detected(path: Path) -> str | None:
    from detect_secrets.core.scan import scan_file  # imported here: it costs a fifth of a second
    from detect_secrets.settings import transient_settings

    try:
        with _scanning, transient_settings({"plugins_used": [{"name": name} for name in _DETECTORS]}):
            hit = next(iter(scan_file(str(path))), None)
    except Exception:  # noqa: BLE001 - a file the scanner cannot read (binary, odd encoding) has nothing to find
        return None
    return f"{hit.type}, line {hit.line_number}" if hit is not None else None
