"""kodo-bot as a library: run a goal on a project and get the typed outcome back.

::

    from kodo_bot import run, Team, ApiOrchestrator
    result = run("Add a --version flag.", "path/to/repo", team=Team.default(),
                 orchestrator=ApiOrchestrator("claude-sonnet-5-5"), max_cycles=3, on_event=print)
    print(result.outcome, result.branch)

Everything the CLI does happens here too: the same composition root (``kodo_bot.compose``), checkpoints,
logs and the run's branch. What could keep the run from starting (a missing API key, a limit out of range,
an empty goal) is refused with ``UserError`` before anything is created: no branch, worktree or run
directory is left behind. ``orchestrator`` and ``sessions`` swap the adapters: pass a
``kodo_bot.sandbox.scripted.Script``'s to rehearse a run offline, in process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from kodo_bot.compose import Sessions, backends_from_env
from kodo_bot.engine import events as ev
from kodo_bot.engine.launch import RunRequest, default_state_dir, drive, resume_run, start_run
from kodo_bot.engine.models import CostReport, Outcome
from kodo_bot.engine.ports import Orchestrator
from kodo_bot.engine.state import RunSettings, RunState, RunStore
from kodo_bot.engine.team import Team, format_validation_error
from kodo_bot.errors import UserError

__all__ = ["RunResult", "resume", "run"]


@dataclass(frozen=True)
class RunResult:
    """How a run ended, and where its work is."""

    run_id: str
    outcome: Outcome
    reason: str
    #: the branch holding every cycle's commit, and its head
    branch: str
    head_sha: str | None
    cycles: int
    rounds: int
    cost: CostReport
    duration_s: float
    #: the last cycle's summary
    summary: str
    #: the run's JSONL event log
    log: Path

    @property
    def accepted(self) -> bool:
        """Only an accepted run passed verification."""
        return self.outcome is Outcome.accepted


# Long for its public keyword signature (every run option, as the CLI offers it); the body is three steps.
def run(
    goal: str,
    project_dir: str | Path,
    *,
    team: Team | None = None,
    orchestrator: Orchestrator | None = None,
    sessions: Sessions | None = None,
    max_cycles: int = 10,
    max_cost_usd: float | None = None,
    max_minutes: float | None = None,
    max_rejections: int = 5,
    checks: Iterable[str] = (),
    default_check: bool = True,
    ui: bool | None = None,
    branch: str | None = None,
    base: str = "HEAD",
    state_dir: str | Path | None = None,
    allow_dirty: bool = False,
    on_event: Callable[[ev.Event], object] | None = None,
    sinks: Iterable[ev.EventSink] = (),
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Work on ``goal`` in the git repository ``project_dir`` until verification accepts it or a limit ends
    the run. The work lands on ``branch`` (default ``kodo/run-<id>``); the project's checkout is not
    touched. ``env`` (default ``os.environ``) supplies the credentials; agents never see its secrets."""
    team = team or Team.default()
    settings = _settings(
        max_cycles=max_cycles,
        max_cost_usd=max_cost_usd,
        max_minutes=max_minutes,
        max_rejections=max_rejections,
        check_commands=list(checks),
        default_check=default_check,
        ui=ui,
        team=team,
        sandbox=team.sandbox,
        agent_env=list(team.agent_env),
        **({"orchestrator_model": orchestrator.model} if orchestrator else {}),
    )
    request = RunRequest(
        goal=goal,
        project=Path(project_dir),
        settings=settings,
        branch=branch,
        base=base,
        state_dir=Path(state_dir) if state_dir else None,
        allow_dirty=allow_dirty,
    )
    backends = backends_from_env(os.environ if env is None else env, orchestrator=orchestrator, sessions=sessions)
    return _result(drive(start_run(request, backends, _sinks(on_event, sinks))), request.state_dir, request.project)


def resume(
    project_dir: str | Path,
    run_id: str | None = None,
    *,
    orchestrator: Orchestrator | None = None,
    sessions: Sessions | None = None,
    max_cycles: int | None = None,
    max_cost_usd: float | None = None,
    max_minutes: float | None = None,
    max_rejections: int | None = None,
    state_dir: str | Path | None = None,
    on_event: Callable[[ev.Event], object] | None = None,
    sinks: Iterable[ev.EventSink] = (),
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Continue an interrupted run (the latest one when ``run_id`` is None) where it stopped: no finished
    agent call is repeated. A run that stopped at a limit goes on only when that limit is raised here."""
    store = _store(Path(project_dir), state_dir)
    raised = {
        "max_cycles": max_cycles,
        "max_cost_usd": max_cost_usd,
        "max_minutes": max_minutes,
        "max_rejections": max_rejections,
    }
    backends = backends_from_env(os.environ if env is None else env, orchestrator=orchestrator, sessions=sessions)
    state = drive(resume_run(store, run_id, backends, _sinks(on_event, sinks), raise_limits=raised))
    return _result(state, store.state_dir, Path(project_dir))


def _settings(**fields: object) -> RunSettings:
    try:
        return RunSettings.model_validate(fields)
    except ValidationError as exc:
        raise UserError(f"the run's settings are invalid:\n{format_validation_error(exc)}") from None


class _Callback(ev.EventSink):
    def __init__(self, on_event: Callable[[ev.Event], object]) -> None:
        self.on_event = on_event

    def handle(self, event: ev.Event) -> None:
        self.on_event(event)


def _sinks(on_event: Callable[[ev.Event], object] | None, sinks: Iterable[ev.EventSink]) -> list[ev.EventSink]:
    return [*sinks, *([_Callback(on_event)] if on_event else [])]


def _store(project: Path, state_dir: str | Path | None) -> RunStore:
    return RunStore(Path(state_dir).resolve() if state_dir else default_state_dir(project.resolve()))


def _result(state: RunState, state_dir: Path | None, project: Path) -> RunResult:
    store = _store(project, state_dir)
    return RunResult(
        run_id=state.run_id,
        outcome=state.outcome or Outcome.error,
        reason=state.reason,
        branch=state.branch,
        head_sha=state.head_sha,
        cycles=state.cycle,
        rounds=state.rounds,
        cost=state.ledger.report(),
        duration_s=round(state.elapsed_s, 3),
        summary=state.summaries[-1] if state.summaries else state.last_text,
        log=store.events_path(state.run_id),
    )
