"""The goal a run works on, built from an issue, and the branch name it works on. Pure functions.

The goal is the issue's title and body plus comments by trusted people (see ``trust.is_trusted_commenter``).
Anyone can comment on a public issue, and text can hide from a human reader while still reaching a model,
so before anything becomes part of the goal:

- comments by others are left out, with a note saying how many;
- hidden content is removed: HTML comments (GitHub does not render them), Markdown "comment" idioms such as
  ``[//]: # (...)``, zero-width and bidirectional control characters, Unicode tag characters and other
  invisible format characters, variation selectors (they can smuggle bytes inside an emoji);
- the whole is capped in length, each part cut fairly (a 1 MB body does not crowd out a maintainer's
  clarifying comment) and every cut marked where a reader can see it.

Not here: fetching the issue or its comments, or deciding who is trusted; the caller passes both in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MAX_CHARS = 20_000

_HTML_COMMENT = re.compile(r"<!--.*?(?:--!?>|\Z)", re.DOTALL)
# "[//]: # (text)", "[comment]: <> (text)": link reference definitions render as nothing at all.
_MD_COMMENT = re.compile(r"^ {0,3}\[[^\]\n]*\]:[ \t]*(?:#|<>)[ \t]*(?:\(.*\)|\".*\"|'.*')?[ \t]*$", re.MULTILINE)
# Invisible characters that are not in category Cf: Hangul fillers, the combining grapheme joiner,
# Mongolian free variation selectors and the variation selectors.
_INVISIBLE_EXTRA = re.compile("[\u115f\u1160\u3164\uffa0\u034f\u180b-\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_SLUG_MAX = 40


class IssueComment(BaseModel):
    """A comment as the caller fetched it, with the trust decision already made."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    author: str
    body: str = ""
    #: by someone with write access or a listed bot (``trust.is_trusted_commenter``)
    trusted: bool = False
    #: posted by kodo-bot itself (progress, verdicts ...): never part of the goal, and not counted as left out
    own: bool = False


class GoalText(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    title: str
    comments_used: int = 0
    comments_left_out: int = 0
    truncated: bool = False
    #: characters removed as hidden content, for the log ("12 hidden characters removed")
    hidden_removed: int = Field(default=0, ge=0)


def strip_hidden(text: str) -> str:
    """``text`` without content that GitHub would not show a reader."""
    text = _HTML_COMMENT.sub("", _newlines(text))
    text = _MD_COMMENT.sub("", text)
    text = _INVISIBLE_EXTRA.sub("", "".join(ch for ch in text if _visible(ch)))
    # Again, because removing a zero-width character can join "<!" and "--" into a comment opener.
    # That text was visible on GitHub, but a model would read it as a hidden aside: drop it too.
    return _HTML_COMMENT.sub("", text)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")


def _visible(ch: str) -> bool:
    if ch in "\n\t":
        return True
    # Cf: format characters (zero-width, bidi controls, tags, soft hyphen, BOM ...); Cc: control characters.
    return unicodedata.category(ch) not in ("Cf", "Cc")


def build_goal_text(
    title: str,
    body: str | None,
    comments: Sequence[IssueComment] = (),
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> GoalText:
    """The goal as one Markdown text: ``# title``, the body, then trusted comments, capped at ``max_chars``.

    An empty body is fine: the title alone is a valid goal.
    """
    trusted = [c for c in comments if c.trusted and not c.own]
    left_out = sum(1 for c in comments if not c.trusted and not c.own)
    originals = [title, body or "", *(c.body for c in trusted)]
    cleaned = [strip_hidden(t) for t in originals]
    hidden = sum(len(_newlines(o)) - len(c) for o, c in zip(originals, cleaned, strict=True))

    clean_title = " ".join(cleaned[0].split()) or "(untitled issue)"
    header, footer = f"# {clean_title}", _left_out_note(left_out)
    # A comment that was nothing but hidden content says nothing: leave it out without a heading.
    kept = [(c, t.strip()) for c, t in zip(trusted, cleaned[2:], strict=True) if t.strip()]
    headings = [_comment_heading(c) + "\n\n" for c, _ in kept]
    parts = [cleaned[1].strip(), *(t for _, t in kept)]
    text, truncated = _layout(header, headings, footer, parts, max_chars)
    return GoalText(
        text=text,
        title=clean_title,
        comments_used=len(kept),
        comments_left_out=left_out,
        truncated=truncated,
        hidden_removed=max(hidden, 0),
    )


def _layout(header: str, headings: list[str], footer: str, parts: list[str], max_chars: int) -> tuple[str, bool]:
    """The sections joined, each part cut to fit ``max_chars`` when they do not; and whether any was cut."""

    def assemble(texts: list[str], truncated: bool) -> str:
        sections = [header, texts[0]] if texts[0] else [header]
        sections += [h + t for h, t in zip(headings, texts[1:], strict=True)]
        sections += [footer] if footer else []
        sections += [_CUT_NOTE_ALL] if truncated else []
        return "\n\n".join(sections)

    text, truncated = assemble(parts, False), False
    if len(text) > max_chars:
        # Everything but the parts' own text: headings, "\n\n" between sections, the closing note.
        overhead = len(assemble([""] * len(parts), True)) + 2
        fitted, truncated = _fit(parts, max(max_chars - overhead, 0))
        text = assemble(fitted, truncated)
    if len(text) > max_chars:  # only when max_chars is tiny next to the headings: still keep the promise
        keep = max_chars - len(_CUT_NOTE_ALL) - 2
        text = text[:keep].rstrip() + "\n\n" + _CUT_NOTE_ALL if keep > 0 else text[:max_chars]
        truncated = True
    return text, truncated


_CUT_NOTE_ALL = "_(kodo-bot shortened this goal to fit its length limit; each cut is marked where made.)_"


def _cut_note(removed: int) -> str:
    return f"\n\n_[… {removed} characters cut here …]_"


def _comment_heading(comment: IssueComment) -> str:
    return f"**Comment by @{comment.author}:**"


def _left_out_note(count: int) -> str:
    if not count:
        return ""
    if count == 1:
        return "_(1 comment by someone without write access to the repository was left out.)_"
    return f"_({count} comments by people without write access to the repository were left out.)_"


def _fit(parts: list[str], budget: int) -> tuple[list[str], bool]:
    """Cut parts so their total fits ``budget``, the longest first (max-min fair shares)."""
    if sum(map(len, parts)) <= budget:
        return parts, False
    shares = _fair_shares([len(p) for p in parts], budget)
    out = []
    for part, share in zip(parts, shares, strict=True):
        if len(part) <= share:
            out.append(part)
            continue
        keep = max(share - len(_cut_note(len(part))), 0)  # the note's length, at its longest
        kept = part[:keep].rstrip()
        out.append(kept + _cut_note(len(part) - len(kept)))
    return out, True


def _fair_shares(lengths: list[int], budget: int) -> list[int]:
    # Water-filling: short parts keep everything, the rest split what is left equally.
    shares = [0] * len(lengths)
    remaining, open_ = budget, sorted(range(len(lengths)), key=lambda i: lengths[i])
    while open_:
        each = remaining // len(open_)
        i = open_[0]
        if lengths[i] <= each:
            shares[i] = lengths[i]
            remaining -= lengths[i]
            open_.pop(0)
        else:
            for j in open_:
                shares[j] = each
            break
    return shares


def slugify(title: str, max_len: int = _SLUG_MAX) -> str:
    """Lowercase a-z, 0-9 and single dashes, at most ``max_len`` characters, never empty."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(slug) > max_len:
        cut = slug[:max_len]
        # Prefer ending on a word boundary when that keeps most of the room.
        if slug[max_len] != "-" and cut.rfind("-") >= max_len // 2:
            cut = cut[: cut.rfind("-")]
        slug = cut.strip("-")
    return slug or "untitled"


def branch_name(issue_number: int, title: str) -> str:
    """``kodo/issue-<N>-<slug>``: safe for git (``check-ref-format``), shells and URLs whatever the title."""
    if isinstance(issue_number, bool) or not isinstance(issue_number, int) or issue_number < 1:
        raise ValueError(f"issue number must be a positive integer, not {issue_number!r}")
    return f"kodo/issue-{issue_number}-{slugify(title)}"
