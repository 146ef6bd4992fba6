"""Reports about runs, as pure functions from run state and events to text.

``kodo-bot report`` and the end of ``kodo-bot run`` print these; nothing here reads files or the clock.
"""

from __future__ import annotations

from typing import Any

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import AgentCost, CostReport
from kodo_bot.engine.state import RunState


def run_summary(state: RunState, events: list[ev.Event]) -> dict[str, Any]:
    """The machine-readable result of a run (``--json``)."""
    rounds = [e for e in events if isinstance(e, ev.VerificationFinished)]
    return {
        "run_id": state.run_id,
        "outcome": state.outcome.value if state.outcome else "running",
        "exit_code": state.outcome.exit_code if state.outcome else None,
        "reason": state.reason,
        "goal_title": state.goal_title,
        "branch": state.branch,
        "head_sha": state.head_sha,
        "cycles": state.cycle,
        "verification_rounds": [
            {
                "round": r.round,
                "sha": r.sha,
                "accepted": r.accepted,
                "verdicts": {v.verifier: "pass" if v.passed else "fail" for v in r.verdicts},
                "checks": {c.command: c.exit_code for c in r.checks},
            }
            for r in rounds
        ],
        "cost": state.ledger.report().model_dump(mode="json"),
        "duration_s": round(state.elapsed_s, 3),
        "left_out": state.left_out,
        "build_output_not_committed": state.build_output,
        "default_check": state.settings.default_check,
    }


def render_report(state: RunState, events: list[ev.Event]) -> str:
    """A plain-text report a person reads: outcome, cycles, verdicts, cost per bucket and agent, duration."""
    outcome = state.outcome.value if state.outcome else "running"
    lines = [
        f"Run {state.run_id}: {outcome}" + (f" ({state.reason})" if state.reason else ""),
        f"Goal:     {state.goal_title}",
        f"Branch:   {state.branch}" + (f" at {state.head_sha[:12]}" if state.head_sha else ""),
        f"Cycles:   {state.cycle} of at most {state.settings.max_cycles}",
        f"Orchestrator: {state.settings.orchestrator}",
        f"Duration: {format_duration(state.elapsed_s)}",
        "",
        "Verification:",
    ]
    rounds = [e for e in events if isinstance(e, ev.VerificationFinished)]
    if not rounds:
        lines.append("  (no verification round yet)")
    for r in rounds:
        lines.append(f"  round {r.round} on {r.sha[:12]}: {'accepted' if r.accepted else 'rejected'}")
        for c in r.checks:
            lines.append(
                f"    check `{c.command}`{' (detected)' if c.source == 'detected' else ''}: exit {c.exit_code}"
            )
        for v in r.verdicts:
            lines.append(
                f"    {v.verifier}: {'pass' if v.passed else 'FAIL'}" + (f" - {v.summary}" if v.summary else "")
            )
            if v.engine_note:
                lines.append(f"      engine: {v.engine_note}")
            for f in v.findings:
                where = f" {f.file}" + (f":{f.line}" if f.line else "") if f.file else ""
                lines.append(f"      [{f.severity}]{where} {f.message}")
    lines += ["", *cost_lines(state.ledger.report())]
    if state.left_out:
        lines += ["", f"Left out (unavailable here): {', '.join(state.left_out)}"]
    if state.build_output:
        lines += ["", f"Not committed (build output and caches): {', '.join(state.build_output)}"]
    if not state.settings.check_commands and not state.settings.default_check:
        lines += ["", "Warning: the default check was off (--no-default-check); only the verifiers judged the work."]
    return "\n".join(lines)


def cost_lines(cost: CostReport) -> list[str]:
    """The spend per bucket, then per backend (whose model, in which bucket), then per agent."""
    lines = [
        "Cost:",
        f"  API (you pay per token; what --max-cost-usd limits): ${cost.api_usd:.4f}",
        f"  subscription (your CLIs' plans):                      ${cost.subscription_usd:.4f}",
        "  by backend:",
    ]
    lines += [f"    {_cost_row(c)}" for c in cost.by_provider()]
    lines.append("  by agent:")
    lines += [f"    {who:<24} {_cost_row(c)}" for who, c in sorted(cost.by_agent.items())]
    return lines


def _cost_row(c: AgentCost) -> str:
    u = c.usage
    tokens = u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_creation_tokens
    return f"{c.provider or 'unknown':<8} {c.bucket:<12} ${c.usd:.4f}  {c.calls} calls  {tokens} tokens"


def runs_table_rows(states: list[RunState]) -> list[tuple[str, str, str, str, str, str]]:
    return [
        (
            s.run_id,
            s.outcome.value if s.outcome else "running",
            str(s.cycle),
            f"${s.ledger.total('api'):.4f}",
            format_duration(s.elapsed_s),
            s.goal_title[:60],
        )
        for s in states
    ]


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")
