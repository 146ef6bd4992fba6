"""Markdown building blocks that keep untrusted text from changing a comment's structure.

Verifier findings, command output, the orchestrator's plan and issue text are written by models or by
strangers. Placed into a comment naively they could close a ``<details>`` early, open a code fence that
swallows the rest of the comment, forge a kodo-bot marker, hide text in an HTML comment, ping people with
``@mentions`` or render as LaTeX. Each helper here fits one place text can go:

- :func:`inline`: one line inside a sentence, list item or table cell;
- :func:`quote`: a multi-line Markdown passage, kept readable, inside a blockquote (which closes any fence
  or list the text opens when the quote ends);
- :func:`code_block` / :func:`code_span`: verbatim text such as commands and their output.

Only string work; nothing here knows about runs or GitHub.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

_ZWSP = "\u200b"  # breaks HTML comment syntax and regexes; a reader sees nothing
_COMMENT_TOKENS = (
    ("<!--", "<!" + _ZWSP + "--"),
    ("-->", "--" + _ZWSP + ">"),
    ("--!>", "--!" + _ZWSP + ">"),
)
PASS, FAIL, WAIT = "✅", "❌", "⏳"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#!$])")
_MENTION = re.compile(r"(?<![\w@/])@(?=[A-Za-z0-9])")
# Tag-like "<": an element, closing tag, comment, declaration or processing instruction.
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_BACKTICKS = re.compile(r"`+")


def inline(text: str | None, max_len: int = 300) -> str:
    """One safe line: whitespace collapsed, HTML and Markdown syntax shown literally, mentions defused."""
    text = " ".join((text or "").split())
    if len(text) > max_len:
        text = text[: max_len - 1].rstrip() + "…"
    text = html.escape(text, quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MENTION.sub("@" + _ZWSP, text)


def quote(text: str | None, max_len: int = 8_000, empty: str = "_(nothing)_") -> str:
    """A Markdown passage as a blockquote: formatting kept, but no raw HTML, markers or mentions."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        return f"> {empty}"
    if len(text) > max_len:
        text = text[: max_len - 1].rstrip() + "…"
    # A zero-width space after "<" stops a tag or comment from forming and, unlike "&lt;", looks the same
    # inside code spans and fences, which the passage may well contain.
    text = _TAG_START.sub("<" + _ZWSP, text)
    text = _MENTION.sub("@" + _ZWSP, text)
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.split("\n"))


_ISSUE_REF = re.compile(r"#(?=\d)")
_CLOSING_WORD = re.compile(r"\b(clos|fix|resolv)(e[sd]?|es|ed)?\b", re.IGNORECASE)


def defuse_references(text: str) -> str:
    """For a PR body: quoted "fixes #12" or "closes <url>" must not link, let alone close, another issue."""
    text = _ISSUE_REF.sub("#" + _ZWSP, text)
    return _CLOSING_WORD.sub(lambda m: m.group(0)[0] + _ZWSP + m.group(0)[1:], text)


def code_block(text: str | None, max_len: int = 4_000, lang: str = "") -> str:
    """Verbatim text in a fence longer than any backtick run inside it; long text keeps its tail."""
    text = (text or "").replace("\r\n", "\n").rstrip("\n")
    if len(text) > max_len:
        text = "…" + text[-(max_len - 1) :]
    text = neutralise(text)
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def code_span(text: str | None, max_len: int = 200, *, in_table: bool = False) -> str:
    """Verbatim text inline, e.g. a command or ``file:line``.

    Inside a table cell GFM splits on ``|`` even within code, so there pipes are escaped; elsewhere the
    escape would show, so they are not.
    """
    text = " ".join((text or "").split())
    if len(text) > max_len:
        text = text[: max_len - 1] + "…"
    text = neutralise(text)
    if in_table:
        text = text.replace("|", "\\|")
    if not text:
        return "` `"
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A folded section. ``summary`` is plain text (HTML-escaped here); ``body`` is Markdown."""
    attr = " open" if open_ else ""
    return f"<details{attr}><summary>{html.escape(summary)}</summary>\n\n{body.strip()}\n\n</details>"


def usd(amount: float) -> str:
    """``\\$1.23``; the escaped dollar keeps GitHub from reading two amounts on a line as math."""
    return f"\\${amount:.4f}" if 0 < amount < 0.01 else f"\\${amount:.2f}"


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def when(at: datetime | None) -> str:
    if at is None:
        return "—"
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def short_sha(sha: str | None) -> str:
    return code_span((sha or "")[:12]) if sha else "—"


def fit(body: str, limit: int = 65_000) -> str:
    """Keep a body under GitHub's 65,536-character limit, saying where the rest is."""
    if len(body) <= limit:
        return body
    note = "\n\n_(cut to fit GitHub's comment size limit; the full record is in the run log artifact)_"
    return body[: limit - len(note)] + note


def neutralise(text: str) -> str:
    """Text that cannot open or close an HTML comment, so it cannot hide content or forge a marker.

    Used for text that goes inside code blocks, where HTML entities would show literally.
    """
    for token, broken in _COMMENT_TOKENS:
        text = text.replace(token, broken)
    return text
