"""What a person sees while a run goes: a live rich table on a terminal, plain lines otherwise; and the
table of runs ``kodo-bot runs`` prints.

The views are event sinks; they only render. The plain view is also what CI logs and ``--json`` runs show on
stderr.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from kodo_bot.engine import events as ev
from kodo_bot.engine.events import EventSink


def describe(event: ev.Event) -> str | None:
    """One line per event worth a line; None for the rest."""
    match event:
        case ev.RunStarted():
            verb = "resumed" if event.resumed else "started"
            return f"run {event.run_id} {verb} on branch {event.branch} (team: {', '.join(event.team)})"
        case ev.CycleStarted():
            return f"cycle {event.cycle} started"
        case ev.OrchestratorReplied():
            calls = ", ".join(event.tool_calls) or "no tool calls"
            return f"orchestrator -> {calls}"
        case ev.AgentCallStarted():
            return f"  {event.agent} working: {_clip(event.task, 80)}"
        case ev.AgentCallFinished():
            r = event.result
            status = f"error: {r.error}" if r.is_error else "done"
            return f"  {r.agent} {status} ({r.turns} turns, {len(r.tool_calls)} tool calls, {r.duration_s:.1f}s)"
        case ev.CycleCommitted():
            return f"cycle {event.cycle} committed {event.sha[:12]} ({len(event.files_changed)} files)"
        case ev.ChecksFinished():
            return "checks " + ", ".join(f"`{c.command}` exit {c.exit_code}" for c in event.results)
        case ev.VerificationStarted():
            return f"verification round {event.round}: {', '.join(event.verifiers)}"
        case ev.VerdictReceived():
            v = event.verdict
            return f"  {v.verifier}: {'pass' if v.passed else 'FAIL'}" + (
                f" ({v.engine_note})" if v.engine_note else ""
            )
        case ev.VerificationFinished():
            return f"verification round {event.round} {'accepted' if event.accepted else 'rejected'}"
        case ev.CycleEnded():
            return f"cycle {event.cycle} ended: {event.reason}"
        case ev.Notice():
            return f"{event.level}: {event.message}"
        case ev.RunFinished():
            return f"run finished: {event.outcome.value} ({event.reason})"
    return None


def _clip(text: str, width: int) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 3] + "..."


class PlainView(EventSink):
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def handle(self, event: ev.Event) -> None:
        line = describe(event)
        if line:
            print(f"[kodo] {line}", file=self.stream, flush=True)


class LiveView(EventSink):
    """A table of the run's state, redrawn in place."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: dict[str, str] = {}
        self.agents: dict[str, str] = {}
        self.recent: list[str] = []
        self._live = Live(self._table(), console=console, refresh_per_second=4, transient=False)
        self._live.start()

    def handle(self, event: ev.Event) -> None:
        match event:
            case ev.RunStarted():
                self.rows.update({"run": event.run_id, "branch": event.branch, "cycle": "-", "API cost": "$0.0000"})
            case ev.CycleStarted():
                self.rows["cycle"] = str(event.cycle)
            case ev.AgentCallStarted():
                self.agents[event.agent] = "working: " + _clip(event.task, 60)
            case ev.AgentCallFinished():
                self.agents[event.result.agent] = "error" if event.result.is_error else "idle"
            case ev.OrchestratorReplied():
                total = float(self.rows.get("API cost", "$0").lstrip("$")) + event.cost_usd
                self.rows["API cost"] = f"${total:.4f}"
            case ev.VerificationStarted():
                for name in event.verifiers:
                    self.agents[f"verifier/{name}"] = f"verifying {event.sha[:12]} (round {event.round})"
            case ev.VerdictReceived():
                self.agents[f"verifier/{event.verdict.verifier}"] = "pass" if event.verdict.passed else "FAIL"
            case ev.RunFinished():
                self.rows["outcome"] = event.outcome.value
        line = describe(event)
        if line:
            self.recent = [*self.recent, line][-8:]
        self._live.update(self._table())

    def _table(self) -> Table:
        table = Table(title="kodo-bot", show_header=False, expand=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in self.rows.items():
            table.add_row(key, value)
        for agent, status in sorted(self.agents.items()):
            table.add_row(agent, status)
        for line in self.recent:
            table.add_row("", line)
        return table

    def close(self) -> None:
        self._live.stop()


RUNS_COLUMNS = ("run", "status", "cycles", "API cost", "duration", "goal")
#: what separates two columns of the runs table: a space each side of a blank rule
_GAP = 3
#: a column narrower than this is left out rather than shown as an ellipsis
_NARROWEST = 4


def runs_table(rows: Sequence[Sequence[str]], width: int) -> Table:
    """The runs, one line each, fitted to ``width`` columns. The run id (which ``report`` and ``resume`` need)
    is never cut or wrapped; the columns after it get what room is left in their order, so the goal gives way
    first, then the duration and the cost. A column with too little room is left out."""
    natural = [max(len(head), *(len(row[i]) for row in rows)) for i, head in enumerate(RUNS_COLUMNS)]
    widths, room = [natural[0]], width - natural[0]
    for want in natural[1:]:
        fit = min(want, room - _GAP)
        if fit < min(want, _NARROWEST):
            break
        widths.append(fit)
        room -= fit + _GAP
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for head, fit in zip(RUNS_COLUMNS, widths, strict=False):  # the columns left out are the last
        table.add_column(head, width=fit, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*row[: len(widths)])
    return table
