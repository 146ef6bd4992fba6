"""The morning report: one compact Markdown result of a run, for whoever reviews it after the night.

What was asked and whether each of its criteria holds (from the verifiers' findings), the commits of each
cycle, every check command with its exit code (the engine's and each verifier's), the cost per bucket, what
blocks the work, and the exact way to continue. ``kodo-bot report`` prints it; on GitHub its sections are the
run's final pull request comment, for every outcome (``github.render``).

Pure: run facts in, text out. :class:`RunFacts` reads them from a local run's state or from what a GitHub
run's sink saw, so both say the same. Every text a model or a person wrote goes through ``markdown``'s
helpers: the same report is a comment where such text must not change the structure or ping anyone.

The goal's criteria are its list items (``-``, ``*``, ``1.``, ``- [ ]``), or the goal's title when it has
none. A criterion counts as not met when a finding of the last round names it (shares most of its words): a
heuristic, and the report says so. Deliberately not here: posting it, or reading files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from kodo_bot import markdown as md
from kodo_bot.engine import events as ev
from kodo_bot.engine.models import CostReport, Finding, Outcome, PointAnswer, ReviewPoint, Verdict
from kodo_bot.engine.state import RunState

_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.+?)\s*$")
_WORD = re.compile(r"[a-z0-9_]{4,}")
_COMMON = {"that", "this", "with", "from", "should", "must", "when", "have", "into", "each", "every", "there"}
_SEVERITY = ("critical", "high", "medium", "low", "info")
#: a verifier's commands shown per round: the report stays compact; the run's log keeps them all
_EVIDENCE_SHOWN = 6
#: the events the report reads (a GitHub sink keeps only these)
KEPT = (ev.RunStarted, ev.CycleCommitted, ev.VerificationFinished, ev.Notice, ev.RunFinished)

Where = Literal["local", "github"]


@dataclass(frozen=True)
class RunFacts:
    """What the report says about one run."""

    run_id: str
    goal: str
    goal_title: str
    branch: str
    outcome: Outcome | None
    reason: str
    head_sha: str | None
    cycles: int
    elapsed_s: float
    cost: CostReport
    max_cost_usd: float | None = None
    max_minutes: float | None = None
    orchestrator: str = ""
    #: the default check was off and no check command was set: only the verifiers judged the work
    unchecked: bool = False
    events: Sequence[ev.Event] = field(default_factory=tuple)
    #: what people asked of the work (review comments, CI failures), which the verifiers answered
    points: Sequence[ReviewPoint] = ()

    @classmethod
    def of_state(cls, state: RunState, events: Sequence[ev.Event]) -> RunFacts:
        s = state.settings
        return cls(
            run_id=state.run_id,
            goal=state.goal,
            goal_title=state.goal_title,
            branch=state.branch,
            outcome=state.outcome,
            reason=state.reason,
            head_sha=state.head_sha,
            cycles=state.cycle,
            elapsed_s=state.elapsed_s,
            cost=state.ledger.report(),
            max_cost_usd=s.max_cost_usd,
            max_minutes=s.max_minutes,
            orchestrator=s.orchestrator,
            unchecked=not s.check_commands and not s.default_check,
            events=events,
            points=state.review_points,
        )

    @classmethod
    def of_finished(
        cls,
        finished: ev.RunFinished,
        *,
        goal: str,
        events: Sequence[ev.Event],
        points: Sequence[ReviewPoint] = (),
    ) -> RunFacts:
        """From the run's end and the events before it (a GitHub run's: its state lives with the engine)."""
        started = next((e for e in reversed(events) if isinstance(e, ev.RunStarted)), None)
        return cls(
            run_id=finished.run_id,
            goal=goal,
            goal_title=started.goal_title if started else goal.splitlines()[0] if goal else "",
            branch=finished.branch,
            outcome=finished.outcome,
            reason=finished.reason,
            head_sha=finished.head_sha,
            cycles=finished.cycles,
            elapsed_s=finished.duration_s,
            cost=finished.cost,
            max_cost_usd=started.max_cost_usd if started else None,
            max_minutes=started.max_minutes if started else None,
            events=events,
            points=points,
        )

    @property
    def rounds(self) -> list[ev.VerificationFinished]:
        return [e for e in self.events if isinstance(e, ev.VerificationFinished)]


def render_morning_report(state: RunState, events: Sequence[ev.Event]) -> str:
    """The report ``kodo-bot report`` prints: a heading, then :func:`report_sections`."""
    facts = RunFacts.of_state(state, events)
    outcome = facts.outcome.value if facts.outcome else "running"
    head = f" at {md.short_sha(facts.head_sha)}" if facts.head_sha else ""
    lines = [
        f"## kodo-bot run {md.code_span(facts.run_id)}: **{outcome}**"
        + (f" ({md.inline(facts.reason)})" if facts.reason else ""),
        "",
        f"**Goal:** {md.inline(facts.goal_title)}  ",
        f"**Branch:** {md.code_span(facts.branch)}{head} · {facts.cycles} cycle(s), "
        f"{len(facts.rounds)} verification round(s), {md.duration(facts.elapsed_s)} · "
        f"orchestrator {md.code_span(facts.orchestrator)}",
        "",
        *report_sections(facts, where="local"),
    ]
    return "\n".join(lines).rstrip() + "\n"


def report_sections(facts: RunFacts, *, where: Where, heading: str = "###") -> list[str]:
    """What was asked, commits, checks, cost, blockers, warnings and how to continue, as Markdown lines."""
    rounds = facts.rounds
    last = rounds[-1] if rounds else None
    sections = [
        _criteria_lines(facts, last),
        _commit_lines(facts.events),
        _check_lines(rounds),
        _cost_lines(facts),
        _blocker_lines(facts, last),
        _warning_lines(facts) if where == "local" else [],  # a comment states them above its sections
        _continue_lines(facts, where),
    ]
    lines: list[str] = []
    for title, *body in (s for s in sections if s):
        lines += [f"{heading} {title}", *body, ""]
    return lines[:-1]


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


def _criteria_lines(facts: RunFacts, last: ev.VerificationFinished | None) -> list[str]:
    lines = ["What was asked"]
    findings = [f for v in (last.verdicts if last else []) if not v.passed for f in v.findings]
    for item in criteria(facts.goal, facts.goal_title):
        against = [f for f in findings if _names(item, f)]
        if last is None:
            mark = "not verified yet"
        elif last.accepted:
            mark = f"{md.PASS} met (all verifiers passed)"
        elif against:
            mark = f"{md.FAIL} NOT met: " + "; ".join(_finding(f) for f in against[:2])
        elif not last.verdicts and any(c.exit_code != 0 for c in last.checks):
            mark = "not judged: a check failed, so no verifier was asked"
        else:
            mark = "no finding names it (the round was rejected on other grounds)"
        lines.append(f"- {md.inline(item)} — {mark}")
    lines += _point_lines(facts.points, last.verdicts if last else [])
    if last is not None and not last.accepted:
        lines += ["", "_Criteria are matched to the last round's findings by their words._"]
    return lines


def _point_lines(points: Sequence[ReviewPoint], verdicts: list[Verdict]) -> list[str]:
    """Each review point once: who asked what, and whether every verifier found it addressed."""
    answers: dict[str, list[tuple[str, PointAnswer]]] = {}
    for v in verdicts:
        for a in v.points:
            answers.setdefault(a.id, []).append((v.verifier, a))
    asked = {p.id: p for p in points}
    lines = []
    for point_id in [*asked, *(i for i in answers if i not in asked)]:
        said = answers.get(point_id, [])
        if (p := asked.get(point_id)) is not None:
            where = f" on {md.code_span(p.file + (f':{p.line}' if p.line else ''))}" if p.file else ""
            what = f"{md.inline(p.author, 60)}{where}: “{md.inline(p.text.splitlines()[0] if p.text else '', 100)}”"
        else:
            what = md.code_span(point_id, 80)
        if not said:
            mark = "not answered yet"
        elif all(a.addressed for _, a in said):
            mark = f"{md.PASS} addressed ({', '.join(md.inline(who, 60) for who, _ in said)})"
        else:
            mark = f"{md.FAIL} NOT addressed: " + "; ".join(
                f"{md.inline(who, 60)}: {md.inline(a.how, 200) or 'no answer'}" for who, a in said if not a.addressed
            )
        lines.append(f"- review point by {what} — {mark}")
    return lines


def _commit_lines(events: Sequence[ev.Event]) -> list[str]:
    commits = {e.cycle: e for e in events if isinstance(e, ev.CycleCommitted)}  # a resumed cycle: its last
    if not commits:
        return ["Commits", "- none"]
    return ["Commits"] + [
        f"- cycle {n}: {md.short_sha(c.sha)} {md.inline(c.summary.splitlines()[0] if c.summary else '', 120)} "
        f"({len(c.files_changed)} file{'s' if len(c.files_changed) != 1 else ''})"
        for n, c in sorted(commits.items())
    ]


def _check_lines(rounds: list[ev.VerificationFinished]) -> list[str]:
    lines = ["Checks"]
    for r in rounds:
        verdicts = (
            ", ".join(f"{md.inline(v.verifier, 60)} {'pass' if v.passed else 'FAIL'}" for v in r.verdicts)
            or "no verifier"
        )
        lines.append(
            f"- round {r.round} on {md.short_sha(r.sha)}: {'accepted' if r.accepted else 'rejected'} ({verdicts})"
        )
        lines += [
            f"  - {_command(c.command)}{' (detected)' if c.source == 'detected' else ''}: exit {c.exit_code}"
            for c in r.checks
        ]
        if not r.checks:
            lines.append("  - no check command ran")
        lines += _evidence_lines(r.verdicts)
    return lines if rounds else lines + ["- no verification round yet"]


def _evidence_lines(verdicts: list[Verdict]) -> list[str]:
    """What each verifier ran, as the engine saw it (never its prose): the exit code, or why it has none."""
    lines = []
    for v in verdicts:
        ran = [
            f"{_command(e.command)} exit {e.exit_code if e.exit_code is not None else 'unknown'}"
            + (" (the checkout was edited while it ran)" if e.edited else "")
            for e in v.evidence
        ]
        more = f", and {len(ran) - _EVIDENCE_SHOWN} more" if len(ran) > _EVIDENCE_SHOWN else ""
        if ran:
            lines.append(f"  - {md.inline(v.verifier, 60)} ran: " + "; ".join(ran[:_EVIDENCE_SHOWN]) + more)
        if v.screenshots:  # the round's comment shows them
            pages = sorted({s.url for s in v.screenshots if s.url})
            seen = f" of {', '.join(md.code_span(u, 100) for u in pages[:3])}" if pages else ""
            lines.append(f"  - {md.inline(v.verifier, 60)} took {len(v.screenshots)} screenshot(s){seen}")
    return lines


def _command(command: str) -> str:
    return md.code_span(command.splitlines()[0] + (" …" if "\n" in command.strip() else ""), 120)


def _cost_lines(facts: RunFacts) -> list[str]:
    cost = facts.cost
    agents = ", ".join(f"{md.inline(who, 60)} {md.usd(c.usd)}" for who, c in sorted(cost.by_agent.items()) if c.usd)
    backends = ", ".join(f"{c.provider or 'unknown'} {md.usd(c.usd)} ({c.bucket})" for c in cost.by_provider() if c.usd)
    return [
        "Cost",
        f"- API (paid per token): {md.usd(cost.api_usd)}"
        + (f" of {md.usd(facts.max_cost_usd)}" if facts.max_cost_usd else ""),
        f"- subscription (the agents' CLI plans): {md.usd(cost.subscription_usd)}",
        *([f"- per backend: {backends}"] if backends else []),
        *([f"- per agent: {agents}"] if agents else []),
    ]


def _blocker_lines(facts: RunFacts, last: ev.VerificationFinished | None) -> list[str]:
    if facts.outcome is Outcome.accepted:
        return ["Blockers", "- none"]
    found: list[str] = []
    if last is not None and not last.accepted:
        found += [f"{_command(c.command)} exits {c.exit_code}" for c in last.checks if c.exit_code != 0]
        failed: list[Verdict] = [v for v in last.verdicts if not v.passed]
        for v in failed:
            ranked = sorted(v.findings, key=lambda f: _SEVERITY.index(f.severity))
            found += [f"{md.inline(v.verifier, 60)}: {_finding(f)}" for f in ranked[:5]]
            if v.engine_note:
                found.append(f"{md.inline(v.verifier, 60)} (engine): {md.inline(v.engine_note)}")
    found += [md.inline(e.message) for e in facts.events if isinstance(e, ev.Notice) and e.level == "error"][-3:]
    if facts.outcome is not None and facts.reason:
        found.append(f"the run ended: {md.inline(facts.reason, 500)}")
    return ["Blockers"] + [f"- {b}" for b in found or ["none recorded"]]


def _warning_lines(facts: RunFacts) -> list[str]:
    warnings = next((e.warnings for e in reversed(facts.events) if isinstance(e, ev.RunFinished)), [])
    if facts.unchecked and not warnings:
        warnings = ["the default check was off (--no-default-check); only the verifiers judged the work"]
    return ["Warnings"] + [f"- {md.inline(w, 500)}" for w in warnings] if warnings else []


def _continue_lines(facts: RunFacts, where: Where) -> list[str]:
    branch = md.code_span(facts.branch)
    if facts.outcome is Outcome.accepted:
        review = "the pull request" if where == "github" else f"branch {branch}"
        return ["Next", f"- Review and merge {review}: verification accepted it."]
    if where == "github":
        return ["How to continue", f"- {_on_github(facts)}"]
    return ["How to continue", f"- locally: {_locally(facts)}", f"- on GitHub: {_on_github(facts)}"]


def _locally(facts: RunFacts) -> str:
    rid, branch = facts.run_id, md.code_span(facts.branch)
    match facts.outcome:
        case Outcome.max_cycles:
            return f"`kodo-bot resume {rid} --cycles {facts.cycles + 5}`"
        case Outcome.budget_exhausted:
            spent, timed = _limits_hit(facts)
            flags = [f"--max-cost-usd {2 * (facts.max_cost_usd or 0):.2f}"] if spent else []
            flags += (
                [f"--max-minutes {max(2 * (facts.max_minutes or 0), facts.elapsed_s / 60 + 30):.0f}"] if timed else []
            )
            return f"`kodo-bot resume {rid} {' '.join(flags)}`"
        case Outcome.needs_human:
            return f"a person takes over from branch {branch} (`kodo-bot resume` does not continue it)"
        case Outcome.stopped:
            return f"a person takes over from branch {branch}"
        case _:  # still running, interrupted, or an error: resumable as it is
            return f"`kodo-bot resume {rid}`"


def _on_github(facts: RunFacts) -> str:
    retry = "`/kodo retry` on the issue or pull request"
    match facts.outcome:
        case Outcome.max_cycles:
            return f"{retry}: a new run continues from the branch with a fresh cycle allowance"
        case Outcome.budget_exhausted:
            spent, timed = _limits_hit(facts)
            keys = [k for k, hit in (("max_cost_usd", spent), ("max_minutes", timed)) if hit] or ["max_minutes"]
            raised = " and ".join(f"`budgets.{k}`" for k in keys)
            return f"raise {raised} in `.github/kodo.yml` (or the action's input), then {retry}"
        case Outcome.stopped:
            return "mention the bot on the pull request with what to do (`@bot ...`): a follow-up on this branch"
        case None | Outcome.interrupted:
            return "nothing to do: the next trigger on the issue resumes the run where it stopped"
        case _:
            return retry + " (after fixing what the blockers name)"


def _limits_hit(facts: RunFacts) -> tuple[bool, bool]:
    """Which limit stopped the run (as ``resume`` decides): the spend, the time, or both (each must be raised)."""
    spent = facts.max_cost_usd is not None and facts.cost.api_usd >= facts.max_cost_usd
    timed = facts.max_minutes is not None and (facts.elapsed_s >= facts.max_minutes * 60 or not spent)
    return spent, timed


def _finding(f: Finding) -> str:
    where = f" {md.code_span(f.file + (f':{f.line}' if f.line else ''))}" if f.file else ""
    return f"[{f.severity}]{where} {md.inline(f.message, 400)}"
