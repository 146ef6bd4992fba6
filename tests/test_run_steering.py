"""Input from people reaching a live run (a review, a mention): a sink offers it, the run takes it at the next
cycle boundary, the next cycle's orchestrator reads it beside the last findings, and nothing is taken twice
or lost, whether the run was between cycles, about to end accepted, or killed and resumed."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from kodo_bot.compose import backends_from_env
from kodo_bot.engine import events as ev
from kodo_bot.engine.launch import RunRequest, start_run
from kodo_bot.engine.models import Outcome, ReviewPoint, Steering
from kodo_bot.engine.state import CrashAt, Crashed, RunSettings
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import bash, delegate, done, say, verdict
from tests.conftest import FAST_TEAM, GREETING_CHECK, GREETING_GOAL, Rehearsal

FAREWELL = Steering(
    id="review-7",
    text="Review round 1\n\n- alice on greeting.txt:1: also say goodbye",
    points=(ReviewPoint(id="c-70", author="alice", text="also say goodbye", file="greeting.txt", line=1),),
)


class Reviewer(ev.EventSink):
    """Offers its steering once the run has reached ``after`` (an event type), until the run says it took it."""

    def __init__(self, *steering: Steering, after: str = "cycle_ended") -> None:
        self.offered, self.after, self.reached, self.taken = list(steering), after, False, []
        self.asked = 0

    def handle(self, event: ev.Event) -> None:
        self.reached = self.reached or event.type == self.after
        if isinstance(event, ev.SteeringTaken):
            self.taken += [s.id for s in event.steering]

    def steering(self) -> list[Steering]:
        self.asked += 1
        return [s for s in self.offered if s.id not in self.taken] if self.reached else []


def answers_farewell(addressed: bool = True) -> list[dict]:
    """The tester's steps: run the check, pass, and answer the farewell point."""
    how = "greeting.txt says goodbye on line 2" if addressed else "there is no goodbye in greeting.txt"
    return [
        bash(GREETING_CHECK),
        verdict(True, "Greets.", checks=[(GREETING_CHECK, 0)], points={"c-70": (addressed, how)}),
    ]


def farewell_roles(rehearsal) -> dict:
    return {
        "orchestrator": [
            say("Nothing to do yet."),  # cycle 1 ends without a commit of work
            delegate(("worker", "Write greeting.txt saying hello and goodbye.")),
            done("Added greeting.txt with a farewell."),
        ],
        "worker": rehearsal.greets("hello\ngoodbye\n"),
        "verifier/tester": answers_farewell(),
    }


def test_steering_offered_between_cycles_opens_the_next_cycle_and_joins_the_review_points(rehearsal):
    reviewer = Reviewer(FAREWELL)
    played = rehearsal.run(farewell_roles(rehearsal), sinks=[reviewer])

    assert played.result.outcome is Outcome.accepted
    (taken,) = played.of(ev.SteeringTaken)
    assert taken.cycle == 2 and [s.id for s in taken.steering] == ["review-7"]
    seed = str(played.opening(2).messages[0]["content"])
    assert "# New input from people since the last cycle" in seed and "also say goodbye" in seed
    # told once: the cycle after does not carry it again
    assert "also say goodbye" not in str(played.opening(1).messages[0]["content"])
    assert reviewer.taken == ["review-7"]


def test_steering_that_arrives_as_the_run_is_accepted_keeps_it_going(rehearsal):
    roles = rehearsal.accepted_roles()
    roles["orchestrator"] += [delegate(("worker", "Add the farewell.")), done("Added the farewell.")]
    roles["worker"] += rehearsal.greets("hello\ngoodbye\n")
    roles["verifier/tester"] += answers_farewell()
    played = rehearsal.run(roles, sinks=[Reviewer(FAREWELL, after="verification_finished")])

    played.script.assert_complete()
    assert played.result.outcome is Outcome.accepted and played.result.cycles == 2 and played.result.rounds == 2
    assert [e.accepted for e in played.of(ev.VerificationFinished)] == [True, True]
    assert "also say goodbye" in str(played.opening(2).messages[0]["content"])


def test_at_the_cycle_limit_an_accepted_run_ends_and_leaves_the_steering_untaken(rehearsal):
    reviewer = Reviewer(FAREWELL, after="verification_finished")
    played = rehearsal.run(rehearsal.accepted_roles(), sinks=[reviewer], max_cycles=1)

    assert played.result.outcome is Outcome.accepted and played.of(ev.SteeringTaken) == []
    assert reviewer.taken == []  # the source still holds it, for a follow-up run


class WriteCounter:
    """Stands where a crash point goes, and only counts the checkpoint writes."""

    count = 0

    def __call__(self, count: int, *, written: bool) -> None:
        self.count = count


def play(rehearsal: Rehearsal, script: Script, crash, *sinks: ev.EventSink) -> None:
    request = RunRequest(
        goal=GREETING_GOAL,
        project=rehearsal.project,
        run_id="run-1",
        settings=RunSettings(team=FAST_TEAM, check_commands=[GREETING_CHECK], ui=False),
    )
    backends = backends_from_env({}, orchestrator=script.orchestrator(), sessions=script.sessions)
    asyncio.run(start_run(request, dataclasses.replace(backends, crash=crash), list(sinks)))


def test_steering_is_taken_exactly_once_whichever_write_near_it_a_crash_hits(rehearsal_in, tmp_path):
    """Crash just before and just after the write that closes the cycle, the one that takes the steering, and
    the one that opens the next cycle; resume with a fresh sink offering the same input again: the run takes
    it once, and the next cycle starts with it. (Windows further away replay orchestrator answers the
    script has already given: test_run_resume covers those.)"""
    counter, reviewer = WriteCounter(), Reviewer(FAREWELL)
    seen_at: list[int] = []

    class Recorder(ev.EventSink):
        def handle(self, event: ev.Event) -> None:
            if isinstance(event, ev.SteeringTaken):
                seen_at.append(counter.count)

    reference = rehearsal_in(tmp_path / "reference")
    play(reference, Script({"roles": farewell_roles(reference)}), counter, reviewer, Recorder())
    (taking,) = seen_at
    for n, before in [(n, b) for n in (taking - 1, taking, taking + 1) for b in (True, False)]:
        where = f"crash {'before' if before else 'after'} write {n}"
        rehearsal = rehearsal_in(tmp_path / where.replace(" ", "-"))
        script = Script({"roles": farewell_roles(rehearsal)})
        with pytest.raises(Crashed):
            play(rehearsal, script, CrashAt(save=n, before=before, kill=False), Reviewer(FAREWELL))
        played = rehearsal.resume("run-1", script, sinks=[Reviewer(FAREWELL, after="run_started")])
        played.script.assert_complete()
        assert played.result.outcome is Outcome.accepted, where
        assert [s.id for e in played.of(ev.SteeringTaken) for s in e.steering] == ["review-7"], where
        assert "also say goodbye" in str(played.opening(2).messages[0]["content"]), where


def test_verifiers_answer_the_review_points_and_an_open_one_rejects_the_round(rehearsal):
    roles = farewell_roles(rehearsal)
    roles["verifier/tester"] = answers_farewell(addressed=False) + answers_farewell()
    roles["orchestrator"] += [delegate(("worker", "Say goodbye too.")), done("Added the goodbye.")]
    roles["worker"] += rehearsal.greets("hello\ngoodbye\n")
    played = rehearsal.run(roles, sinks=[Reviewer(FAREWELL)])

    played.script.assert_complete()
    first, second = played.of(ev.VerificationFinished)
    assert not first.accepted and second.accepted and played.result.outcome is Outcome.accepted
    (open_point,) = first.verdicts[0].points
    assert (open_point.id, open_point.addressed) == ("c-70", False)
    assert "review point c-70 by alice is not addressed" in first.verdicts[0].findings[0].message
    # the tester was shown the point, and the orchestrator the rejection naming it
    assert "### Point `c-70`: alice on greeting.txt line 1" in played.script.asked("verifier/tester")[0].prompt
    assert "review point c-70 by alice" in str(played.opening(3).messages[0]["content"])
    assert [(p.id, p.addressed) for p in second.verdicts[0].points] == [("c-70", True)]
