"""The run viewer: a run's event log as one self-contained HTML page (``kodo-bot view``).

    kodo-bot view RUN_ID | events.jsonl [-o run.html] [--open] [--live]
    python -m kodo_bot.viewer events.jsonl

``build_view`` (pure) turns events into what the page draws; ``render_page`` (pure) writes the page;
``write_html`` reads a log (and, when the project is at hand, git for line counts) and writes the file;
``LiveServer`` serves the page on 127.0.0.1 and follows a log that is still being written.

Deliberately not here: anything of the engine's. The viewer reads only the log (and optionally git).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for readers and type checkers; at run time each name loads when first used
    from kodo_bot.viewer._html import embed_json, render_page
    from kodo_bot.viewer._model import Limits, build_view
    from kodo_bot.viewer._page import PAGE_BUDGET, fit_view, view_of_log, write_html

__all__ = ["PAGE_BUDGET", "Limits", "build_view", "embed_json", "fit_view", "render_page", "view_of_log", "write_html"]

#: where each name lives: ``kodo-bot --help`` registers ``view`` through ``_args`` without loading the
#: engine's event models (a quarter of a second) that the page needs
_HOME = {
    "PAGE_BUDGET": "_page",
    "fit_view": "_page",
    "view_of_log": "_page",
    "write_html": "_page",
    "Limits": "_model",
    "build_view": "_model",
    "embed_json": "_html",
    "render_page": "_html",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"kodo_bot.viewer.{_HOME[name]}"), name)
    raise AttributeError(f"module 'kodo_bot.viewer' has no attribute {name!r}")
