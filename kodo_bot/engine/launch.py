"""Starting and resuming runs: turn a goal and a project into a prepared ``Run``, or pick one up again.

This is where the pieces meet (project repo, worktree, team availability, sinks, the orchestrator and the
agent backend); the GitHub layer and the CLI both come through here, with whatever sinks they need.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import signal
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kodo_bot.confine import Leftovers, not_dumpable
from kodo_bot.engine import events as ev
from kodo_bot.engine.log import JsonlLog, read_events
from kodo_bot.engine.models import Outcome, ReviewPoint
from kodo_bot.engine.ports import Orchestrator, SessionFactory
from kodo_bot.engine.runner import Run
from kodo_bot.engine.state import CrashAt, RunSettings, RunState, RunStore, unconfined_reason
from kodo_bot.engine.team import Team, lacking_note
from kodo_bot.engine.verification import Verification
from kodo_bot.engine.workspace import RunWorkspace, exclude_from_git, open_project, prior_cycles
from kodo_bot.errors import ConfigError, UserError


@dataclass
class Backends:
    """The adapters a run is wired to, built by the composition root (``kodo_bot.compose``) or a test."""

    #: the orchestrator for a run with these settings (``settings.orchestrator_model``)
    orchestrator: Callable[[RunSettings], Orchestrator]
    #: builds the agent backend for a run, given the run's own directory (for the agents' config/sessions)
    #: and its settings (the sandbox switch, the variables agents may see)
    session_factory: Callable[[Path, RunSettings], SessionFactory]
    #: environment for the engine's check commands (secrets already scrubbed)
    check_env: Mapping[str, str] = field(default_factory=dict)
    #: test-only: kill this process at a chosen checkpoint write (``KODO_CRASH_AT_SAVE``)
    crash: CrashAt | None = None
    #: values that must never be written to the run's log (tokens, keys), whatever quotes them
    secrets: tuple[str, ...] = ()


@dataclass
class RunRequest:
    goal: str
    project: Path
    settings: RunSettings
    goal_title: str | None = None
    state_dir: Path | None = None
    branch: str | None = None
    allow_dirty: bool = False
    #: the ref to branch from (default: the project's HEAD)
    base: str = "HEAD"
    run_id: str | None = None
    #: when ``branch`` already exists, continue the work on it instead of refusing: the cycle count and the
    #: cycles' summaries are read back from its commits (``Kodo-Cycle`` trailers). The GitHub layer uses this
    #: when a run is taken over on a machine that does not have the earlier run's checkpoint.
    continue_branch: bool = False
    #: what people asked of the work (a review's comments, a CI failure): the verifiers answer each one
    review_points: tuple[ReviewPoint, ...] = ()


def goal_title(goal: str) -> str:
    line = next((ln.strip().lstrip("#").strip() for ln in goal.splitlines() if ln.strip()), "")
    return line[:120] or "untitled goal"


def default_state_dir(project: Path) -> Path:
    return project / ".kodo"


class RunLock:
    """One process per run: an OS lock on the run directory, released even if the holder is killed -9."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self._fh = open(run_dir / "lock", "a+")
        if not _flock_within(self._fh, seconds=1.0):
            self._fh.close()
            raise UserError(f"run {run_dir.name} is being worked on by another kodo-bot process")
        self._fh.truncate(0)
        self._fh.write(str(os.getpid()))
        self._fh.flush()

    def release(self) -> None:
        if not self._fh.closed:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()


def _flock_within(fh: Any, *, seconds: float) -> bool:
    """Take the lock, trying for a moment: ``runs`` and ``report`` hold it shared for an instant to see whether
    a run is alive (``RunStore.is_live``), and a resume started just then must not be refused for it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def drive(coro: Coroutine[Any, Any, RunState]) -> RunState:
    """Run a ``start_run``/``resume_run`` to its end in this process.

    SIGTERM (a cancelled Actions job, a stopping service) is treated like Ctrl-C: the run is saved as
    interrupted, resumable, and ``KeyboardInterrupt`` is raised for the entry point to report.
    """

    async def main() -> RunState:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None  # main() runs as asyncio.run's task
        terminated = False

        def on_sigterm() -> None:
            nonlocal terminated
            terminated = True
            task.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        except (ValueError, RuntimeError, NotImplementedError):
            pass  # not the main thread: SIGTERM keeps its default meaning
        try:
            return await coro
        except asyncio.CancelledError:
            if terminated:
                raise KeyboardInterrupt from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    return asyncio.run(main())


def ready_orchestrator(backends: Backends, settings: RunSettings) -> Orchestrator:
    """The run's orchestrator, refused before anything is created when it cannot answer (no API key): a run
    that cannot start leaves no branch, worktree or run directory behind."""
    orchestrator = backends.orchestrator(settings)
    if why := orchestrator.missing():
        raise UserError(f"the run cannot start: {why}", hint=orchestrator.fix)
    return orchestrator


async def start_run(req: RunRequest, backends: Backends, sinks: list[ev.EventSink] | None = None) -> RunState:
    if not req.goal.strip():
        raise UserError("the goal is empty", hint="write what you want done in the goal file or --goal")
    orchestrator = ready_orchestrator(backends, req.settings)
    project = req.project.resolve()
    repo = open_project(project, allow_dirty=req.allow_dirty)
    state_dir = (req.state_dir or default_state_dir(project)).resolve()
    exclude_from_git(repo, state_dir)
    store = RunStore(state_dir)
    run_id = req.run_id or store.new_run_id()
    branch = req.branch or f"kodo/run-{run_id}"
    try:
        base_sha = repo.commit(req.base).hexsha
    except Exception as exc:
        raise UserError(f"cannot branch from {req.base!r}: {exc}") from exc
    existing = branch in [h.name for h in repo.heads]
    if existing and not req.continue_branch:
        raise UserError(f"branch {branch} already exists", hint="pick another --branch, or resume the run that made it")
    state = RunState(
        run_id=run_id,
        created_at=datetime.now(UTC),
        goal=req.goal.strip(),
        goal_title=req.goal_title or goal_title(req.goal),
        project=str(project),
        worktree=str(store.worktree_dir(run_id)),
        branch=branch,
        base_sha=base_sha,
        settings=req.settings,
        review_points=list(req.review_points),
    )
    if existing:
        state.cycle, state.summaries = prior_cycles(repo, branch, base_sha)
        # the limit is this run's own: a follow-up on a branch whose run used all its cycles still gets its own
        state.settings = state.settings.model_copy(update={"max_cycles": state.cycle + req.settings.max_cycles})
        state.head_sha = repo.commit(branch).hexsha
    repo.close()  # the run opens its own
    return await _drive(state, store, backends, orchestrator, sinks or [], resumed=False)


async def resume_run(
    store: RunStore,
    run_id: str | None,
    backends: Backends,
    sinks: list[ev.EventSink] | None = None,
    *,
    raise_limits: Mapping[str, object] | None = None,
) -> RunState:
    given = {k: v for k, v in (raise_limits or {}).items() if v is not None}
    state = store.load(run_id) if run_id else store.latest_resumable(limit_stops=bool(given))
    if state.outcome in _LIMIT_STOPS and not _untold(store, state):
        if missing := _not_raised(state, given):
            why = "the limits given do not raise it; nothing was changed" if given else "it goes on at a raised limit"
            raise UserError(
                f"run {state.run_id} stopped at {state.outcome.value} ({state.reason}): {why}",
                hint=f"kodo-bot resume {state.run_id} {missing}",
            )
        state.outcome = None  # the limit that stopped it was raised: the run may go on
    if state.resumable:
        state.settings = state.settings.model_copy(update=given)
    if not state.resumable and _untold(store, state):
        return _tell_the_end(state, store, backends, sinks or [])
    if not state.resumable:
        raise UserError(
            f"run {state.run_id} already ended: {state.outcome.value if state.outcome else '?'} ({state.reason})",
            hint=f"its work is on branch {state.branch}; to go further, start a new run (kodo-bot run --branch "
            "NEW ...) or, on GitHub, comment on the pull request",
        )
    orchestrator = ready_orchestrator(backends, state.settings)
    state.outcome, state.reason = None, ""
    return await _drive(state, store, backends, orchestrator, sinks or [], resumed=True)


#: the outcomes a run can be revived from, by raising the limit that stopped it
_LIMIT_STOPS = (Outcome.max_cycles, Outcome.budget_exhausted)
#: the CLI flag that raises each limit, for the message that asks for it
_FLAGS = {"max_cycles": "--cycles", "max_cost_usd": "--max-cost-usd", "max_minutes": "--max-minutes"}


def _not_raised(state: RunState, given: Mapping[str, object]) -> str:
    """The flags still needed to raise every limit that stopped the run above what it used ("" when ``given``
    does): a limit at or below the use would stop the run again at once."""
    used = {"max_cycles": state.cycle, "max_cost_usd": state.ledger.total("api"), "max_minutes": state.elapsed_s / 60}
    return " ".join(
        f"{_FLAGS[name]} N (N above {used[name]:g})"
        for name in _stopped_limits(state)
        if not (isinstance(value := given.get(name), int | float) and value > used[name])
    )


def _stopped_limits(state: RunState) -> list[str]:
    """The limits that stopped a ``max_cycles``/``budget_exhausted`` run: the cycles; or the API spend, the
    wall time, or both, whichever was used up (the time, when the spend was not)."""
    if state.outcome is Outcome.max_cycles:
        return ["max_cycles"]
    s = state.settings
    spent = s.max_cost_usd is not None and state.ledger.total("api") >= s.max_cost_usd
    timed = s.max_minutes is not None and (state.elapsed_s >= s.max_minutes * 60 or not spent)
    return [name for name, hit in (("max_cost_usd", spent), ("max_minutes", timed)) if hit]


async def _drive(
    state: RunState,
    store: RunStore,
    backends: Backends,
    orchestrator: Orchestrator,
    sinks: list[ev.EventSink],
    *,
    resumed: bool,
) -> RunState:
    lock = RunLock(store.run_dir(state.run_id))
    store.crash = backends.crash or store.crash
    store.secrets = tuple(backends.secrets)
    bus, run = None, None
    try:
        store.save(state)  # first, so a run killed while it is being set up is listed and resumable
        bus = _event_bus(state, store, backends, sinks)
        run = _assemble(state, store, backends, orchestrator, bus, resumed=resumed)
        return await run.execute()
    finally:
        await orchestrator.close()
        if bus is not None:
            bus.close()
        if run is not None:
            run.workspace.project.close()  # its git cat-file helpers end with the run, not when collected
        lock.release()


def _assemble(
    state: RunState, store: RunStore, backends: Backends, orchestrator: Orchestrator, bus: ev.EventBus, *, resumed: bool
) -> Run:
    """The run's parts: its worktree, the agents that are available, verification, the loop."""
    repo = open_project(Path(state.project), allow_dirty=True)
    # A killed run may have left agents or checks running (only without the sandbox): end them first.
    for folder in (store.run_dir(state.run_id) / "claude" / "alive", store.scratch_dir(state.run_id) / "alive"):
        Leftovers(folder).reap()
    factory = backends.session_factory(store.run_dir(state.run_id), state.settings)
    _warn_if_unconfined(state, bus)
    state.settings = state.settings.model_copy(update={"team": _available_team(state, factory, bus)})
    workspace = RunWorkspace.create_or_reuse(
        repo, Path(state.worktree), state.branch, base=state.base_sha, secrets=backends.secrets
    )
    verification = Verification(
        project=repo,
        scratch=store.scratch_dir(state.run_id),
        factory=factory,
        check_env=backends.check_env,
        check_timeout_s=state.settings.check_timeout_s,
        sandbox=unconfined_reason(state.settings) is None,
        agent_env=tuple(state.settings.agent_env),
    )
    return Run(
        state,
        store=store,
        workspace=workspace,
        orchestrator=orchestrator,
        factory=factory,
        verification=verification,
        bus=bus,
        resumed=resumed,
    )


def _untold(store: RunStore, state: RunState) -> bool:
    logged = read_events(store.events_path(state.run_id))
    return bool(state.outbox) and state.outbox[-1].seq > (logged[-1].seq if logged else 0)


def _tell_the_end(state: RunState, store: RunStore, backends: Backends, sinks: list[ev.EventSink]) -> RunState:
    """A run killed just after the write that ended it has not told its end (``RunFinished``): tell it now.
    Nothing else is done; the run is over."""
    lock = RunLock(store.run_dir(state.run_id))
    try:
        bus = _event_bus(state, store, backends, sinks)
        store.save(state)
        bus.close()
    finally:
        lock.release()
    return state


def _event_bus(state: RunState, store: RunStore, backends: Backends, sinks: list[ev.EventSink]) -> ev.EventBus:
    """The run's bus, numbering on after the log. A run killed just after a checkpoint has not told that
    step's events (its ``outbox``): tell those the log does not have, with the numbers they were given."""
    log = JsonlLog(store.events_path(state.run_id), secrets=backends.secrets)
    logged = read_events(store.events_path(state.run_id))
    last = logged[-1].seq if logged else 0
    bus = ev.EventBus([log, *sinks], next_seq=max(state.next_seq, last + 1))
    for event in state.outbox:
        if event.seq > last:
            bus.deliver(event)
    state.outbox = []
    return bus


def _warn_if_unconfined(state: RunState, bus: ev.EventBus) -> None:
    why = unconfined_reason(state.settings)
    if why is None:
        return
    not_dumpable()
    bus.emit(
        ev.Notice(
            run_id=state.run_id,
            level="warning",
            message=(
                f"AGENTS ARE NOT SANDBOXED: {why}. They can read other processes' environments and files of this "
                "user; kodo-bot falls back to ending their process groups and keeping its own memory unreadable."
            ),
        )
    )


def _available_team(state: RunState, factory: SessionFactory, bus: ev.EventBus) -> Team:
    """Leave out agents whose backend or tools are missing here, with a warning, never a crash."""
    team = state.settings.team
    missing: dict[str, str] = {}
    for spec in team.agents.values():
        why = factory.available(spec.backend)
        if why is None:
            lacking = [tool for tool in spec.needs if shutil.which(tool) is None]
            why = lacking_note(lacking) if lacking else None
        if why:
            missing[spec.name] = why
    for name, why in missing.items():
        bus.emit(ev.Notice(run_id=state.run_id, message=f"agent {name} left out: {why}"))
    state.left_out = sorted(missing)
    if len(missing) == len(team.agents):
        reasons = sorted(set(missing.values()))
        raise ConfigError(
            f"no agent of team {team.name!r} can run here: {'; '.join(reasons)}",
            hint="install claude-agent-sdk (it bundles the Claude Code CLI) or point KODO_CLAUDE_CLI at a working CLI",
        )
    available = team.without(set(missing))
    if not available.verifiers_for(state.goal, ui=state.settings.ui) and not state.settings.check_commands:
        raise ConfigError(
            "nothing could verify the work: no agent with `verify:` can run and there are no check commands",
            hint="give an agent `verify: always` in the team file, or add --check 'pytest -q'",
        )
    return available
