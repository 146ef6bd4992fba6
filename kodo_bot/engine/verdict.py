"""Turning a verifier's answer into a ``Verdict`` the run can trust.

The verifier is asked to end with a JSON verdict. Its claims are then checked against what the engine saw it
do: a command it says passed must appear among the Bash calls the CLI reported, with the same exit status.
An answer that cannot be read, or a pass with no observed evidence, is a fail with that reason. All pure.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kodo_bot.engine.models import AgentResult, Evidence, Finding, Severity, Verdict

VERDICT_INSTRUCTIONS = """\
You are verifying finished work, independently. The checkout you are in holds exactly the commit under
review ({sha}); nothing else. Do not trust the team's summary: check the goal yourself. Run the commands
that prove or disprove it (tests, the program itself). Any edits you make here are thrown away.

When you are done, end your answer with one fenced JSON block in exactly this shape:

```json
{{"verdict": "pass" or "fail",
  "summary": "one or two sentences",
  "findings": [{{"severity": "critical|high|medium|low|info", "file": "path or null", "line": 12, "message": "what is wrong"}}],
  "checks": [{{"command": "the exact command you ran", "exit_code": 0}}]}}
```

List in "checks" only commands you really ran; they are compared with what was observed. A pass must list
at least one.
"""

_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)
EVIDENCE_TAIL = 1500


class _ClaimedCheck(BaseModel):
    model_config = ConfigDict(extra="ignore")
    command: str
    exit_code: int | None = None


class _ClaimedFinding(BaseModel):
    model_config = ConfigDict(extra="ignore")
    severity: Severity = "medium"
    file: str | None = None
    line: int | None = None
    message: str


class _ClaimedVerdict(BaseModel):
    model_config = ConfigDict(extra="ignore")
    verdict: str
    summary: str = ""
    findings: list[_ClaimedFinding] = Field(default_factory=list)
    checks: list[_ClaimedCheck] = Field(default_factory=list)


def verifier_task(goal: str, sha: str, summary: str) -> str:
    return (
        f"{VERDICT_INSTRUCTIONS.format(sha=sha[:12])}\n"
        f"## The goal\n{goal.strip()}\n\n"
        f"## What the team says it did (a claim to check, not a fact)\n{summary.strip() or '(nothing)'}\n"
    )


def observed_evidence(result: AgentResult) -> tuple[Evidence, ...]:
    return tuple(
        Evidence(command=c.command or "", exit_code=c.exit_code, output_tail=_tail(c.output))
        for c in result.commands
    )


def judge(verifier: str, result: AgentResult) -> Verdict:
    """The verdict the engine believes, given what the verifier said and what it was seen to do."""
    evidence = observed_evidence(result)

    def verdict(passed: bool, note: str | None = None, *, summary: str = "", findings: tuple = ()) -> Verdict:
        return Verdict(verifier=verifier, passed=passed, summary=summary, findings=findings, evidence=evidence,
                       engine_note=note, cost_usd=result.cost_usd)

    if result.is_error:
        return verdict(False, f"the verifier did not finish: {result.error or 'error result'}")
    claimed = parse_claim(result.text)
    if isinstance(claimed, str):
        return verdict(False, f"the verdict could not be read: {claimed}")
    said = {"summary": claimed.summary, "findings": tuple(Finding(**f.model_dump()) for f in claimed.findings)}
    word = claimed.verdict.strip().lower()
    if word not in ("pass", "fail"):
        return verdict(False, f"verdict must be 'pass' or 'fail', got {claimed.verdict!r}", **said)
    if word == "fail":
        return verdict(False, **said)
    if not evidence:
        return verdict(False, "a pass needs evidence, but no command was observed", **said)
    if not claimed.checks:
        return verdict(False, "a pass must list the commands that prove it", **said)
    if result.changed_files:
        # Its edits are thrown away, so a pass earned on an edited checkout says nothing about the commit.
        listed = ", ".join(result.changed_files[:10])
        return verdict(False, f"the verifier changed files it was verifying ({listed}); a pass must hold for the commit as it is", **said)
    unproven = [c for c in claimed.checks if not _observed(c, evidence)]
    if unproven:
        listed = "; ".join(f"`{c.command}` (claimed exit {c.exit_code})" for c in unproven)
        return verdict(False, f"claimed checks not matched by what was observed: {listed}", **said)
    failing = [e for e in evidence if any(_same(c.command, e.command) for c in claimed.checks) and e.exit_code != 0]
    if failing:
        listed = "; ".join(f"`{e.command}` exited {e.exit_code}" for e in failing)
        return verdict(False, f"a pass rests on commands that failed: {listed}", **said)
    return verdict(True, **said)


def parse_claim(text: str) -> _ClaimedVerdict | str:
    """The last JSON verdict in the text, or a sentence saying why there is none."""
    candidates = _FENCED.findall(text or "") or _bare_objects(text or "")
    if not candidates:
        return "no JSON verdict block found at the end of the answer"
    last_error = ""
    for raw in reversed(candidates):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            last_error = f"invalid JSON ({exc.msg} at line {exc.lineno})"
            continue
        if not isinstance(data, dict) or "verdict" not in data:
            last_error = "the JSON block has no 'verdict' field"
            continue
        try:
            return _ClaimedVerdict.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            last_error = f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return last_error


def _bare_objects(text: str) -> list[str]:
    start = text.rfind('{"verdict"')
    if start < 0:
        start = text.rfind("{")
    return [text[start:].strip().rstrip("`").strip()] if start >= 0 else []


def _observed(claim: _ClaimedCheck, evidence: tuple[Evidence, ...]) -> bool:
    return any(
        _same(claim.command, e.command) and (claim.exit_code is None or claim.exit_code == e.exit_code)
        for e in evidence
    )


def _same(claimed: str, observed: str) -> bool:
    a, b = " ".join(claimed.split()), " ".join(observed.split())
    # Agents often wrap a command (cd, timeouts, pipes): the claimed one inside the observed one counts.
    return bool(a) and (a == b or a in b)


def _tail(text: str) -> str:
    return text if len(text) <= EVIDENCE_TAIL else "..." + text[-EVIDENCE_TAIL:]


def rejection_feedback(checks: list, verdicts: list[Verdict]) -> str:
    """What the orchestrator is told when verification rejects: every failing check and verdict, briefly."""
    parts = []
    for check in checks:
        if not check.passed:
            parts.append(f"## Check `{check.command}` failed (exit {check.exit_code})\n```\n{_tail(check.output_tail)}\n```")
    for v in verdicts:
        if v.passed:
            continue
        lines = [f"## {v.verifier}: fail" + (f" — {v.summary}" if v.summary else "")]
        if v.engine_note:
            lines.append(f"(engine: {v.engine_note})")
        for f in v.findings:
            where = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "")
            lines.append(f"- [{f.severity}] {where + ': ' if where else ''}{f.message}")
        for e in v.evidence:
            if e.exit_code not in (0, None):
                lines.append(f"- `{e.command}` exited {e.exit_code}:\n```\n{e.output_tail[-600:]}\n```")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) or "Verification rejected the work without details."
