"""One verification round of a committed cycle: the engine's own checks, then independent verifiers.

Checks run first, by the engine, in a clean checkout: a failure rejects at once without spending verifier
tokens. With no check configured, the engine detects the project's test command and runs that. Verifiers then
run concurrently, each in its own clean checkout of the commit with a fresh session, so nothing uncommitted
can fool them and they cannot disturb each other; whatever they edit is thrown away. Each verifier's checkout
is watched before and after every tool it uses (``CheckoutWatch``), so a check it ran on an edited checkout
does not count, even if it reverted the edit later.

A verifier's CLI takes about half a second to start, so it is started ahead (``get_ready``): once the
cycle's first agent is up, or while the orchestrator thinks, or at the latest while the commit's checks
run. Its checkout is then a clone with nothing checked out: the commit may not exist yet, and nothing of the
worktree is ever in it. The commit is checked out, and the watch set on it, as soon as the commit exists
(while it is recorded), and always before the verifier is asked anything; a CLI that has not been asked
anything has made no model request and run no tool. A round whose checks fail, or a run that ends first,
ends the CLIs it started unasked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import git

from kodo_bot.confine import Confinement, Leftovers, git_exposure
from kodo_bot.engine.checkout_watch import CheckoutWatch
from kodo_bot.engine.checks import CHECK_DEFAULTS, run_checks
from kodo_bot.engine.models import AgentResult, CheckResult, ReviewPoint, Verdict
from kodo_bot.engine.ports import Session, SessionFactory, role_marker
from kodo_bot.engine.project_tests import detect_test_command
from kodo_bot.engine.team import AgentSpec
from kodo_bot.engine.verdict import judge, verifier_task
from kodo_bot.engine.workspace import CleanCheckout, changed_tracked_files
from kodo_bot.errors import AgentError

T = TypeVar("T")


class _Seat:
    """One verifier's place in a round: its checkout, its session and the watch on the checkout. The watch is
    set when the commit is checked out; until then a tool could not have run (no query was sent), and if one
    did, it would count as run on an edited checkout."""

    def __init__(self, checkout: CleanCheckout) -> None:
        self.checkout = checkout
        self.session: Session | None = None
        self.error: AgentError | None = None
        self.watch: CheckoutWatch | None = None

    def observe(self) -> str:
        return self.watch() if self.watch is not None else "the checkout does not hold the commit yet"

    def hold(self, project: git.Repo, sha: str) -> None:
        """Check out ``sha`` and watch the checkout for anything that differs from it (once per seat). It
        blocks: call it in a thread."""
        if self.watch is not None:
            return
        path = self.checkout.check_out(sha)
        watch = CheckoutWatch(project, sha, path)
        if (home := getattr(self.session, "home", None)) is not None:
            watch.also_empty("$HOME", home)
        self.watch = watch

    async def leave(self) -> None:
        if self.session is not None:
            with contextlib.suppress(AgentError):
                await self.session.close()
        await asyncio.to_thread(self.checkout.remove)


@dataclass(frozen=True)
class RoundChecks:
    #: what the engine ran, in order, stopping at the first failure
    results: list[CheckResult]
    #: the configured checks, or the detected test command (run or not); [] when there is none
    test_commands: list[str]


class Verification:
    def __init__(
        self,
        *,
        project: git.Repo,
        scratch: Path,
        factory: SessionFactory,
        check_env: Mapping[str, str],
        check_timeout_s: float,
        sandbox: bool = False,
        agent_env: tuple[str, ...] = (),
    ) -> None:
        self.project, self.scratch, self.factory = project, scratch, factory
        self.check_env, self.check_timeout_s = check_env, check_timeout_s
        #: checks run confined like agents (bubblewrap), with the same environment allowlist
        self.sandbox, self.agent_env = sandbox, agent_env
        #: the checks' process sessions while they run (a resumed run ends what a killed one left)
        self.alive = Leftovers(scratch / "alive")
        #: verifiers being made ready, by (round, name), and the checks' clones, by round: see ``get_ready``
        self._seats: dict[tuple[int, str], asyncio.Future[_Seat]] = {}
        self._check_clones: dict[int, asyncio.Future[CleanCheckout]] = {}
        #: the commit each round's checkouts were told to take
        self._commits: dict[int, str] = {}
        #: checkouts being removed in the background
        self._cleanups: set[asyncio.Task[None]] = set()

    async def checks(self, sha: str, commands: list[str], round_no: int, *, run_detected: bool = True) -> RoundChecks:
        """The configured checks; without any, the project's own test command detected in the checkout of
        ``sha`` (results marked ``source="detected"``), run unless ``run_detected`` is off. Either way the
        round's test commands are known, so a verifier cannot leave a failing one out of its evidence."""
        env = {**self.check_env, **CHECK_DEFAULTS}
        checkout = await self._checks_checkout(round_no)
        try:
            path = await asyncio.to_thread(checkout.check_out, sha)
            source = "configured"
            if not commands:
                found = await asyncio.to_thread(detect_test_command, path, env)
                commands, source = ([found] if found else []), "detected"
            if source == "detected" and not run_detected:
                return RoundChecks(results=[], test_commands=commands)
            env["GIT_CEILING_DIRECTORIES"] = str(path.resolve().parent)
            results = await asyncio.to_thread(
                run_checks,
                commands,
                path,
                env=env,
                timeout_s=self.check_timeout_s,
                confinement=self._confinement(path),
                alive=self.alive,
            )
        finally:
            self._later(checkout.remove)  # the checks have ended; removing their files waits for no one
        return RoundChecks([r.model_copy(update={"source": source}) for r in results], commands)

    async def verdicts(
        self,
        sha: str,
        *,
        goal: str,
        summary: str,
        round_no: int,
        verifiers: list[AgentSpec],
        test_commands: Sequence[str] = (),
        points: Sequence[ReviewPoint] = (),
        cached: Callable[[str], AgentResult | None],
        on_result: Callable[[str, AgentResult, Verdict], None],
    ) -> list[Verdict]:
        """Every verifier at once; ``cached`` returns results a resumed run already has. ``test_commands``
        (the round's checks) may not fail in a verifier's hands without sinking its pass."""

        async def one(spec: AgentSpec) -> Verdict:
            key = f"verify:{round_no}:{spec.name}"
            result = cached(key)
            if result is None:
                result = await self._ask(spec, sha, verifier_task(goal, sha, summary, points), round_no)
            verdict = judge(
                spec.name,
                result,
                checkout=str(self._checkout_path(round_no, spec)),
                test_commands=list(test_commands),
                points=points,
                browser=spec.browser,
            )
            on_result(key, result, verdict)
            return verdict

        asked = [asyncio.create_task(one(v)) for v in verifiers]
        try:
            return list(await asyncio.gather(*asked))
        finally:
            # a round that failed (the checkpoint could not be written) leaves no verifier working on
            for task in asked:
                task.cancel()
            await asyncio.gather(*asked, return_exceptions=True)
            await self.discard()  # those a resumed run did not need to ask

    def get_ready(self, round_no: int, verifiers: Sequence[AgentSpec], sha: str | None = None) -> None:
        """Start making ``verifiers`` ready for round ``round_no`` in the background (those already on the way
        go on): a checkout with nothing in it yet, a session, its CLI started; once commit ``sha`` exists,
        the checkout holds it too. Nothing is asked of a verifier here. The checks' checkout is cloned too,
        and takes ``sha`` as well.

        A checkout already cloned takes ``sha`` at once, in a thread, without waiting for the event loop: the
        caller may be in the middle of blocking work (the rest of the commit, the checkpoints after it)."""
        if round_no not in self._check_clones:
            self._check_clones[round_no] = asyncio.ensure_future(self._cloned(self._checks_path(round_no)))
        new = sha is not None and self._commits.get(round_no) != sha
        if sha is not None and new:
            self._commits[round_no] = sha
            self._check_clones[round_no] = _then(self._check_clones[round_no], lambda clone: clone.check_out(sha))
        for spec in verifiers:
            key = (round_no, spec.name)
            seat = self._seats.get(key)
            fresh = seat is None
            if seat is None:
                seat = asyncio.ensure_future(self._seat(spec, round_no))
            if sha is not None and (new or fresh):
                seat = _then(seat, lambda ready: ready.hold(self.project, sha))
            self._seats[key] = seat

    async def discard(self) -> None:
        """End every verifier made ready and not asked (checks failed, the run ended): its CLI, its checkout;
        and finish removing checkouts."""
        seats, self._seats, self._commits = list(self._seats.values()), {}, {}
        for seat in await asyncio.gather(*seats, return_exceptions=True):
            if isinstance(seat, _Seat):
                await seat.leave()
        clones, self._check_clones = list(self._check_clones.values()), {}
        for clone in await asyncio.gather(*clones, return_exceptions=True):
            if isinstance(clone, CleanCheckout):
                self._later(clone.remove)
        await asyncio.gather(*self._cleanups, return_exceptions=True)

    async def _checks_checkout(self, round_no: int) -> CleanCheckout:
        """The checks' clone of round ``round_no``: the one made ahead, or a new one."""
        ahead = self._check_clones.pop(round_no, None)
        return await (ahead if ahead is not None else self._cloned(self._checks_path(round_no)))

    async def _cloned(self, path: Path) -> CleanCheckout:
        checkout = CleanCheckout(self.project, None, path)
        await asyncio.to_thread(checkout.prepare)
        return checkout

    def _later(self, work: Callable[[], None]) -> None:
        """Run ``work`` in a thread without waiting for it (``discard`` does)."""
        task = asyncio.create_task(asyncio.to_thread(work))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _ask(self, spec: AgentSpec, sha: str, task: str, round_no: int) -> AgentResult:
        started = time.monotonic()
        pending = self._seats.pop((round_no, spec.name), None)
        seat = await (pending if pending is not None else self._seat(spec, round_no))
        try:
            await asyncio.to_thread(seat.hold, self.project, sha)
            if seat.session is None or seat.watch is None:
                raise seat.error or AgentError(f"the session of verifier {spec.name} did not open")
            try:
                result = await seat.session.query(task)
            finally:
                await seat.session.close()
            after = await asyncio.to_thread(seat.watch)
            return result.model_copy(
                update={"changed_files": tuple(changed_tracked_files(seat.checkout.path)), "checkout_after": after}
            )
        except AgentError as exc:
            return AgentResult(agent=spec.name, is_error=True, error=str(exc), duration_s=time.monotonic() - started)
        finally:
            await seat.leave()

    async def _seat(self, spec: AgentSpec, round_no: int) -> _Seat:
        checkout = CleanCheckout(self.project, None, self._checkout_path(round_no, spec))
        seat = _Seat(checkout)
        await asyncio.to_thread(checkout.prepare)
        try:
            seat.session = self.factory.open(
                agent=spec.name,
                role=f"verifier/{spec.name}",
                system_prompt=f"{role_marker(f'verifier/{spec.name}')}\n\n{spec.prompt}",
                model=spec.model,
                cwd=checkout.path,
                max_turns=spec.max_turns,
                idle_timeout_s=spec.idle_timeout_s,
                timeout_s=spec.timeout_s,
                watch=seat.observe,
            )
            await seat.session.start()
        except AgentError as exc:
            seat.error = exc  # told as the verifier's error result when it is asked
        return seat

    def _confinement(self, checkout: Path) -> Confinement:
        readable, hidden = git_exposure(checkout)
        return Confinement(
            writable=(checkout.resolve(),),
            home=(self.scratch / "homes" / "checks").resolve(),
            keep_env=frozenset({*self.agent_env, *CHECK_DEFAULTS, "GIT_CEILING_DIRECTORIES"}),
            cli_env=False,
            bwrap=self.sandbox,
            readable=readable,
            hidden=hidden,
        )

    def _checks_path(self, round_no: int) -> Path:
        return self.scratch / f"round{round_no}-checks"

    def _checkout_path(self, round_no: int, spec: AgentSpec) -> Path:
        return (self.scratch / f"round{round_no}-{spec.name}").resolve()


def _then(ahead: asyncio.Future[T], work: Callable[[T], object]) -> asyncio.Future[T]:
    """``ahead``'s value once ``work(value)`` has run on it in a thread. When ``ahead`` is already done, the
    thread starts now rather than when the event loop next runs (``asyncio.to_thread`` in a task would wait)."""

    def run(value: T) -> T:
        work(value)
        return value

    if ahead.done() and not ahead.cancelled() and ahead.exception() is None:
        return asyncio.get_running_loop().run_in_executor(None, run, ahead.result())

    async def after() -> T:
        return await asyncio.to_thread(run, await ahead)

    return asyncio.ensure_future(after())
