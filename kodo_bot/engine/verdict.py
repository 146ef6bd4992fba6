"""Turning a verifier's answer into a ``Verdict`` the run can trust.

The verifier is asked to end with a JSON verdict. Its claims are then checked against what the engine saw it
do. A command it says passed must be, up to neutral wrappers (``engine/commands.py``), a Bash call the CLI
reported with exit 0, run while the checkout still held the commit exactly (the checkout watch's looks on
each tool call). A test command that failed on the commit, and did not pass later, sinks a pass even when
the verifier leaves it out. An answer that cannot be read, or a pass with no observed evidence, is a fail
with that reason. All pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kodo_bot.engine.commands import core_command, runs_tests
from kodo_bot.engine.models import (
    AgentResult,
    CheckResult,
    Evidence,
    Finding,
    PointAnswer,
    ReviewPoint,
    Severity,
    Verdict,
)

VERDICT_INSTRUCTIONS = """\
You are verifying finished work, independently. The checkout you are in holds exactly the commit under
review ({sha}); nothing else. Do not trust the team's summary: check the goal yourself. Run the commands
that prove or disprove it (tests, the program itself). Any edits you make here are thrown away.

When you are done, end your answer with one fenced JSON block in exactly this shape:

```json
{{"verdict": "pass" or "fail",
  "summary": "one or two sentences",
  "findings": [{{"severity": "critical|high|medium|low|info", "file": "path or null", "line": 12,
                "message": "what is wrong"}}],
  "checks": [{{"command": "the exact command you ran", "exit_code": 0}}]}}
```

List in "checks" only commands you really ran, exactly as you ran them; they are compared with what was
observed. A pass must list at least one, and only counts when:
- each listed command ran plainly, as one command: no `|| ...`, `; ...`, `&`, `echo`, subshell, or a pipe
  (`| tail`) without `set -o pipefail`, since those hide its exit status. `cd` into this checkout,
  `timeout N` and `env VAR=...` in front are fine. Long output is trimmed for you anyway;
- it ran on the checkout exactly as committed. Do not edit, add or delete files here, not even temporarily
  (write scratch files under /tmp); a check run after an edit does not count, even if you revert it.
  Install dependencies without touching tracked files (`npm ci`, not `npm install`; a virtualenv in /tmp);
  caches, bytecode, `node_modules/` and virtualenvs do not count as edits;
- no test command you ran failed on the commit without passing later. If one fails, the verdict is fail.
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


class _ClaimedPoint(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    addressed: bool
    how: str = ""


class _ClaimedVerdict(BaseModel):
    model_config = ConfigDict(extra="ignore")
    verdict: str
    summary: str = ""
    findings: list[_ClaimedFinding] = Field(default_factory=list)
    checks: list[_ClaimedCheck] = Field(default_factory=list)
    review_points: list[_ClaimedPoint] = Field(default_factory=list)


#: how much of one review point (its text, the hunk it was written on) a verifier is shown
POINT_TEXT_LIMIT = 4000
POINT_CONTEXT_LIMIT = 1500
#: all points together, and the least any one point gets when there are many
POINTS_TOTAL_LIMIT = 30_000
POINT_MIN_SHARE = 300

REVIEW_POINTS_INSTRUCTIONS = """\
## Review points to answer
People asked for the points below. For each one, check whether the commit under review addresses it, and
add to your JSON block `"review_points": [{"id": "<the point's id>", "addressed": true or false, "how": "what
in the commit addresses it, or what is still missing"}]`, one entry per point. A pass needs every point
addressed: a point that is not, or that you leave out, fails the verdict.
"""


def verifier_task(goal: str, sha: str, summary: str, points: Sequence[ReviewPoint] = ()) -> str:
    task = (
        f"{VERDICT_INSTRUCTIONS.format(sha=sha[:12])}\n"
        f"## The goal\n{goal.strip()}\n\n"
        f"## What the team says it did (a claim to check, not a fact)\n{summary.strip() or '(nothing)'}\n"
    )
    if points:
        # each point's share of a bounded whole: a review of 200 comments must not make a 1 MB prompt
        share = max(POINT_MIN_SHARE, POINTS_TOTAL_LIMIT // len(points))
        task += "\n" + REVIEW_POINTS_INSTRUCTIONS + "".join(_point_section(p, share) for p in points)
    return task


def _point_section(point: ReviewPoint, share: int) -> str:
    where = f" on {point.file}" + (f" line {point.line}" if point.line else "") if point.file else ""
    lines = [f"\n### Point `{point.id}`: {point.author}{where}"]
    if point.context:
        keep = min(POINT_CONTEXT_LIMIT, share // 3)  # a hunk's last lines are the ones the comment is on
        hunk = point.context if len(point.context) <= keep else "[... cut]\n" + point.context[-keep:]
        lines.append(f"Written on:\n```diff\n{hunk}\n```")
    lines.append(_cut(point.text.strip(), min(POINT_TEXT_LIMIT, share)))
    return "\n".join(lines) + "\n"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[... cut]"


def observed_evidence(result: AgentResult) -> tuple[Evidence, ...]:
    """Every shell command the verifier was seen to run, with its status and whether its checkout was edited.

    A command counts as run on an unmodified checkout only if the watch found nothing changed just before
    it *and* just after it (a background edit landing mid-run shows after). When the after-look is missing
    (the tool was cut off), the next tool's before-look, or the final one, stands in.
    """
    calls = result.tool_calls
    looks = [c.checkout_before for c in calls] + [result.checkout_after]
    evidence = []
    for i, call in enumerate(calls):
        if call.command is None:
            continue
        after = (
            call.checkout_after
            if call.checkout_after is not None
            else next((look for look in looks[i + 1 :] if look is not None), None)
        )
        evidence.append(
            Evidence(
                command=call.command,
                exit_code=call.exit_code,
                output_tail=_tail(call.output),
                edited=_edited(call.checkout_before, after),
            )
        )
    return tuple(evidence)


def _edited(before: str | None, after: str | None) -> str | None:
    if before is None or after is None:
        return None
    return "; ".join(dict.fromkeys(x for x in (before, after) if x))


class _Said(TypedDict):
    """What the verifier said, carried into whatever verdict the engine reaches."""

    summary: str
    findings: tuple[Finding, ...]
    answers: tuple[PointAnswer, ...]


def judge(
    verifier: str,
    result: AgentResult,
    *,
    checkout: str | None = None,
    test_commands: Sequence[str] = (),
    points: Sequence[ReviewPoint] = (),
    browser: bool = False,
) -> Verdict:
    """The verdict the engine believes, given what the verifier said and what it was seen to do.

    ``checkout`` is where the verifier worked (a ``cd`` inside it is neutral); ``test_commands`` are the run's
    checks and the detected test command, which, like the checks the verifier lists, may not fail unmentioned.
    ``points`` are what people asked of the work: a pass must answer each one as addressed. A ``browser``
    verifier's pass also needs a screenshot its browser took: without one it did not see the page it judged.
    """
    evidence = observed_evidence(result)

    def verdict(
        passed: bool,
        note: str | None = None,
        *,
        summary: str = "",
        findings: tuple[Finding, ...] = (),
        answers: tuple[PointAnswer, ...] = (),
    ) -> Verdict:
        return Verdict(
            verifier=verifier,
            passed=passed,
            summary=summary,
            findings=findings,
            evidence=evidence,
            engine_note=note,
            cost_usd=result.cost_usd,
            points=answers,
            screenshots=result.screenshots,
        )

    if result.is_error:
        return verdict(False, f"the verifier did not finish: {result.error or 'error result'}")
    claimed = parse_claim(result.text)
    if isinstance(claimed, str):
        return verdict(False, f"the verdict could not be read: {claimed}")
    answers = _answers(claimed.review_points, points)
    open_points = [(p, a) for p, a in zip(points, answers, strict=True) if not a.addressed]
    findings = tuple(Finding(**f.model_dump()) for f in claimed.findings) + tuple(
        _open_point_finding(p, a) for p, a in open_points
    )
    said = _Said(summary=claimed.summary, findings=findings, answers=answers)
    word = claimed.verdict.strip().lower()
    if word not in ("pass", "fail"):
        return verdict(False, f"verdict must be 'pass' or 'fail', got {claimed.verdict!r}", **said)
    if word == "fail":
        return verdict(False, **said)
    if refused := _pass_refused(claimed.checks, evidence, checkout, test_commands):
        return verdict(False, refused, **said)
    if browser and not result.screenshots:
        return verdict(False, _unseen(result), **said)
    if open_points:
        ids = ", ".join(p.id for p, _ in open_points)
        return verdict(False, f"a pass needs every review point addressed; not addressed: {ids}", **said)
    return verdict(True, **said)


def _unseen(result: AgentResult) -> str:
    """Why a browser verifier's pass without a screenshot is not believed, with what its browser said."""
    failed = [c for c in result.tool_calls if c.is_error and c.name.startswith("mcp__")]
    why = f"; its browser tools failed: {_tail(failed[-1].output)[-300:]}" if failed else ""
    return "a browser verifier's pass needs a screenshot its browser took, and none was taken" + why


def _answers(claimed: Sequence[_ClaimedPoint], points: Sequence[ReviewPoint]) -> tuple[PointAnswer, ...]:
    """The verifier's answer to each of the run's points, in the run's order; a point it left out is open."""
    given = {c.id: c for c in claimed}
    return tuple(
        PointAnswer(id=p.id, addressed=c.addressed, how=c.how.strip())
        if (c := given.get(p.id)) is not None
        else PointAnswer(id=p.id, addressed=False, how="(the verifier did not answer this point)")
        for p in points
    )


def _open_point_finding(point: ReviewPoint, answer: PointAnswer) -> Finding:
    said = point.text.strip().splitlines()[0][:200] if point.text.strip() else point.id
    return Finding(
        severity="high",
        file=point.file,
        line=point.line,
        message=f"review point {point.id} by {point.author} is not addressed ({said}): "
        f"{answer.how or 'no reason given'}",
    )


def _pass_refused(
    checks: Sequence[_ClaimedCheck],
    evidence: tuple[Evidence, ...],
    checkout: str | None,
    test_commands: Sequence[str],
) -> str | None:
    """Why a claimed pass is not believed, or None when what was observed bears it out."""
    if not evidence:
        return "a pass needs evidence, but no command was observed"
    if not checks:
        return "a pass must list the commands that prove it"
    unproven = [why for c in checks if (why := _unproven(c, evidence, checkout))]
    if unproven:
        return "claimed checks not matched by what was observed: " + "; ".join(unproven)
    tests = [*test_commands, *(c.command for c in checks)]
    if left_out := _failing_tests(evidence, tests, checkout):
        return "a pass cannot leave out a failing test command: " + "; ".join(left_out)
    return None


def _unproven(claim: _ClaimedCheck, evidence: tuple[Evidence, ...], checkout: str | None) -> str | None:
    """Why ``claim`` is not proven by what was observed, or None when an observed run proves it."""
    shown = f"`{claim.command}`"
    core = core_command(claim.command, checkout=checkout)
    if core.command is None:
        return f"{shown} cannot stand for a check: {core.void}"
    if claim.exit_code not in (0, None):
        return f"{shown} exited {claim.exit_code}, and a pass cannot rest on a failing command"
    runs = [e for e in evidence if core_command(e.command, checkout=checkout).command == core.command]
    if not runs:
        near = next((e for e in evidence if " ".join(claim.command.split()) in " ".join(e.command.split())), None)
        if near is not None:
            return f"{shown} was only run as `{near.command}`, which does not count: " + (
                core_command(near.command, checkout=checkout).void or "it is a different command"
            )
        return f"{shown} was never run"
    clean = [e for e in runs if e.edited == ""]
    if any(e.exit_code == 0 for e in clean):
        return None
    said = []
    if clean:
        said.append(f"exited {', '.join(str(e.exit_code) for e in clean)} on the commit as it is")
    if edited := [e for e in runs if e.edited]:
        said.append(
            f"only passed on an edited checkout ({edited[0].edited}); a check counts only on the commit as it is"
            if any(e.exit_code == 0 for e in edited)
            else f"ran on an edited checkout ({edited[0].edited})"
        )
    if any(e.edited is None for e in runs):
        said.append("ran where the checkout was not watched")
    return f"{shown} " + ", and ".join(said)


def _failing_tests(evidence: tuple[Evidence, ...], tests: Sequence[str], checkout: str | None) -> list[str]:
    """Test commands that failed on the unmodified checkout and never passed on it afterwards.

    A test command is one of ``tests`` (the round's checks, the detected one, the verifier's own claims), or
    any run of a test runner (``pytest -k add`` failing is not made up for by a passing ``pytest -k sub``).
    """
    wanted = {c for t in tests if (c := core_command(t, checkout=checkout).command)}
    found = []
    runs = [(core_command(e.command, checkout=checkout).command, e) for e in evidence if e.edited == ""]
    for i, (core, e) in enumerate(runs):
        if core is None or e.exit_code == 0 or (core not in wanted and not runs_tests(core)):
            continue
        if any(later == core and f.exit_code == 0 for later, f in runs[i + 1 :]):
            continue
        text = f"`{e.command}` exited {e.exit_code if e.exit_code is not None else '(unknown)'} on the commit"
        if text not in found:
            found.append(text)
    return found


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


def _tail(text: str) -> str:
    return text if len(text) <= EVIDENCE_TAIL else "..." + text[-EVIDENCE_TAIL:]


def rejection_feedback(checks: Sequence[CheckResult], verdicts: list[Verdict]) -> str:
    """What the orchestrator is told when verification rejects: every failing check and verdict, briefly."""
    parts = []
    for check in checks:
        if not check.passed:
            parts.append(
                f"## Check `{check.command}` failed (exit {check.exit_code})\n```\n{_tail(check.output_tail)}\n```"
            )
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
