"""The morning report: one compact Markdown result of a run, for whoever reviews it after the night.

What was asked and whether each of its criteria holds (from the verifiers' findings), the commits of each
cycle, every check command with its exit code, the cost per bucket, what blocks the work, and the exact way
to continue. ``kodo-bot report`` prints it; it is written to read the same as a PR comment.

Pure: run state and events in, text out. The goal's criteria are its list items (``-``, ``*``, ``1.``,
``- [ ]``), or the goal's title when it has none. A criterion counts as not met when a finding of the last
round names it (shares most of its words): a heuristic, and the report says so. Deliberately not here:
posting it (the GitHub layer's), or reading files.
"""

from __future__ import annotations

import re

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Finding, Outcome, Verdict
from kodo_bot.engine.state import RunState
from kodo_bot.report import format_duration

_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.+?)\s*$")
_WORD = re.compile(r"[a-z0-9_]{4,}")
_COMMON = {"that", "this", "with", "from", "should", "must", "when", "have", "into", "each", "every", "there"}
_SEVERITY = ("critical", "high", "medium", "low", "info")


def criteria(goal: str, title: str) -> list[str]:
    """The goal's list items; else the sentences of its text (headings aside, at most 8); else its title."""
    lines = goal.splitlines()
    items = [m.group(1) for line in lines if (m := _ITEM.match(line))]
    if items:
        return items
    prose = " ".join(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", prose) if len(s.strip()) > 3]
    return sentences[:8] or [title]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower())) - _COMMON


def _names(criterion: str, finding: Finding) -> bool:
    wanted = _words(criterion)
    said = _words(f"{finding.file or ''} {finding.message}")
    return bool(wanted) and len(wanted & said) >= max(1, min(3, (len(wanted) + 1) // 2))


def render_morning_report(state: RunState, events: list[ev.Event]) -> str:
    rounds = [e for e in events if isinstance(e, ev.VerificationFinished)]
    last = rounds[-1] if rounds else None
    outcome = state.outcome.value if state.outcome else "running"
    head = f" at `{state.head_sha[:12]}`" if state.head_sha else ""
    lines = [
        f"## kodo-bot run `{state.run_id}`: **{outcome}**" + (f" ({state.reason})" if state.reason else ""),
        "",
        f"**Goal:** {state.goal_title}  ",
        f"**Branch:** `{state.branch}`{head} · {state.cycle} cycle(s), {len(rounds)} verification round(s), "
        f"{format_duration(state.elapsed_s)} · orchestrator `{state.settings.orchestrator}`",
        "",
        *_criteria_lines(state, last),
        "",
        *_commit_lines(events),
        "",
        *_check_lines(rounds),
        "",
        *_cost_lines(state),
        "",
        *_blocker_lines(state, events, last),
        *_warning_lines(state, events),
        "",
        *_continue_lines(state),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _criteria_lines(state: RunState, last: ev.VerificationFinished | None) -> list[str]:
    lines = ["### What was asked"]
    findings = [f for v in (last.verdicts if last else []) if not v.passed for f in v.findings]
    for item in criteria(state.goal, state.goal_title):
        against = [f for f in findings if _names(item, f)]
        if last is None:
            mark = "not verified yet"
        elif last.accepted:
            mark = "met (all verifiers passed)"
        elif against:
            mark = "NOT met: " + "; ".join(_finding(f) for f in against[:2])
        elif not last.verdicts and any(c.exit_code != 0 for c in last.checks):
            mark = "not judged: a check failed, so no verifier was asked"
        else:
            mark = "no finding names it (the round was rejected on other grounds)"
        lines.append(f"- {item} — {mark}")
    for v in last.verdicts if last else []:
        lines += [
            f"- review point {p.id}: {'addressed' if p.addressed else 'NOT addressed'} ({v.verifier})" for p in v.points
        ]
    if last is not None and not last.accepted:
        lines.append("_Criteria are matched to the last round's findings by their words._")
    return lines


def _commit_lines(events: list[ev.Event]) -> list[str]:
    commits = {e.cycle: e for e in events if isinstance(e, ev.CycleCommitted)}  # a resumed cycle: its last
    if not commits:
        return ["### Commits", "- none"]
    return ["### Commits"] + [
        f"- cycle {n}: `{c.sha[:10]}` {c.summary.splitlines()[0] if c.summary else ''} "
        f"({len(c.files_changed)} file{'s' if len(c.files_changed) != 1 else ''})"
        for n, c in sorted(commits.items())
    ]


def _check_lines(rounds: list[ev.VerificationFinished]) -> list[str]:
    lines = ["### Checks"]
    for r in rounds:
        verdicts = ", ".join(f"{v.verifier} {'pass' if v.passed else 'FAIL'}" for v in r.verdicts) or "no verifier"
        lines.append(f"- round {r.round} on `{r.sha[:10]}`: {'accepted' if r.accepted else 'rejected'} ({verdicts})")
        lines += [
            f"  - `{c.command}`{' (detected)' if c.source == 'detected' else ''}: exit {c.exit_code}" for c in r.checks
        ]
        if not r.checks:
            lines.append("  - no check command ran")
    return lines if rounds else lines + ["- no verification round yet"]


def _cost_lines(state: RunState) -> list[str]:
    cost = state.ledger.report()
    agents = ", ".join(f"{who} ${c.usd:.4f}" for who, c in sorted(cost.by_agent.items()) if c.usd)
    return [
        "### Cost",
        f"- API (paid per token): ${cost.api_usd:.4f}"
        + (f" of ${state.settings.max_cost_usd:.2f}" if state.settings.max_cost_usd else ""),
        f"- subscription (Claude Code): ${cost.subscription_usd:.4f}",
    ] + ([f"- per agent: {agents}"] if agents else [])


def _blocker_lines(state: RunState, events: list[ev.Event], last: ev.VerificationFinished | None) -> list[str]:
    if state.outcome is Outcome.accepted:
        return ["### Blockers", "- none"]
    found: list[str] = []
    if last is not None and not last.accepted:
        found += [f"`{c.command}` exits {c.exit_code}" for c in last.checks if c.exit_code != 0]
        failed: list[Verdict] = [v for v in last.verdicts if not v.passed]
        for v in failed:
            ranked = sorted(v.findings, key=lambda f: _SEVERITY.index(f.severity))
            found += [f"{v.verifier}: {_finding(f)}" for f in ranked[:5]]
            if v.engine_note:
                found.append(f"{v.verifier} (engine): {v.engine_note}")
    found += [e.message for e in events if isinstance(e, ev.Notice) and e.level == "error"][-3:]
    if state.outcome is not None and state.reason:
        found.append(f"the run ended: {state.reason}")
    return ["### Blockers"] + [f"- {b}" for b in found or ["none recorded"]]


def _warning_lines(state: RunState, events: list[ev.Event]) -> list[str]:
    warnings = next((e.warnings for e in reversed(events) if isinstance(e, ev.RunFinished)), [])
    if not state.settings.check_commands and not state.settings.default_check and not warnings:
        warnings = ["the default check was off (--no-default-check); only the verifiers judged the work"]
    return ["", "### Warnings"] + [f"- {w}" for w in warnings] if warnings else []


def _continue_lines(state: RunState) -> list[str]:
    rid, s = state.run_id, state.settings
    local: str
    github = "`/kodo retry` on the issue or pull request"
    match state.outcome:
        case Outcome.accepted:
            return ["### Next", f"- Review and merge branch `{state.branch}`: verification accepted it."]
        case None | Outcome.interrupted | Outcome.error:
            local = f"`kodo-bot resume {rid}`"
        case Outcome.max_cycles:
            local = f"`kodo-bot resume {rid} --cycles {state.cycle + 5}`"
        case Outcome.budget_exhausted:
            # as `resume` decides which limit stopped it: the spend, the time, or both (each must be raised)
            spent = s.max_cost_usd is not None and state.ledger.total("api") >= s.max_cost_usd
            timed = s.max_minutes is not None and (state.elapsed_s >= s.max_minutes * 60 or not spent)
            flags = [f"--max-cost-usd {2 * (s.max_cost_usd or 0):.2f}"] if spent else []
            flags += [f"--max-minutes {max(2 * (s.max_minutes or 0), state.elapsed_s / 60 + 30):.0f}"] if timed else []
            local = f"`kodo-bot resume {rid} {' '.join(flags)}`"
        case Outcome.needs_human:
            local = f"a person takes over from branch `{state.branch}` (`kodo-bot resume` does not continue it)"
        case Outcome.stopped:
            local = f"a person takes over from branch `{state.branch}`"
            github = "mention the bot on the pull request with what to do (`@bot ...`): a follow-up on this branch"
    return ["### How to continue", f"- locally: {local}", f"- on GitHub: {github}"]


def _finding(f: Finding) -> str:
    where = f" `{f.file}{f':{f.line}' if f.line else ''}`" if f.file else ""
    return f"[{f.severity}]{where} {f.message}"
