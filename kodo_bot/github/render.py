"""Every text kodo-bot posts on GitHub, as pure functions from data to Markdown.

Comments (progress, verification round, accepted summary, not-accepted, refusal, duplicate run), the draft
PR's body and the Actions step summary. Each comment starts with its hidden marker (``markers``) so a
retried or resumed run finds and edits it instead of posting it twice. Text written by models or people
goes through the ``_md`` helpers, so it cannot break the comment's structure or forge a marker.

Not here: deciding when to post (``progress.should_publish``), posting, and secrets. Secrets are never
inputs of these functions; callers still pass what they publish through ``redact.redact``, because text
quoted here (command output, summaries) comes from processes that may have seen one.
"""

from __future__ import annotations

from datetime import datetime

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import CheckResult, CostReport, Evidence, Finding, Outcome, Verdict
from kodo_bot.github import _md
from kodo_bot.github.config import LABEL_ACCEPTED, LABEL_FAILED, LABEL_NEEDS_HUMAN
from kodo_bot.github.markers import Lease, render_lease, render_marker
from kodo_bot.github.progress import ProgressState
from kodo_bot.github.trust import Refuse

_MAX_FINDINGS = 50
_MAX_FILES = 200
_PASS, _FAIL, _WAIT = "✅", "❌", "⏳"

_OUTCOME_TITLES = {
    Outcome.accepted: "accepted",
    Outcome.needs_human: "needs a person",
    Outcome.max_cycles: "stopped at the cycle limit",
    Outcome.budget_exhausted: "stopped: budget used up",
    Outcome.stopped: "stopped on request",
    Outcome.error: "failed with an error",
    Outcome.interrupted: "interrupted (resumable)",
}
_PHASES = {
    "starting": "starting",
    "planning": "the orchestrator is planning",
    "working": "agents are working",
    "checking": "running the check commands",
    "verifying": "verifiers are checking the work",
    "finished": "finished",
}


def label_for_outcome(outcome: Outcome) -> str | None:
    """The issue label a finished run leaves; None for an interrupted run, which is resumed, not ended."""
    if outcome is Outcome.accepted:
        return LABEL_ACCEPTED
    if outcome is Outcome.error:
        return LABEL_FAILED
    if outcome is Outcome.interrupted:
        return None
    return LABEL_NEEDS_HUMAN


def _run_line(
    run_id: str, *, job_url: str | None = None, branch: str = "", pr_number: int | None = None
) -> str:
    parts = [f"Run {_md.code_span(run_id)}"]
    if job_url:
        parts.append(f"[Actions run]({job_url})")
    if branch:
        parts.append(f"branch {_md.code_span(branch)}")
    if pr_number:
        parts.append(f"pull request #{pr_number}")
    return " · ".join(parts)


# -- progress ------------------------------------------------------------------------------------------


def render_progress(state: ProgressState, *, now: datetime | None = None, runner: str | None = None) -> str:
    """The issue's progress comment. With ``runner``, it also carries the lease, heartbeat ``now``."""
    heartbeat = now or state.heartbeat
    lines = [render_marker(state.run_id, "progress")]
    if runner and heartbeat is not None and not state.finished:
        lines.append(render_lease(Lease(run=state.run_id, heartbeat=heartbeat, runner=runner)))
    if state.outcome is not None:
        icon = _PASS if state.outcome is Outcome.accepted else _FAIL
        lines.append(f"### {icon} kodo-bot {_OUTCOME_TITLES[state.outcome]}")
    else:
        lines.append(f"### {_WAIT} kodo-bot is working on this issue")
    lines += ["", _run_line(state.run_id, job_url=state.job_url, branch=state.branch), ""]
    of = f" of {state.max_cycles}" if state.max_cycles else ""
    status = [f"**Cycle {state.cycle}{of}**" if state.cycle else "**Not started yet**", _PHASES[state.phase]]
    status.append(f"cost so far {_md.usd(state.cost_usd)}")
    status.append(f"last heartbeat {_md.when(heartbeat)}")
    lines.append(" · ".join(status))
    if state.outcome_reason:
        lines += ["", f"**Why it ended:** {_md.inline(state.outcome_reason)}"]
    if state.resumed:
        lines += ["", "_Resumed after the previous runner stopped; earlier work is kept on the branch._"]
    if state.active or state.verifying:
        lines += ["", "**Working now**"]
        lines += [f"- {_md.inline(a.agent, 60)}: {_md.inline(a.task, 160)}" for a in state.active]
        lines += [f"- {_md.inline(name, 60)}: verifying" for name in state.verifying]
    if state.rounds:
        lines += ["", "**Verdicts so far**"]
        lines += [_round_line(state, r.round) for r in state.rounds]
    if state.plan:
        lines += ["", "**Plan** (the orchestrator's latest words)", _md.quote(state.plan)]
    if state.notices:
        lines += ["", _md.details(f"Notices ({len(state.notices)})", "\n".join(
            f"- {_md.inline(n)}" for n in state.notices))]
    return _md.fit("\n".join(lines))


def _round_line(state: ProgressState, number: int) -> str:
    r = next(r for r in state.rounds if r.round == number)
    icon = _WAIT if r.accepted is None else (_PASS if r.accepted else _FAIL)
    verdicts = [v for v in state.verdicts if v.round == number]
    who = ", ".join(f"{_md.inline(v.verifier, 60)} {_PASS if v.passed else _FAIL}" for v in verdicts)
    if r.checks_passed is not None:
        who = f"checks {_PASS if r.checks_passed else _FAIL}" + (f", {who}" if who else "")
    line = f"- {icon} round {r.round} on {_md.short_sha(r.sha)} (cycle {r.cycle})"
    return f"{line}: {who}" if who else line


# -- a verification round ------------------------------------------------------------------------------


def render_verification_round(event: ev.VerificationFinished) -> str:
    """The PR comment for one round: checks, then every verifier's verdict, findings and evidence."""
    for tail in (3_000, 800, 200, 0):  # shrink command output until the comment fits GitHub's limit
        body = _verification_body(event, tail)
        if len(body) <= 65_000:
            return body
    return _md.fit(body)


def _verification_body(event: ev.VerificationFinished, tail: int) -> str:
    icon, result = (_PASS, "passed") if event.accepted else (_FAIL, "changes requested")
    lines = [
        render_marker(event.run_id, "verdicts", event.round),
        f"### {icon} Verification round {event.round}: {result}",
        "",
        f"Commit {_md.short_sha(event.sha)} · cycle {event.cycle} · {len(event.verdicts)} verifier(s)"
        + (f" · {_md.duration(event.wall_s)}" if event.wall_s else ""),
    ]
    if event.checks:
        lines += ["", "**Checks** (run by kodo-bot itself in a clean checkout)", ""]
        lines += [_check_line(c) for c in event.checks]
        failed = [c for c in event.checks if not c.passed and c.output_tail and tail]
        if failed:
            lines += ["", _md.details("Output of the failed checks", "\n\n".join(
                f"{_md.code_span(c.command)}\n\n{_md.code_block(c.output_tail, tail)}" for c in failed))]
    if event.verdicts:
        lines += ["", "| Verifier | Verdict | Findings | Commands run |", "| --- | --- | --- | --- |"]
        lines += [_verdict_row(v) for v in event.verdicts]
    for verdict in event.verdicts:
        lines += ["", _verdict_section(verdict, tail)]
    return "\n".join(lines)


def _check_line(check: CheckResult) -> str:
    icon = _PASS if check.passed else _FAIL
    took = f" in {_md.duration(check.duration_s)}" if check.duration_s else ""
    return f"- {icon} {_md.code_span(check.command)} exited {check.exit_code}{took}"


def _verdict_row(v: Verdict) -> str:
    worst = _worst(v.findings)
    findings = f"{len(v.findings)}" + (f" (worst: {worst})" if worst else "")
    failed = sum(1 for e in v.evidence if e.exit_code != 0)
    commands = f"{len(v.evidence)}" + (f" ({failed} non-zero)" if failed else "")
    verdict = f"{_PASS} passed" if v.passed else f"{_FAIL} rejected"
    return f"| {_md.inline(v.verifier, 60)} | {verdict} | {findings} | {commands} |"


_SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


def _worst(findings: tuple[Finding, ...]) -> str | None:
    severities = {f.severity for f in findings}
    return next((s for s in _SEVERITY_ORDER if s in severities), None)


def _verdict_section(v: Verdict, tail: int) -> str:
    icon, word = (_PASS, "passed") if v.passed else (_FAIL, "rejected")
    lines = [f"#### {icon} {_md.inline(v.verifier, 60)}: {word}"]
    if v.summary:
        lines += ["", _md.quote(v.summary, max_len=2_000)]
    if v.engine_note:
        lines += ["", f"**Note from kodo-bot:** {_md.inline(v.engine_note, 500)}"]
    if v.findings:
        lines += ["", "**Findings**", ""]
        lines += [_finding_line(f) for f in v.findings[:_MAX_FINDINGS]]
        if len(v.findings) > _MAX_FINDINGS:
            lines.append(f"- … and {len(v.findings) - _MAX_FINDINGS} more (see the run log)")
    lines += ["", _evidence_details(v.evidence, tail)]
    return "\n".join(lines)


def _finding_line(f: Finding) -> str:
    where = f.file or ""
    if where and f.line is not None:
        where = f"{where}:{f.line}"
    location = f" {_md.code_span(where)}" if where else ""
    return f"- **{f.severity}**{location} {_md.inline(f.message, 600)}"


def _evidence_details(evidence: tuple[Evidence, ...], tail: int) -> str:
    if not evidence:
        return "_No commands observed: this verdict rests on reading the code, not on running it._"
    items = []
    for e in evidence:
        status = "exit status unknown" if e.exit_code is None else f"exit {e.exit_code}"
        items.append(f"- {_md.code_span(e.command)} → {status}")
        if e.output_tail and tail:
            items.append("\n" + _indent(_md.code_block(e.output_tail, tail), "  ") + "\n")
    failed = sum(1 for e in evidence if e.exit_code != 0)
    summary = f"Evidence: {len(evidence)} command(s) run"
    summary += f", {failed} with non-zero exit" if failed else ""
    return _md.details(summary, "\n".join(items))


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def verification_status(event: ev.VerificationFinished) -> tuple[str, str]:
    """``(state, description)`` for the ``kodo/verification`` commit status (description ≤ 140 chars)."""
    passed = sum(1 for v in event.verdicts if v.passed)
    checks_failed = sum(1 for c in event.checks if not c.passed)
    text = f"round {event.round}: {passed}/{len(event.verdicts)} verifiers passed"
    if checks_failed:
        text += f", {checks_failed} check(s) failed"
    return ("success" if event.accepted else "failure"), text[:140]


# -- the end of a run ----------------------------------------------------------------------------------


def render_accepted(
    finished: ev.RunFinished, *, pr_number: int | None = None, job_url: str | None = None
) -> str:
    """The summary comment on the PR when verification accepted the work."""
    lines = [
        render_marker(finished.run_id, "summary"),
        f"### {_PASS} kodo-bot: accepted",
        "",
        _run_line(finished.run_id, job_url=job_url, branch=finished.branch, pr_number=pr_number),
        "",
        "**What changed and why**",
        _md.quote(finished.summary, empty="_(the run gave no summary)_"),
        "",
        _totals_table(finished),
    ]
    lines += ["", _files_details(finished.files_changed), "", _cost_details(finished.cost)]
    return _md.fit("\n".join(lines))


def render_not_accepted(
    finished: ev.RunFinished, *, label: str | None, pr_number: int | None = None, job_url: str | None = None
) -> str:
    """The comment on the issue when a run ended without acceptance: which outcome, why, what is left."""
    lines = [
        render_marker(finished.run_id, "outcome"),
        f"### {_FAIL} kodo-bot {_OUTCOME_TITLES[finished.outcome]}",
        "",
        _run_line(finished.run_id, job_url=job_url, branch=finished.branch, pr_number=pr_number),
        "",
        f"**Why:** {_md.inline(finished.reason, 500)}",
        "",
        "**What is done**",
        _md.quote(finished.summary, empty="_(no summary of finished work)_"),
        "",
        "**What is left, and notes for whoever takes over**",
        _md.quote(finished.handoff, empty="_(no hand-off notes)_"),
        "",
        _totals_table(finished),
    ]
    if finished.head_sha:
        lines += ["", f"Everything committed is on {_md.code_span(finished.branch)} at "
                  f"{_md.short_sha(finished.head_sha)}; nothing was discarded."]
    if label:
        lines += ["", f"I labelled the issue {_md.code_span(label)} so a person picks it up."]
    lines += ["", _files_details(finished.files_changed), "", _cost_details(finished.cost)]
    return _md.fit("\n".join(lines))


def _totals_table(f: ev.RunFinished) -> str:
    cost = f"{_md.usd(f.cost.api_usd)} API · {_md.usd(f.cost.subscription_usd)} subscription"
    return "\n".join([
        "| Cycles | Verification rounds | Duration | Cost |",
        "| --- | --- | --- | --- |",
        f"| {f.cycles} | {f.rounds} | {_md.duration(f.duration_s)} | {cost} |",
    ])


def _files_details(files: list[str]) -> str:
    if not files:
        return "_No files changed._"
    items = [f"- {_md.code_span(p)}" for p in files[:_MAX_FILES]]
    if len(files) > _MAX_FILES:
        items.append(f"- … and {len(files) - _MAX_FILES} more")
    return _md.details(f"Files changed ({len(files)})", "\n".join(items))


def _cost_details(cost: CostReport) -> str:
    rows = ["| Role | Bucket | Calls | Tokens in / out | Cost |", "| --- | --- | --- | --- | --- |"]
    for role, c in sorted(cost.by_agent.items()):
        tokens = f"{c.usage.input_tokens:,} / {c.usage.output_tokens:,}"
        rows.append(f"| {_md.inline(role, 60)} | {c.bucket} | {c.calls} | {tokens} | {_md.usd(c.usd)} |")
    total = cost.api_usd + cost.subscription_usd
    rows.append(f"| **total** | | | | **{_md.usd(total)}** |")
    note = ("API cost is billed per token; subscription cost is what the same usage would cost at API "
            "prices, covered by the Claude subscription.")
    return _md.details(f"Cost by role ({len(cost.by_agent)} roles)", "\n".join(rows) + "\n\n" + note)


# -- runs that do not start -----------------------------------------------------------------------------


def render_refusal(decision: Refuse, *, run_id: str) -> str:
    """The one polite comment for a refused trigger. ``run_id`` names the attempt (e.g. the Actions run)."""
    return f"{render_marker(run_id, 'refused')}\n{decision.comment}"


def render_duplicate(*, run_id: str, holder: Lease, progress_url: str | None = None) -> str:
    """A second trigger while another run holds a live lease: point at that run, start nothing."""
    where = f"[its progress comment]({progress_url})" if progress_url else "its progress comment above"
    return "\n".join([
        render_marker(run_id, "duplicate"),
        f"kodo-bot is already working on this issue (run {_md.code_span(holder.run)} on "
        f"{_md.code_span(holder.runner or 'a runner')}, last heartbeat {_md.when(holder.heartbeat)}), "
        f"so this trigger did not start a second run. Follow {where}.",
        "",
        "If that run has stopped, a new trigger takes over once its heartbeat is stale, and resumes "
        "from what its branch holds.",
    ])


# -- the pull request and the step summary ----------------------------------------------------------------


def render_pr_body(*, state: ProgressState, issue_number: int, goal: str) -> str:
    """The draft PR's body: ``Closes #N``, the goal, and a status section kept current."""
    safe_goal = _md.defuse_references(_md.quote(goal, max_len=20_000))
    if state.outcome is Outcome.accepted:
        status = f"{_PASS} Accepted by verification: ready for review."
    elif state.outcome is not None:
        status = f"{_FAIL} {_OUTCOME_TITLES[state.outcome].capitalize()}: {_md.inline(state.outcome_reason)}"
    else:
        status = f"{_WAIT} Work in progress ({_PHASES[state.phase]})."
    lines = [
        render_marker(state.run_id, "pr"),
        f"Closes #{issue_number}",
        "",
        "_Opened by kodo-bot. It stays a draft until independent verifiers accept the work._",
        "",
        "## Status",
        "",
        status,
        "",
        f"- {_run_line(state.run_id, job_url=state.job_url, branch=state.branch)}",
        f"- cycle {state.cycle}" + (f" of {state.max_cycles}" if state.max_cycles else "")
        + f", {state.commits} commit(s), head {_md.short_sha(state.head_sha)}",
    ]
    lines += [_round_line(state, r.round) for r in state.rounds]
    lines += ["", "## Goal", "", _md.details(f"The goal, from issue #{issue_number}", safe_goal)]
    return _md.fit("\n".join(lines))


def render_step_summary(
    *,
    repo: str,
    issue_number: int | None,
    finished: ev.RunFinished | None = None,
    note: str = "",
    pr_url: str | None = None,
    progress_url: str | None = None,
) -> str:
    """The Actions job summary. Without ``finished`` (ignored or refused trigger) it states ``note``.

    It carries no marker: it is a file of the job, never searched for or edited like a comment.
    """
    lines = ["## kodo-bot", ""]
    target = f"{_md.inline(repo)}#{issue_number}" if issue_number else _md.inline(repo)
    if finished is None:
        lines.append(f"No run started for {target}: {_md.inline(note, 500) or 'nothing to do'}.")
        return "\n".join(lines)
    icon = _PASS if finished.outcome is Outcome.accepted else _FAIL
    lines += [f"{icon} **{_OUTCOME_TITLES[finished.outcome]}** for {target}", ""]
    lines.append(f"- run {_md.code_span(finished.run_id)}, reason: {_md.inline(finished.reason, 300)}")
    if pr_url:
        lines.append(f"- pull request: {pr_url}")
    if progress_url:
        lines.append(f"- progress comment: {progress_url}")
    if note:
        lines.append(f"- {_md.inline(note, 500)}")
    lines += ["", _totals_table(finished), "", _cost_details(finished.cost)]
    return "\n".join(lines)
