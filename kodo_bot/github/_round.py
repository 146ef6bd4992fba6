"""The PR comment for one verification round, and the commit status that goes with it.

Part of ``render`` (import from there), kept apart because a round's comment is the longest renderer:
checks, a table of every verifier's verdict, then per verifier its findings and, folded, the evidence
(commands with the exit status kodo-bot observed, and their output). Command output is shrunk until the
comment fits GitHub's size limit, so the verdicts themselves are never the part that is cut.
"""

from __future__ import annotations

from collections.abc import Mapping

from kodo_bot import markdown as _md
from kodo_bot.engine import events as ev
from kodo_bot.engine.models import CheckResult, Evidence, Finding, Verdict
from kodo_bot.github.markers import render_marker

_MAX_FINDINGS = 50
_PASS, _FAIL = _md.PASS, _md.FAIL


def render_verification_round(event: ev.VerificationFinished, images: Mapping[str, str] | str = "") -> str:
    """The PR comment for one round: checks, then every verifier's verdict, findings and evidence.
    ``images`` is where GitHub serves each screenshot (by its path on the runner: ``_evidence``), or why
    they could not be published."""
    for tail in (3_000, 800, 200, 0):  # shrink command output until the comment fits GitHub's limit
        body = _verification_body(event, tail, images)
        if len(body) <= 65_000:
            return body
    return _md.fit(body)


def _verification_body(event: ev.VerificationFinished, tail: int, images: Mapping[str, str] | str) -> str:
    icon, result = (_PASS, "passed") if event.accepted else (_FAIL, "changes requested")
    lines = [
        render_marker(event.run_id, "verdicts", event.round),
        f"### {icon} Verification round {event.round}: {result}",
        "",
        f"Commit {_md.short_sha(event.sha)} · cycle {event.cycle} · {len(event.verdicts)} verifier(s)"
        + (f" · {_md.duration(event.wall_s)}" if event.wall_s else ""),
    ]
    if event.checks:
        detected = any(c.source == "detected" for c in event.checks)
        lines += [
            "",
            "**Checks** (no check is configured, so kodo-bot detected the project's test command and ran "
            "it itself in a clean checkout)"
            if detected
            else "**Checks** (run by kodo-bot itself in a clean checkout)",
            "",
        ]
        lines += [_check_line(c) for c in event.checks]
        failed = [c for c in event.checks if not c.passed and c.output_tail and tail]
        if failed:
            lines += [
                "",
                _md.details(
                    "Output of the failed checks",
                    "\n\n".join(f"{_md.code_span(c.command)}\n\n{_md.code_block(c.output_tail, tail)}" for c in failed),
                ),
            ]
    if event.verdicts:
        lines += ["", "| Verifier | Verdict | Findings | Commands run |", "| --- | --- | --- | --- |"]
        lines += [_verdict_row(v) for v in event.verdicts]
    for verdict in event.verdicts:
        lines += ["", _verdict_section(verdict, tail, images)]
    return "\n".join(lines)


def _check_line(check: CheckResult) -> str:
    icon = _PASS if check.passed else _FAIL
    took = f" in {_md.duration(check.duration_s)}" if check.duration_s else ""
    source = " (detected)" if check.source == "detected" else ""
    return f"- {icon} {_md.code_span(check.command)}{source} exited {check.exit_code}{took}"


def _verdict_row(v: Verdict) -> str:
    worst = _worst(v.findings)
    findings = f"{len(v.findings)}" + (f" (worst: {worst})" if worst else "")
    failed, unknown = _exit_counts(v.evidence)
    notes = [f"{failed} non-zero"] * bool(failed) + [f"{unknown} status unknown"] * bool(unknown)
    commands = f"{len(v.evidence)}" + (f" ({', '.join(notes)})" if notes else "")
    verdict = f"{_PASS} passed" if v.passed else f"{_FAIL} rejected"
    return f"| {_md.inline(v.verifier, 60)} | {verdict} | {findings} | {commands} |"


_SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


def _worst(findings: tuple[Finding, ...]) -> str | None:
    severities = {f.severity for f in findings}
    return next((s for s in _SEVERITY_ORDER if s in severities), None)


def _verdict_section(v: Verdict, tail: int, images: Mapping[str, str] | str = "") -> str:
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
    if v.screenshots:
        lines += ["", _screenshots(v, images)]
    lines += ["", _evidence_details(v.evidence, tail)]
    return "\n".join(lines)


def _screenshots(v: Verdict, images: Mapping[str, str] | str) -> str:
    """What the verifier's browser showed, inline where GitHub serves the pictures."""
    lines = [f"**What its browser showed** ({len(v.screenshots)} screenshot(s))", ""]
    for number, shot in enumerate(v.screenshots, 1):
        url = images.get(shot.path) if isinstance(images, Mapping) else None
        page = f" of {_md.code_span(shot.url)}" if shot.url else ""
        if url:
            lines.append(f"![{_md.inline(v.verifier, 60)} screenshot {number}]({url})")
            lines += [f"<sub>screenshot {number}{page}</sub>", ""]
        else:
            lines.append(f"- screenshot {number}{page}: not shown here")
    if isinstance(images, str) and images:
        lines += ["", f"_{_md.inline(images, 500)}_"]
    return "\n".join(lines).rstrip()


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
        if e.edited:
            status += f" · on an edited checkout ({_md.inline(e.edited, 200)}): does not count"
        items.append(f"- {_md.code_span(e.command)} → {status}")
        if e.output_tail and tail:
            items.append("\n" + _indent(_md.code_block(e.output_tail, tail), "  ") + "\n")
    failed, unknown = _exit_counts(evidence)
    summary = f"Evidence: {len(evidence)} command(s) run"
    summary += f", {failed} with non-zero exit" if failed else ""
    summary += f", {unknown} with exit status unknown" if unknown else ""
    return _md.details(summary, "\n".join(items))


def _exit_counts(evidence: tuple[Evidence, ...]) -> tuple[int, int]:
    """(failed, unknown): a command with no known status (one left running in the background) is no failure."""
    return sum(1 for e in evidence if e.exit_code not in (0, None)), sum(1 for e in evidence if e.exit_code is None)


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
