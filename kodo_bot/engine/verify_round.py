"""One verification round as the run sees it: the checks, then the verifiers, each result recorded once.

``Verification`` does the work in clean checkouts; this step tells the run's events around it and records
each verdict in the checkpoint as it arrives, so a resumed round asks only the verifiers that had not
answered. Deciding what the round means for the run (accept, next cycle, a person) is the loop's.
"""

from __future__ import annotations

import time

from kodo_bot.engine import events as ev
from kodo_bot.engine.journal import Journal
from kodo_bot.engine.models import AgentResult, CheckResult, Verdict
from kodo_bot.engine.state import VerificationInProgress
from kodo_bot.engine.team import Team
from kodo_bot.engine.verification import Verification


class VerifyRound:
    def __init__(self, journal: Journal, verification: Verification, team: Team) -> None:
        self.journal, self.verification, self.team = journal, verification, team

    async def __call__(self, pending: VerificationInProgress) -> ev.VerificationFinished:
        s = self.journal.state
        started = time.monotonic()
        # the verifiers' CLIs start while the checks run (if they did not earlier), and their checkouts take
        # the commit (if they did not as it was made: a resumed round)
        self.get_ready(pending.round, pending.sha)
        ran = await self.verification.checks(
            pending.sha, s.settings.check_commands, pending.round, run_detected=s.settings.default_check
        )
        checks = ran.results
        s.add_wait("checks", time.monotonic() - started)
        self._tell_detected(checks)
        if checks:
            self.journal.emit(
                ev.ChecksFinished(
                    run_id=s.run_id,
                    cycle=s.cycle,
                    round=pending.round,
                    sha=pending.sha,
                    results=checks,
                    passed=all(c.passed for c in checks),
                )
            )
        if all(c.passed for c in checks):
            verdicts = await self._verifiers(pending, ran.test_commands)
        else:
            verdicts = []
            await self.verification.discard()
        wall = time.monotonic() - started
        s.add_wait("verification", wall)
        return ev.VerificationFinished(
            run_id=s.run_id,
            cycle=s.cycle,
            round=pending.round,
            sha=pending.sha,
            accepted=_accepted(checks, verdicts),
            checks=checks,
            verdicts=verdicts,
            wall_s=wall,
        )

    def get_ready(self, round_no: int, sha: str | None = None) -> None:
        """Make round ``round_no``'s verifiers ready ahead, but those a resumed round already has a verdict of."""
        s = self.journal.state
        verifiers = self.team.verifiers_for(s.goal, ui=s.settings.ui)
        needed = [v for v in verifiers if f"verify:{round_no}:{v.name}" not in s.completed_calls]
        self.verification.get_ready(round_no, needed, sha)

    def _tell_detected(self, checks: list[CheckResult]) -> None:
        s = self.journal.state
        if s.settings.check_commands or not s.settings.default_check:
            return
        if checks:
            message = f"no check configured: the engine ran the project's test command `{checks[0].command}` itself"
        else:
            message = "no check configured and no test command detected: only the verifiers judge this round"
        self.journal.emit(ev.Notice(run_id=s.run_id, level="info" if checks else "warning", message=message))

    async def _verifiers(self, pending: VerificationInProgress, test_commands: list[str]) -> list[Verdict]:
        s = self.journal.state
        verifiers = self.team.verifiers_for(s.goal, ui=s.settings.ui)
        self.journal.emit(
            ev.VerificationStarted(
                run_id=s.run_id,
                cycle=s.cycle,
                round=pending.round,
                sha=pending.sha,
                verifiers=[v.name for v in verifiers],
            )
        )

        def recorded(key: str, result: AgentResult, verdict: Verdict) -> None:
            if key in s.completed_calls:
                return  # recorded, and told, before an interruption
            s.completed_calls[key] = result
            s.ledger.charge(f"verifier/{result.agent}", result, self.team.agents[result.agent].backend)
            self.journal.checkpoint(
                ev.VerdictReceived(
                    run_id=s.run_id, cycle=s.cycle, round=pending.round, sha=pending.sha, verdict=verdict
                )
            )

        return await self.verification.verdicts(
            pending.sha,
            goal=s.goal,
            summary=pending.summary,
            round_no=pending.round,
            verifiers=verifiers,
            test_commands=test_commands,
            points=s.review_points,
            cached=s.completed_calls.get,
            on_result=recorded,
        )


def _accepted(checks: list[CheckResult], verdicts: list[Verdict]) -> bool:
    return all(c.passed for c in checks) and all(v.passed for v in verdicts)
