"""What ``kodo-bot view`` does: find the log, write the page (or serve it live), open it if asked."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import webbrowser
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from kodo_bot.errors import UserError
from kodo_bot.viewer import Limits, view_of_log, write_html
from kodo_bot.viewer._live import LiveServer


def find_log(target: str, project: Path, state_dir: Path | None) -> Path:
    """The events.jsonl that ``target`` names: a file, or a run id under the state directory."""
    path = Path(target)
    if path.is_file():
        return path
    if path.suffix == ".jsonl" or "/" in target:
        raise UserError(f"no event log at {target}")
    from kodo_bot.engine.launch import default_state_dir
    from kodo_bot.engine.state import RunStore

    store = RunStore((state_dir or default_state_dir(project.resolve())).resolve())
    log = store.events_path(target)
    if not log.is_file():
        raise UserError(f"no run {target!r} in {store.runs_dir}", hint="`kodo-bot runs` lists them")
    return log


def view(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    log = find_log(args.target, args.project, args.state_dir)
    if args.live:
        return _serve(log, args)
    out = args.output or log.with_suffix(".html")
    try:
        write_html(log, out, use_git=args.use_git)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}") from None
    print(out)
    if args.open:
        webbrowser.open(out.resolve().as_uri())
    return 0


def _follow(use_git: bool) -> Callable[[Path], dict[str, Any]]:
    """Builds the live view, each time from the cuts the last one needed (a log that grew needs no less)."""
    last: list[Limits] = []

    def build(path: Path) -> dict[str, Any]:
        view = view_of_log(path, use_git=use_git, live=True, start=last[-1] if last else None)
        if view.get("limits"):
            last[:] = [Limits(**view["limits"])]
        return view

    return build


def _serve(log: Path, args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        server = LiveServer(log, _follow(args.use_git), port=args.port)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from None
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with server:
            print(f"Serving {log} live at {server.url} (Ctrl-C stops)", flush=True)
            if args.open:
                webbrowser.open(server.url)
            stop.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("stopped", file=sys.stderr, flush=True)
    return 0
