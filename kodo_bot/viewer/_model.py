"""A run's events as what the viewer draws: cycles with lanes of spans, verification rounds, cost, commits.

Pure: events in, one JSON-ready dict out. No file, no clock, no git (a diffstat read from git is passed in).
Times are seconds from the first event. Long texts are cut here, so a 10,000-event log stays a page a
browser opens at once; the page says where it cut and the JSONL keeps everything.

Deliberately not done here: escaping. The page builds its DOM with ``textContent`` only, so agent text is
data wherever it goes; ``_html`` makes the JSON safe inside its ``<script>`` element.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, astuple, dataclass, replace
from datetime import datetime
from typing import Any

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import AgentResult, CheckResult, ToolCall, Verdict

Json = dict[str, Any]
#: the last cycles keep every text at the full limits, whatever a long run's earlier cycles are cut to
FULL_CYCLES = 3


@dataclass(frozen=True)
class Limits:
    """Where long texts are cut (characters), and how many tool calls of one agent call are kept."""

    text: int = 4000
    tail: int = 2000
    input: int = 300
    summary: int = 140
    tools: int = 40
    #: the output tail of a tool call that succeeded (a failed one keeps ``tail``)
    tool_tail: int = 1000

    def halved(self) -> Limits:
        """Shorter cuts; past a point tool calls go first (a long run has thousands), failures last."""
        half = [max(20, value // 2) for value in astuple(self)]
        return replace(Limits(*half), tools=self.tools // 2, tool_tail=self.tool_tail // 4)


FULL = Limits()


def cut(text: str | None, limit: int, *, tail: bool = False) -> str:
    """``text`` within ``limit`` characters, saying how much was left out (a tail keeps its end)."""
    text = text or ""
    if len(text) <= limit:
        return text
    gone = f"[+{len(text) - limit} chars in the log]"
    return gone + "…" + text[-limit:] if tail else text[:limit] + "…" + gone


class _Builder:
    """Walks the events once, in order, keeping what each drawing needs."""

    def __init__(self, t0: datetime, limits: Limits, *, full_from: int) -> None:
        self.t0, self.lim, self.cut_lim = t0, limits, limits
        #: cycles from this one on keep every text at the full limits, however long the run
        self.full_from = full_from
        self.cycles: dict[int, Json] = {}
        self.rounds: dict[tuple[int, int], Json] = {}
        self.open_calls: dict[str, Json] = {}
        self.cost_points: list[Json] = []
        self.notices: list[Json] = []
        self.rows: list[list[Any]] = []
        self.run: Json = {"resumes": 0}
        self.current = 0
        self.now = 0.0

    def t(self, event: ev.Event) -> float:
        return round((event.at - self.t0).total_seconds(), 3)

    def cycle(self, n: int, at: float) -> Json:
        c = self.cycles.get(n)
        if c is None:
            c = self.cycles[n] = {
                "cycle": n,
                "start": at,
                "end": at,
                "spans": [],
                "decisions": [],
                "marks": [],
                "commit": None,
                "ended": None,
                "steering": [],
                "rounds": [],
            }
        c["start"], c["end"] = min(c["start"], at), max(c["end"], at)
        self.current = max(self.current, n)
        return c

    def feed(self, event: ev.Event) -> None:
        self.lim = FULL if getattr(event, "cycle", self.current) >= self.full_from else self.cut_lim
        at = self.t(event)
        self.now = max(self.now, at)
        self.rows.append([event.seq, at, event.type, _one_line(event, self.lim.summary)])
        handler = getattr(self, "on_" + event.type)
        handler(event, at)

    # ------------------------------------------------------------------ run
    def on_run_started(self, e: ev.RunStarted, at: float) -> None:
        self.run.update(
            run_id=e.run_id,
            goal_title=e.goal_title,
            project=e.project,
            branch=e.branch,
            team=list(e.team),
            max_cycles=e.max_cycles,
            max_cost_usd=e.max_cost_usd,
            max_minutes=e.max_minutes,
        )
        self.run.setdefault("started_at", e.at.isoformat())
        if e.resumed:
            self.run["resumes"] += 1
            self.cycle(self.current or 1, at)["marks"].append({"t": at, "kind": "resumed", "text": "run resumed"})

    def on_run_finished(self, e: ev.RunFinished, at: float) -> None:
        self.run["finished"] = {
            "outcome": e.outcome.value,
            "reason": e.reason,
            "summary": cut(e.summary, self.lim.text),
            "cycles": e.cycles,
            "rounds": e.rounds,
            "duration_s": e.duration_s,
            "branch": e.branch,
            "head_sha": e.head_sha,
            "handoff": cut(e.handoff, self.lim.text),
            "files_changed": e.files_changed,
            "build_output": e.build_output,
            "warnings": e.warnings,
            "cost": e.cost.model_dump(mode="json"),
            "t": at,
        }
        if self.cycles:
            self.cycle(self.current, at)["marks"].append({"t": at, "kind": "finished", "text": e.outcome.value})

    def on_notice(self, e: ev.Notice, at: float) -> None:
        self.notices.append(
            {"t": at, "level": e.level, "message": cut(e.message, self.lim.text), "cycle": self.current}
        )
        if self.cycles:
            c = self.cycle(self.current, at)
            c["marks"].append({"t": at, "kind": "notice-" + e.level, "text": cut(e.message, self.lim.text)})

    # ------------------------------------------------------------------ cycles
    def on_cycle_started(self, e: ev.CycleStarted, at: float) -> None:
        self.cycle(e.cycle, at)

    def on_cycle_ended(self, e: ev.CycleEnded, at: float) -> None:
        self.cycle(e.cycle, at)["ended"] = {"t": at, "reason": e.reason, "summary": cut(e.summary, self.lim.text)}

    def on_steering_taken(self, e: ev.SteeringTaken, at: float) -> None:
        self.cycle(e.cycle, at)["steering"].extend(
            {
                "t": at,
                "id": s.id,
                "text": cut(s.text, self.lim.text),
                "points": [
                    {"id": p.id, "author": p.author, "text": cut(p.text, self.lim.text), "file": p.file, "line": p.line}
                    for p in s.points
                ],
            }
            for s in e.steering
        )

    def on_orchestrator_replied(self, e: ev.OrchestratorReplied, at: float) -> None:
        c = self.cycle(e.cycle, at)
        decision = {
            "t": at,
            "exchange": e.exchange,
            "text": cut(e.text, self.lim.text),
            "tool_calls": e.tool_calls,
            "cost_usd": e.cost_usd,
            "wait_s": e.wait_s,
            "tokens": e.usage.input_tokens + e.usage.output_tokens,
        }
        c["decisions"].append(decision)
        start = max(c["start"], round(at - e.wait_s, 3))
        label = ", ".join(e.tool_calls) or "(text only)"
        c["spans"].append(
            {"lane": "orchestrator", "kind": "orchestrator", "start": start, "end": at, "label": label, "state": "ok"}
        )
        self.cost_points.append({"t": at, "who": "orchestrator", "usd": e.cost_usd, "bucket": e.bucket})

    def on_agent_call_started(self, e: ev.AgentCallStarted, at: float) -> None:
        c = self.cycle(e.cycle, at)
        span = {
            "lane": e.agent,
            "kind": "agent",
            "start": at,
            "end": None,
            "label": cut(e.task, 80),
            "state": "running",
            "call_id": e.call_id,
            "task": cut(e.task, self.lim.text),
            "fresh": e.fresh,
        }
        previous = self.open_calls.pop(e.call_id, None)
        if previous is not None:  # started again after a resume: the first try was interrupted
            previous["state"], previous["end"] = "interrupted", at
        self.open_calls[e.call_id] = span
        c["spans"].append(span)

    def on_agent_call_finished(self, e: ev.AgentCallFinished, at: float) -> None:
        c = self.cycle(e.cycle, at)
        span = self.open_calls.pop(e.call_id, None)
        if span is None:  # its start line was lost (a torn log): draw it from its duration
            span = {"lane": e.result.agent, "kind": "agent", "call_id": e.call_id, "label": "", "task": ""}
            span["start"] = max(c["start"], round(at - e.result.duration_s, 3))
            c["spans"].append(span)
        span.update(end=at, state="error" if e.result.is_error else "ok", result=_result(e.result, self.lim))
        self.cost_points.append({"t": at, "who": e.result.agent, "usd": e.result.cost_usd, "bucket": e.result.billing})

    def on_cycle_committed(self, e: ev.CycleCommitted, at: float) -> None:
        c = self.cycle(e.cycle, at)
        c["commit"] = {
            "t": at,
            "sha": e.sha,
            "branch": e.branch,
            "summary": cut(e.summary, self.lim.text),
            "files_changed": e.files_changed,
            "build_output": e.build_output,
        }
        c["marks"].append({"t": at, "kind": "commit", "text": f"commit {e.sha[:10]}"})

    # ------------------------------------------------------------------ verification
    def round(self, cycle: int, n: int, sha: str, at: float) -> Json:
        r = self.rounds.get((cycle, n))
        if r is None:
            r = self.rounds[(cycle, n)] = {
                "cycle": cycle,
                "round": n,
                "sha": sha,
                "start": at,
                "end": None,
                "accepted": None,
                "verifiers": [],
                "checks": [],
                "checks_passed": None,
                "verdicts": [],
                "wall_s": None,
            }
            self.cycle(cycle, at)["rounds"].append(n)
        return r

    def on_checks_finished(self, e: ev.ChecksFinished, at: float) -> None:
        r = self.round(e.cycle, e.round, e.sha, at)
        r["checks"], r["checks_passed"] = [_check(x, self.lim) for x in e.results], e.passed
        took = sum(x.duration_s for x in e.results)
        c = self.cycle(e.cycle, at)
        c["spans"].append(
            {
                "lane": "checks",
                "kind": "checks",
                "start": max(c["start"], round(at - took, 3)),
                "end": at,
                "label": f"round {e.round} checks: {'pass' if e.passed else 'FAIL'}",
                "state": "ok" if e.passed else "fail",
                "round": e.round,
            }
        )

    def on_verification_started(self, e: ev.VerificationStarted, at: float) -> None:
        r = self.round(e.cycle, e.round, e.sha, at)
        r["verifiers"] = list(e.verifiers)
        c = self.cycle(e.cycle, at)
        for name in e.verifiers:
            span = {
                "lane": "verifier/" + name,
                "kind": "verifier",
                "start": at,
                "end": None,
                "label": f"round {e.round}",
                "state": "running",
                "round": e.round,
            }
            self.open_calls[f"verify:{e.cycle}:{e.round}:{name}"] = span
            c["spans"].append(span)

    def on_verdict_received(self, e: ev.VerdictReceived, at: float) -> None:
        r = self.round(e.cycle, e.round, e.sha, at)
        verdict = _verdict(e.verdict, at, self.lim)
        r["verdicts"] = [v for v in r["verdicts"] if v["verifier"] != verdict["verifier"]] + [verdict]
        span = self.open_calls.pop(f"verify:{e.cycle}:{e.round}:{e.verdict.verifier}", None)
        if span is not None:
            span.update(end=at, state="ok" if e.verdict.passed else "fail")
            span["label"] = f"round {e.round}: {'pass' if e.verdict.passed else 'FAIL'}"
        self.cycle(e.cycle, at)
        self.cost_points.append({"t": at, "who": "verifier/" + e.verdict.verifier, "usd": e.verdict.cost_usd})

    def on_verification_finished(self, e: ev.VerificationFinished, at: float) -> None:
        r = self.round(e.cycle, e.round, e.sha, at)
        r.update(end=at, accepted=e.accepted, wall_s=e.wall_s)
        if e.checks and not r["checks"]:
            r["checks"] = [_check(x, self.lim) for x in e.checks]
        seen = {v["verifier"] for v in r["verdicts"]}
        r["verdicts"] += [_verdict(v, at, self.lim) for v in e.verdicts if v.verifier not in seen]
        c = self.cycle(e.cycle, at)
        c["marks"].append({"t": at, "kind": "accepted" if e.accepted else "rejected", "text": f"round {e.round}"})

    # ------------------------------------------------------------------ the whole
    def result(self, buckets: Mapping[str, str], diffstat: Mapping[str, Json], diffstat_source: str) -> Json:
        for span in self.open_calls.values():  # never finished: still going, or cut off by a crash
            span["end"] = None if "finished" not in self.run else span["start"]
            span["state"] = "running" if "finished" not in self.run else "interrupted"
        cycles = [self.cycles[n] for n in sorted(self.cycles)]
        for c in cycles:
            if c["commit"] and c["commit"]["sha"] in diffstat:
                c["commit"]["diffstat"] = diffstat[c["commit"]["sha"]]
        for p in self.cost_points:  # a verdict says not who paid: the run's end does, else the usual payer
            p.setdefault("bucket", buckets.get(p["who"], "subscription"))
        return {
            "run": self.run,
            "t0": self.t0.isoformat(),
            "now": self.now,
            "cycles": cycles,
            "rounds": sorted(self.rounds.values(), key=lambda r: (r["cycle"], r["round"])),
            "cost": [p for p in self.cost_points if p["usd"]],
            "notices": self.notices,
            "events": self.rows,
            "diffstat_source": diffstat_source,
            "limits": asdict(self.cut_lim),
            "full_from": self.full_from,
            "cut": self.cut_lim != FULL,
        }


def build_view(
    events: Sequence[ev.Event],
    *,
    diffstat: Mapping[str, Json] | None = None,
    diffstat_source: str = "",
    source: str = "",
    live: bool = False,
    limits: Limits | None = None,
) -> Json:
    """What the page draws, from a run's events in log order. ``diffstat`` maps a commit's sha to
    ``{"files": [[path, added, deleted], ...]}`` when git was read (``diffstat_source`` says where).
    ``limits`` cut the texts of all but the last ``FULL_CYCLES`` cycles, which always keep ``FULL``."""
    if not events:
        return {
            "run": {},
            "now": 0,
            "cycles": [],
            "rounds": [],
            "cost": [],
            "notices": [],
            "events": [],
            "diffstat_source": "",
            "limits": {},
            "source": source,
            "live": live,
        }
    last = max((getattr(e, "cycle", 0) for e in events), default=0)
    b = _Builder(events[0].at, limits or FULL, full_from=max(1, last - FULL_CYCLES + 1))
    for event in events:
        b.feed(event)
    finished = next((e for e in reversed(events) if isinstance(e, ev.RunFinished)), None)
    buckets = {who: c.bucket for who, c in finished.cost.by_agent.items()} if finished else {}
    return b.result(buckets, diffstat or {}, diffstat_source) | {"source": source, "live": live}


def _result(r: AgentResult, lim: Limits) -> Json:
    calls = list(r.tool_calls)
    shown = calls if len(calls) <= lim.tools else calls[: lim.tools // 2] + calls[len(calls) - (lim.tools + 1) // 2 :]
    return {
        "text": cut(r.text, lim.text),
        "turns": r.turns,
        "cost_usd": r.cost_usd,
        "tokens": r.usage.input_tokens + r.usage.output_tokens,
        "duration_s": r.duration_s,
        "error": r.error,
        "tools": [_tool(c, lim) for c in shown],
        "tools_cut": len(calls) - len(shown),
        "changed_files": list(r.changed_files),
    }


def _tool(c: ToolCall, lim: Limits) -> Json:
    what = c.command if c.command is not None else json.dumps(c.input, ensure_ascii=False, default=str)
    return {
        "name": c.name,
        "input": cut(what, lim.input),
        "exit_code": c.exit_code,
        "is_error": c.is_error,
        "output": cut(c.output, lim.tail if c.is_error or c.exit_code else lim.tool_tail, tail=True),
    }


def _check(c: CheckResult, lim: Limits) -> Json:
    return {
        "command": c.command,
        "source": c.source,
        "exit_code": c.exit_code,
        "output_tail": cut(c.output_tail, lim.tail, tail=True),
        "duration_s": c.duration_s,
    }


def _verdict(v: Verdict, at: float, lim: Limits) -> Json:
    return {
        "t": at,
        "verifier": v.verifier,
        "passed": v.passed,
        "summary": cut(v.summary, lim.text),
        "findings": [f.model_dump(mode="json") for f in v.findings],
        "evidence": [
            {
                "command": x.command,
                "exit_code": x.exit_code,
                "output_tail": cut(x.output_tail, lim.tail, tail=True),
                "edited": x.edited,
            }
            for x in v.evidence
        ],
        "points": [p.model_dump(mode="json") for p in v.points],
        "engine_note": v.engine_note,
        "cost_usd": v.cost_usd,
    }


#: fields the all-events table sums up rather than shows (they hold agents' whole output)
_HEAVY = {"result", "verdict", "results", "checks", "verdicts", "cost", "steering"}


def _one_line(e: ev.Event, limit: int) -> str:
    """The all-events table's summary of one event, within ``limit`` characters."""
    data: dict[str, Any] = e.model_dump(mode="json", exclude={"run_id", "seq", "at", "type", *_HEAVY})
    if isinstance(e, ev.AgentCallFinished):
        data["result"] = {"agent": e.result.agent, "is_error": e.result.is_error, "turns": e.result.turns}
    if isinstance(e, ev.VerdictReceived):
        data["verdict"] = {"verifier": e.verdict.verifier, "passed": e.verdict.passed}
    for key in ("results", "checks", "verdicts", "steering"):
        if isinstance(value := getattr(e, key, None), list):
            data[key] = len(value)
    if isinstance(e, ev.RunFinished):
        data["cost"] = {"api_usd": e.cost.api_usd, "subscription_usd": e.cost.subscription_usd}
    parts, size = [], 0
    for key, value in data.items():
        parts.append(f"{key}={json.dumps(value[:limit] if isinstance(value, str) else value, ensure_ascii=False)}")
        size += len(parts[-1]) + 1
        if size > limit:
            break
    line = " ".join(parts)
    return line if len(line) <= limit else line[: limit - 3] + "..."
