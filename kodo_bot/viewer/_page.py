"""Reading a run's log into the page: ``view_of_log``, ``fit_view`` (texts cut until the data fits), ``write_html``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kodo_bot.engine import events as ev
from kodo_bot.engine.log import read_events
from kodo_bot.viewer._git import diffstat
from kodo_bot.viewer._html import embed_json, render_page
from kodo_bot.viewer._model import Limits, build_view

#: bytes the embedded data may take: the page stays under 5 MB however long the run (texts are cut shorter)
PAGE_BUDGET = 4_500_000


def fit_view(
    events: list[ev.Event], *, budget: int = PAGE_BUDGET, start: Limits | None = None, **kwargs: Any
) -> dict[str, Any]:
    """``build_view`` with texts cut shorter and shorter until its JSON fits ``budget`` bytes, beginning at
    ``start`` (a live page's last limits: a log only grows, so they are never too long by much)."""
    limits = start or Limits()
    for _ in range(6):
        view = build_view(events, limits=limits, **kwargs)
        if len(embed_json(view).encode("utf-8")) <= budget:
            break
        limits = limits.halved()
    return view


def view_of_log(path: Path, *, use_git: bool = True, live: bool = False, start: Limits | None = None) -> dict[str, Any]:
    """What the page draws for the log at ``path``; commits' line counts from the project's git if it is here."""
    events = read_events(path)
    stats: dict[str, dict[str, Any]] = {}
    source = ""
    project = next((Path(e.project) for e in events if isinstance(e, ev.RunStarted)), None)
    if use_git and project is not None and project.is_dir():
        shas = [e.sha for e in events if isinstance(e, ev.CycleCommitted)]
        stats = diffstat(project, shas)
        source = f"git in {project}" if stats else ""
    return fit_view(events, start=start, diffstat=stats, diffstat_source=source, source=str(path), live=live)


def write_html(path: Path, out: Path, *, use_git: bool = True) -> Path:
    """Write the page for the log at ``path`` to ``out``; returns ``out``."""
    out.write_text(render_page(view_of_log(path, use_git=use_git)), encoding="utf-8")
    return out
