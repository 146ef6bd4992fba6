"""Every text kodo-bot posts on GitHub, as pure functions from data to Markdown.

Comments (progress, verification round, accepted summary, not-accepted, refusal), the draft PR's body and the
Actions step summary (which alone says when a trigger was a duplicate: those change nothing on GitHub). Each
comment starts with its hidden marker (``markers``) so a retried or resumed run finds and edits it instead of
posting it twice. Text written by models or people goes through the ``_md`` helpers, so it cannot break the
comment's structure or forge a marker.

Not here: deciding when to post (``progress.should_publish``), posting, and secrets. Secrets are never
inputs of these functions; callers still pass what they publish through ``redact.redact`` (it sees through
the escapes added here), because text quoted here (command output, summaries) comes from processes that
may have seen one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from kodo_bot import markdown as _md
from kodo_bot.engine import events as ev
from kodo_bot.engine.models import AgentCost, CostReport, Outcome, PointAnswer
from kodo_bot.github._round import render_verification_round, verification_status
from kodo_bot.github.config import LABEL_ACCEPTED, LABEL_FAILED, LABEL_NEEDS_HUMAN
from kodo_bot.github.markers import Lease, render_claim, render_lease, render_marker, render_taken
from kodo_bot.github.progress import ProgressState
from kodo_bot.github.trust import Refuse
from kodo_bot.morning import RunFacts, report_sections

__all__ = [
    "label_for_outcome",
    "render_accepted",
    "render_not_accepted",
    "render_pr_body",
    "render_progress",
    "render_refusal",
    "render_step_summary",
    "render_verification_round",
    "verification_status",
    "with_warning",
]

_MAX_FILES = 200
_PASS, _FAIL, _WAIT = _md.PASS, _md.FAIL, _md.WAIT

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
    "accepted": "verification accepted the work; finishing",
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


def _run_line(run_id: str, *, job_url: str | None = None, branch: str = "", pr_number: int | None = None) -> str:
    parts = [f"Run {_md.code_span(run_id)}"]
    if job_url:
        parts.append(f"[Actions run]({job_url})")
    if branch:
        parts.append(f"branch {_md.code_span(branch)}")
    if pr_number:
        parts.append(f"pull request #{pr_number}")
    return " · ".join(parts)


# -- progress ------------------------------------------------------------------------------------------


def render_progress(
    state: ProgressState, *, now: datetime | None = None, runner: str | None = None, pr_number: int | None = None
) -> str:
    """The issue's progress comment. With ``runner``, it also carries the lease, heartbeat ``now``; with
    ``pr_number``, where the run's final report is.

    A finished run's comment carries no lease: editing it for the last time releases the issue.
    """
    heartbeat = now or state.heartbeat
    lines = [render_marker(state.run_id, "progress")]
    if state.claim:
        lines.append(render_claim(state.claim))
    if state.taken:
        lines.append(render_taken(state.taken))
    if runner and heartbeat is not None and not state.finished:
        lines.append(render_lease(Lease(run=state.run_id, heartbeat=heartbeat, runner=runner)))
    if state.outcome is not None:
        icon = _PASS if state.outcome is Outcome.accepted else _FAIL
        lines.append(f"### {icon} kodo-bot {_OUTCOME_TITLES[state.outcome]}")
    else:
        lines.append(f"### {_WAIT} kodo-bot is working on this issue")
    lines += ["", _run_line(state.run_id, job_url=state.job_url, branch=state.branch, pr_number=pr_number), ""]
    lines.append(_status_line(state, now, heartbeat))
    if state.finished and pr_number:
        lines += ["", f"The report (what holds, what does not, how to continue) is on pull request #{pr_number}."]
    lines += _progress_sections(state)
    return _md.fit("\n".join(lines))


def _status_line(state: ProgressState, now: datetime | None, heartbeat: datetime | None) -> str:
    of = f" of {state.max_cycles}" if state.max_cycles else ""
    status = [f"**Cycle {state.cycle}{of}**" if state.cycle else "**Not started yet**", _PHASES[state.phase]]
    if now and state.started_at and not state.finished:
        status.append(f"running for {_md.duration((now - state.started_at).total_seconds())}")
    status.append(f"cost so far {_md.usd(state.cost_usd)}")
    status.append(f"last heartbeat {_md.when(heartbeat)}")
    return " · ".join(status)


def _progress_sections(state: ProgressState) -> list[str]:
    """The parts shown only when there is something to say: why it ended, who works, verdicts, plan, notices."""
    lines: list[str] = []
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
        lines += [
            "",
            _md.details(f"Notices ({len(state.notices)})", "\n".join(f"- {_md.inline(n)}" for n in state.notices)),
        ]
    return lines


def _round_line(state: ProgressState, number: int) -> str:
    r = next(r for r in state.rounds if r.round == number)
    icon = _WAIT if r.accepted is None else (_PASS if r.accepted else _FAIL)
    verdicts = [v for v in state.verdicts if v.round == number]
    who = ", ".join(f"{_md.inline(v.verifier, 60)} {_PASS if v.passed else _FAIL}" for v in verdicts)
    if r.checks_passed is not None:
        who = f"checks {_PASS if r.checks_passed else _FAIL}" + (f", {who}" if who else "")
    line = f"- {icon} round {r.round} on {_md.short_sha(r.sha)} (cycle {r.cycle})"
    return f"{line}: {who}" if who else line


# -- the end of a run ----------------------------------------------------------------------------------


def render_accepted(
    finished: ev.RunFinished,
    *,
    pr_number: int | None = None,
    job_url: str | None = None,
    review: list[str] | None = None,
    facts: RunFacts | None = None,
    artifact: str | None = None,
) -> str:
    """The summary comment on the PR when verification accepted the work; ``review``: the lines of its
    "Review round N" section (``render_review_round``), for a follow-up; ``facts``: the run, for the
    morning report's sections; ``artifact``: the name of the Actions artifact with the run's log and view."""
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
        *_run_notes(finished),
        *(["", *review] if review else []),
        *_morning(facts),
    ]
    lines += ["", _files_details(finished.files_changed), "", _cost_details(finished.cost)]
    lines += _artifact_lines(job_url, artifact)
    return _md.fit("\n".join(lines))


def render_review_round(
    round_no: int, source: str, points: list[tuple[str, str, str | None, int | None]], answers: list[PointAnswer]
) -> list[str]:
    """The summary's "Review round N" section: each point (id, author, file, line) with the verifiers' answer."""
    said = {a.id: a for a in answers}
    lines = [f"**Review round {round_no}** ({_md.inline(source, 200)})", ""]
    for point_id, author, file, line in points:
        answer = said.get(point_id)
        mark = _PASS if answer and answer.addressed else _FAIL
        where = f" on {_md.code_span(file)}" + (f" line {line}" if line else "") if file else ""
        how = _md.inline(answer.how, 300) if answer and answer.how else "_(no answer)_"
        lines.append(f"- {mark} {_md.inline(author, 100)}{where}: {how}")
    return lines


def _run_notes(f: ev.RunFinished) -> list[str]:
    """Warnings about how the result was reached, and the build output the commits left out."""
    lines = []
    for warning in f.warnings:
        lines += ["", f"**Warning:** {_md.inline(warning, 500)}"]
    if f.build_output:
        shown = ", ".join(_md.code_span(p) for p in f.build_output[:10])
        more = f" and {len(f.build_output) - 10} more" if len(f.build_output) > 10 else ""
        lines += ["", f"Left out of the commits as build output or caches: {shown}{more}."]
    return lines


def render_not_accepted(
    finished: ev.RunFinished,
    *,
    label: str | None,
    pr_number: int | None = None,
    job_url: str | None = None,
    facts: RunFacts | None = None,
    artifact: str | None = None,
) -> str:
    """The comment when a run ended without acceptance (on its PR, else its issue): which outcome, why,
    what is done and left, and the morning report's sections (``facts``)."""
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
        *_run_notes(finished),
    ]
    if finished.head_sha:
        lines += [
            "",
            f"Everything committed is on {_md.code_span(finished.branch)} at "
            f"{_md.short_sha(finished.head_sha)}; nothing was discarded.",
        ]
    if label:
        lines += ["", f"I labelled the issue {_md.code_span(label)} so a person picks it up."]
    lines += _morning(facts)
    lines += ["", _files_details(finished.files_changed), "", _cost_details(finished.cost)]
    lines += _artifact_lines(job_url, artifact)
    return _md.fit("\n".join(lines))


def _morning(facts: RunFacts | None) -> list[str]:
    """The morning report's sections (``kodo-bot report`` prints the same), under the comment's heading."""
    return ["", *report_sections(facts, where="github", heading="####")] if facts else []


def _artifact_lines(job_url: str | None, artifact: str | None) -> list[str]:
    """Where the run's event log and its HTML view are: the job's artifact (GitHub shows an artifact only
    on the run's page, so the link goes there)."""
    if not artifact:
        return []
    where = f"[the Actions run's artifacts]({job_url}#artifacts)" if job_url else "the Actions run's artifacts"
    return [
        "",
        f"The run's event log and its HTML view (`run.html`: timeline, verification evidence, cost over time) "
        f"are in {_md.code_span(artifact)}, among {where}.",
    ]


def _totals_table(f: ev.RunFinished) -> str:
    cost = f"{_md.usd(f.cost.api_usd)} API · {_md.usd(f.cost.subscription_usd)} subscription"
    return "\n".join(
        [
            "| Cycles | Verification rounds | Duration | Cost |",
            "| --- | --- | --- | --- |",
            f"| {f.cycles} | {f.rounds} | {_md.duration(f.duration_s)} | {cost} |",
        ]
    )


def _files_details(files: list[str]) -> str:
    if not files:
        return "_No files changed._"
    items = [f"- {_md.code_span(p)}" for p in files[:_MAX_FILES]]
    if len(files) > _MAX_FILES:
        items.append(f"- … and {len(files) - _MAX_FILES} more")
    return _md.details(f"Files changed ({len(files)})", "\n".join(items))


def _cost_details(cost: CostReport) -> str:
    """What the run cost per backend (who was paid, in which bucket), then per agent."""
    head = "Backend | Bucket | Calls | Tokens in / out | Cost |"
    rows = [f"| {head}", "| --- | --- | --- | --- | --- |"]
    rows += [f"| {_cost_cells(c)}" for c in cost.by_provider()]
    rows += ["", f"| Agent | {head}", "| --- | --- | --- | --- | --- | --- |"]
    for who, c in sorted(cost.by_agent.items()):
        rows.append(f"| {_md.inline(who, 60)} | {_cost_cells(c)}")
    rows.append(f"| **total** | | | | | **{_md.usd(cost.api_usd + cost.subscription_usd)}** |")
    note = (
        "API cost is billed per token (the orchestrator on a model API, agents on an API key) and is what "
        "`--max-cost-usd` limits; subscription cost is what the same usage would cost at API prices, covered "
        "by each CLI's plan."
    )
    title = f"Cost by backend and agent ({len(cost.by_provider())} backends, {len(cost.by_agent)} agents)"
    return _md.details(title, "\n".join(rows) + "\n\n" + note)


def _cost_cells(c: AgentCost) -> str:
    tokens = f"{c.usage.input_tokens:,} / {c.usage.output_tokens:,}"
    return f"{c.provider or 'unknown'} | {c.bucket} | {c.calls} | {tokens} | {_md.usd(c.usd)} |"


# -- runs that do not start -----------------------------------------------------------------------------


def with_warning(body: str, title: str, detail: str) -> str:
    """``body`` (a comment) with a warning after its first paragraph: a failed push, a refusal."""
    head, sep, rest = body.partition("\n\n")
    warning = f"> ⚠️ **{title}** {_md.inline(detail, 1200)}"
    return f"{head}{sep}{warning}\n\n{rest}" if sep else f"{body}\n\n{warning}"


def render_refusal(decision: Refuse, *, run_id: str) -> str:
    """The one polite comment for a refused trigger. ``run_id`` names the attempt (e.g. the Actions run)."""
    return f"{render_marker(run_id, 'refused')}\n{decision.comment}"


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
        f"- cycle {state.cycle}"
        + (f" of {state.max_cycles}" if state.max_cycles else "")
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
    refusals: Sequence[str] = (),
    undelivered: Sequence[str] = (),
    artifact: str | None = None,
) -> str:
    """The Actions job summary. Without ``finished`` (ignored or refused trigger) it states ``note``.

    What GitHub refused (with the fix) and what could not be delivered are listed here always: the summary
    is the one place kodo-bot can still write when GitHub refuses everything else.

    It carries no marker: it is a file of the job, never searched for or edited like a comment.
    """
    lines = ["## kodo-bot", ""]
    target = f"{_md.inline(repo)}#{issue_number}" if issue_number else _md.inline(repo)
    if finished is None:
        lines.append(f"No run started for {target}: {_md.inline(note, 500) or 'nothing to do'}.")
        if progress_url:
            lines.append(f"\nThe run at work: {progress_url}")
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
    if artifact:  # the summary sits on the run's page, above its artifacts
        lines.append(f"- the run's event log and its HTML view (`run.html`): artifact {_md.code_span(artifact)}, below")
    lines += _delivery_problems(refusals, undelivered)
    lines += ["", _totals_table(finished), "", _cost_details(finished.cost)]
    return "\n".join(lines)


def _delivery_problems(refusals: Sequence[str], undelivered: Sequence[str]) -> list[str]:
    lines: list[str] = []
    if refusals:
        lines += ["", "**GitHub refused, and retrying could not help:**"]
        lines += [f"- {_md.inline(r, 1000)}" for r in refusals]
    if undelivered:
        lines += ["", "**Not delivered to GitHub** (the run's work is on its branch in the runner's work dir):"]
        lines += [f"- {_md.inline(u, 200)}" for u in undelivered]
    return lines


_CI_LINE = re.compile(r"^<!-- kodo-bot-ci: (?P<name>[^>]*?) -->.*$\n?", re.MULTILINE)


def with_ci_result(body: str, name: str, sha: str, *, passed: bool) -> str:
    """``body`` with one line saying how the repository's workflow ``name`` ended on ``sha``; a line for the
    same workflow is replaced, so editing again never piles lines up."""
    safe = re.sub(r"[^A-Za-z0-9 ._/()-]", "", name)[:100] or "CI"
    kept = _CI_LINE.sub(lambda m: "" if m.group("name") == safe else m.group(0), body).rstrip("\n")
    icon, word = (_PASS, "passed") if passed else (_FAIL, "failed")
    line = f"<!-- kodo-bot-ci: {safe} --> {icon} The repository's CI: {_md.code_span(safe)} {word} on `{sha[:12]}`."
    return f"{kept}\n\n{line}\n"
