"""What a person sees while a run goes: a live rich table on a terminal, plain lines otherwise.

Both are event sinks; they only render. The plain view is also what CI logs and ``--json`` runs show on
stderr.
"""

from __future__ import annotations

from typing import TextIO

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
            return f"  {v.verifier}: {'pass' if v.passed else 'FAIL'}" + (f" ({v.engine_note})" if v.engine_note else "")
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
