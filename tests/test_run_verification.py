"""Verification, in process on a script: the engine's checks before any verifier, every rule by which the
engine overrules a verifier's pass (``engine/verdict.py``), rejection findings reaching the next cycle, and
the escalation to a person after ``max_rejections``. Each seen as a user sees it: the run's events, its
outcome, the handoff and the orchestrator's next message."""

from __future__ import annotations

import asyncio
import json

import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Outcome
from kodo_bot.engine.team import Agent, Team
from kodo_bot.sandbox.stories import bash, delegate, done, say, verdict, write_file
from tests.conftest import GREETING_CHECK, as_script

CHECK = "grep -q hello greeting.txt"
ELSEWHERE = "grep -q goodbye greeting.txt"  # fails on the commit: greeting.txt says hello


def test_a_failing_check_rejects_before_any_verifier_is_asked(rehearsal):
    roles = {
        "orchestrator": [
            delegate(("worker", "Write greeting.txt.")),
            done("Added greeting.txt."),
            delegate(("worker", "The check wants hello in greeting.txt.")),
            done("greeting.txt says hello."),
        ],
        "worker": [write_file("greeting.txt", "hi\n"), say("Wrote greeting.txt."), *rehearsal.greets()],
        "verifier/tester": rehearsal.passes(),  # one round's worth: asked in round 1, round 2 would find none
    }
    played = rehearsal.run(roles)

    played.script.assert_complete()
    assert played.result.outcome is Outcome.accepted and played.result.rounds == 2
    assert [(c.round, c.passed) for c in played.of(ev.ChecksFinished)] == [(1, False), (2, True)]
    assert [v.round for v in played.of(ev.VerificationStarted)] == [2]
    second = rehearsal.commits(played.result.branch)[1].hexsha[:12]
    assert all(second in r.messages[0]["content"] for r in played.script.asked("verifier/tester"))
    assert f"## Check `{CHECK}` failed (exit 1)" in played.opening(2).prompt
    # the verifier made ready for round 1 was never asked, and its session was ended all the same
    assert all(s.closed for s in played.script.sessions.opened)


class WaitsForVerifier:
    """The orchestrator, thinking about its last answer until the verifier's session has been started (it
    gives up after 30 s, which fails the test): what the verifier's checkout held then is kept."""

    def __init__(self, script) -> None:
        self.script, self.model, self.fix = script, "scripted", "none"
        self.inner = script.orchestrator()
        self.seen: list[str] | None = None

    def missing(self) -> str | None:
        return None

    async def reply(self, system, messages, tool_defs, **kw):
        if len(messages) > 1:  # the request after the worker's result, whose answer is done
            for _ in range(3000):
                started = [s for s in self.script.sessions.opened if s.role.startswith("verifier/") and s.started_at]
                if started:
                    self.seen = sorted(p.name for p in started[0].cwd.iterdir())
                    break
                await asyncio.sleep(0.01)
        return await self.inner.reply(system, messages, tool_defs, **kw)

    async def close(self) -> None:
        pass


def test_the_verifier_starts_while_the_orchestrator_thinks_and_sees_only_the_commit(rehearsal):
    """Its CLI start is off the critical path: started before "done" comes, in a checkout that holds nothing
    yet (the commit does not exist), asked once, after the commit, with no model request more."""
    script = as_script(rehearsal.accepted_roles())
    waiting = WaitsForVerifier(script)
    played = rehearsal.run(script, orchestrator=waiting)

    script.assert_complete()
    assert played.result.outcome is Outcome.accepted
    assert waiting.seen == [".git"]
    (tester,) = [s for s in script.sessions.opened if s.role == "verifier/tester"]
    assert tester.started_at is not None and tester.closed
    assert len(script.asked("verifier/tester")) == len(rehearsal.passes())  # one query's steps, nothing more
    (verdict_,) = played.of(ev.VerificationFinished)[0].verdicts
    assert verdict_.passed and [e.command for e in verdict_.evidence] == [GREETING_CHECK]


# ----------------------------------------------------------------- the verdict rules
def claims(text: str) -> dict:
    """A verifier's last answer: ``text``, then a JSON verdict block as the verifier writes it."""
    return say(f"```json\n{text}\n```")


MAYBE = json.dumps({"verdict": "maybe", "checks": [{"command": CHECK, "exit_code": 0}]})
FAILING_TEST = "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_bad(self):\n        self.fail('no')\n"

#: verifier -> (its steps, what the engine says of its pass; None: the pass stands)
VERIFIERS = {
    "honest": ([bash(CHECK), verdict(True, "It says hello.", checks=[(CHECK, 0)])], None),
    "unproven": (
        [bash("cat README.md"), verdict(True, "It says hello.", checks=[(CHECK, 0)])],
        f"claimed checks not matched by what was observed: `{CHECK}` was never run",
    ),
    "failed_claim": (
        [bash(ELSEWHERE), verdict(True, "It says goodbye.", checks=[(ELSEWHERE, 0)])],
        f"`{ELSEWHERE}` exited 1 on the commit as it is",
    ),
    "admits_failure": (
        [bash(CHECK), bash(ELSEWHERE), verdict(True, "Fine.", checks=[(CHECK, 0), (ELSEWHERE, 1)])],
        f"`{ELSEWHERE}` exited 1, and a pass cannot rest on a failing command",
    ),
    "cherry_picker": (
        [bash("python3 -m unittest -q test_bad"), bash(CHECK), verdict(True, "It says hello.", checks=[(CHECK, 0)])],
        "a pass cannot leave out a failing test command: `python3 -m unittest -q test_bad` exited 1",
    ),
    "editor": (
        [
            bash("echo hello >> README.md"),
            bash(CHECK),
            bash("git checkout README.md"),
            verdict(True, "It says hello.", checks=[(CHECK, 0)]),
        ],
        f"`{CHECK}` only passed on an edited checkout",
    ),
    "wrapped": (
        [bash(f"{CHECK} || true"), verdict(True, "It says hello.", checks=[(f"{CHECK} || true", 0)])],
        "cannot stand for a check",
    ),
    "no_evidence": (
        [verdict(True, "Trust me.", checks=[(CHECK, 0)])],
        "a pass needs evidence, but no command was observed",
    ),
    "no_claims": (
        [bash(CHECK), verdict(True, "It says hello.", checks=[])],
        "a pass must list the commands that prove it",
    ),
    "mumbler": (
        [bash(CHECK), say("Looks good to me, ship it.")],
        "the verdict could not be read: no JSON verdict block found",
    ),
    "broken_json": (
        [bash(CHECK), claims('{"verdict": "pass", "checks": [')],
        "the verdict could not be read: invalid JSON",
    ),
    "undecided": ([bash(CHECK), claims(MAYBE)], "verdict must be 'pass' or 'fail', got 'maybe'"),
    # max_turns 1: its second tool call ends the session with an error, as the CLI's turn limit does
    "cut_off": ([bash(CHECK), bash(CHECK)], "the verifier did not finish: turn limit 1 reached"),
}


@pytest.fixture(scope="module")
def judged(tmp_path_factory, rehearsal_in):
    """One round, every verifier at once; one rejection sends the run to a person."""
    rehearsal = rehearsal_in(
        tmp_path_factory.mktemp("verdicts"),
        {
            "README.md": "# demo\n",
            "test_bad.py": FAILING_TEST,
        },
    )
    verifiers = {
        name: Agent(name=name, prompt="You verify.", verify="always", max_turns=1 if name == "cut_off" else 40)
        for name in VERIFIERS
    }
    team = Team(name="judges", agents={"worker": rehearsal.TEAM.agents["worker"], **verifiers})
    roles = {
        "orchestrator": [delegate(("worker", "Write greeting.txt saying hello.")), done("Added greeting.txt.")],
        "worker": rehearsal.greets(),
        **{f"verifier/{name}": steps for name, (steps, _) in VERIFIERS.items()},
    }
    played = rehearsal.run(roles, team=team, max_rejections=1)
    played.script.assert_complete()
    return played


@pytest.mark.parametrize("name", sorted(VERIFIERS))
def test_each_verdict_rule_is_seen_in_the_events_and_the_handoff(judged, name):
    [said] = [e.verdict for e in judged.of(ev.VerdictReceived) if e.verdict.verifier == name]
    why = VERIFIERS[name][1]
    if why is None:
        assert said.passed and said.engine_note is None
        assert f"## {name}: fail" not in judged.end.handoff
        return
    assert not said.passed and why in said.engine_note
    assert f"## {name}: fail" in judged.end.handoff and why in judged.end.handoff


def test_one_overruled_pass_rejects_the_round(judged):
    [finished] = judged.of(ev.VerificationFinished)
    assert not finished.accepted and len(finished.verdicts) == len(VERIFIERS)
    assert judged.result.outcome is Outcome.needs_human
    assert judged.result.reason == "verification rejected the work 1 times"


# ----------------------------------------------------------------- rejections and escalation
def test_rejection_findings_reach_the_next_cycles_first_message(shell_demo_run):
    played = shell_demo_run.played
    assert played.end.outcome is Outcome.accepted and played.end.cycles == 2
    assert "Verification rejected" not in played.opening(1).prompt
    seed = played.opening(2).prompt
    assert "# Verification rejected the last attempt" in seed
    assert "## tester: fail — multiply is wrong for negative numbers." in seed
    assert "- [high] calc.py:3: multiply(-2, 3) returns 0, expected -6" in seed
    assert "- `awk '/return 0/ { bad = 1 } END { exit bad }' calc.py` exited 1" in seed
    assert "architect: fail" not in seed and "Added multiply(a, b) to calc.py." in seed


@pytest.fixture(scope="module")
def escalated(tmp_path_factory, rehearsal_in):
    """Two cycles, both rejected by the tester, with max_rejections 2."""
    rehearsal = rehearsal_in(tmp_path_factory.mktemp("escalated"))

    def fails(n: int) -> list[dict]:
        finding = {"severity": "high", "file": "greeting.txt", "line": 1, "message": f"problem number {n}"}
        return [bash(CHECK), verdict(False, f"Round {n} is not good enough.", checks=[(CHECK, 0)], findings=[finding])]

    roles = {
        "orchestrator": [
            delegate(("worker", "Write greeting.txt saying hello.")),
            done("Added greeting.txt."),
            done("Improved greeting.txt."),
        ],
        "worker": rehearsal.greets(),
        "verifier/tester": [*fails(1), *fails(2)],
    }
    played = rehearsal.run(roles, max_rejections=2)
    played.script.assert_complete()  # no third cycle was started
    return rehearsal, played


def test_max_rejections_hands_the_run_to_a_person(escalated):
    rehearsal, played = escalated
    assert played.result.outcome is Outcome.needs_human
    assert played.result.reason == "verification rejected the work 2 times"
    assert [v.accepted for v in played.of(ev.VerificationFinished)] == [False, False]
    handoff = played.end.handoff
    assert "Last summary:\nImproved greeting.txt." in handoff
    assert "Last verification findings:" in handoff and "problem number 2" in handoff
    assert "problem number 1" not in handoff
    assert len(rehearsal.commits(played.result.branch)) == 2


def test_an_escalated_run_reports_its_last_cycles_summary(escalated):
    """The summary a person is given (RunResult, RunFinished) is the last cycle's, not the one before it.
    Fails: the escalation does not record the rejected cycle's summary (runner.py, ``_verify``)."""
    _, played = escalated
    assert played.end.summary == "Improved greeting.txt."
    assert played.result.summary == played.end.summary
