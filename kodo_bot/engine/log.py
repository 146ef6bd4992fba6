"""The run's event log: one JSON object per line in ``<run dir>/events.jsonl``, appended, never rewritten.

Each line is flushed as it is written, so a run killed with -9 loses at most the event being written, and
``kodo-bot report`` or a person with ``jq`` can read it while the run is going.
"""

from __future__ import annotations

from pathlib import Path

from kodo_bot.engine.events import Event, EventSink, parse_event
from kodo_bot.redact import redact


class JsonlLog(EventSink):
    """Appends events; masks ``secrets`` (and known token shapes) because the log is shared: uploaded as an
    Actions artifact, attached to bug reports."""

    def __init__(self, path: Path, *, secrets: tuple[str, ...] = ()) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.secrets = secrets
        self._fh = open(path, "a", encoding="utf-8")

    def handle(self, event: Event) -> None:
        self._fh.write(redact(event.model_dump_json(), self.secrets) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_events(path: Path) -> list[Event]:
    """Every complete event in a log; a torn last line (the process died mid-write) is skipped."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            events.append(parse_event(line))
        except ValueError:
            continue
    return events
