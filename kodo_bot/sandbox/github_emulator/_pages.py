"""The emulator's web pages: an issue or pull request as a person sees it, its body and comments drawn
from Markdown, at the ``html_url`` the API hands out (``/OWNER/REPO/issues/N``, ``/OWNER/REPO/pull/N``).

So the demo's links open something, and a browser test can look at what the bot posted the way a reviewer
does. Markdown goes through markdown-it (CommonMark, plus GitHub's tables and strikethrough), with raw
HTML passed through as GitHub passes ``<details>`` and ``<summary>``.

Unlike github.com, nothing is sanitised: a ``<script>`` or an ``onerror`` in a comment runs here. That is on
purpose. kodo-bot must escape every text a model or a stranger wrote before it posts it, and a page that
quietly cleaned up after it would hide the day it did not.
"""

from __future__ import annotations

import html
import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

    from kodo_bot.sandbox.github_emulator._store import Store

#: ``/OWNER/REPO/issues/N`` or ``/OWNER/REPO/pull/N`` (a comment's ``#issuecomment-ID`` never reaches a server)
PAGE = re.compile(r"^/(?P<owner>[^/]+)/(?P<name>[^/]+)/(?P<kind>issues|pull)/(?P<number>\d{1,9})/?$")

_STYLE = """
body { font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1f2328; }
main { max-width: 900px; margin: 24px auto; padding: 0 16px; }
h1 { font-weight: 400; } h1 .number { color: #59636e; }
.state { display: inline-block; padding: 2px 10px; border-radius: 2em; color: #fff; background: #1f883d; }
.state.draft { background: #59636e; } .state.closed { background: #8250df; }
article { border: 1px solid #d1d9e0; border-radius: 6px; margin: 16px 0; }
article > header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px; color: #59636e; }
article > .body { padding: 8px 16px; overflow-wrap: anywhere; }
table { border-collapse: collapse; } td, th { border: 1px solid #d1d9e0; padding: 4px 10px; }
code { background: #eff1f3; padding: 0 4px; border-radius: 4px; } pre code { display: block; padding: 8px; }
blockquote { color: #59636e; border-left: 4px solid #d1d9e0; margin: 0; padding: 0 12px; }
img { max-width: 100%; }
"""


@cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def render_markdown(text: str) -> str:
    """``text`` as GitHub draws a comment (minus its sanitiser: see the module's note)."""
    return str(_markdown().render(text))


def render_page(store: Store, owner: str, name: str, kind: str, number: int) -> str | None:
    """The page for issue or pull request ``number``; None when there is none (or ``kind`` is the other)."""
    with store.lock:
        repo = store.repos.get(f"{owner}/{name}".lower())
        issue = repo.issues.get(number) if repo is not None else None
        if repo is None or issue is None or issue.is_pull != (kind == "pull"):
            return None
        pull = repo.pulls.get(number) if issue.is_pull else None
        comments = sorted(store.issue_comments(repo, number), key=lambda c: c.id)
        title, body, author, state = issue.title, issue.body, issue.user, issue.state
        draft = bool(pull and pull.draft)
        full_name = repo.full_name
    shown = "draft" if draft and state == "open" else state
    posts = [_post(author, "opened this", body or "_No description provided._")]
    posts += [_post(c.user, "commented", c.body, anchor=f"issuecomment-{c.id}") for c in comments]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">',
            f"<title>{html.escape(title)} · {html.escape(full_name)}#{number}</title>",
            f"<style>{_STYLE}</style></head><body><main>",
            f'<h1>{html.escape(title)} <span class="number">#{number}</span></h1>',
            f'<p><span class="state {shown}">{shown}</span> {html.escape(full_name)}</p>',
            *posts,
            "</main></body></html>",
        ]
    )


def _post(author: str, verb: str, body: str, *, anchor: str = "") -> str:
    return (
        f'<article{f" id={anchor!r}" if anchor else ""} data-author="{html.escape(author)}">'
        f"<header><strong>{html.escape(author)}</strong> {verb}</header>"
        f'<div class="body">{render_markdown(body)}</div></article>'
    )
