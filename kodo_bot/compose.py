"""The composition root: the one place that wires the engine to its adapters.

The engine knows ports (``engine/ports.py``); this module picks the adapters behind them from the
environment: the orchestrator on the Anthropic API (key from ``KODO_ORCHESTRATOR_API_KEY`` or
``ANTHROPIC_API_KEY``), agents on the Claude Code CLI with a scrubbed environment, checks with the secrets
removed, and the values every log and comment must mask. The CLI, the GitHub entry points, the public API
(``kodo_bot.api``), the demos and the benchmarks all get their ``Backends`` here. Adapters are imported when
a run is built, so commands that never run (``runs``, ``report``) start fast.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

from kodo_bot.errors import ConfigError, UserError
from kodo_bot.secret_names import is_secret_name, secret_values

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing.TypeIs is 3.13; annotations only, never imported at run time

    from kodo_bot.engine.launch import Backends
    from kodo_bot.engine.ports import Orchestrator, SessionFactory
    from kodo_bot.engine.state import CrashAt, RunSettings

#: how a caller may give the agent backend: one factory for every run, or a builder per run directory
Sessions = Union["SessionFactory", Callable[[Path, "RunSettings"], "SessionFactory"]]

_N = TypeVar("_N", int, float)


def backends_from_env(
    env: Mapping[str, str],
    *,
    orchestrator: Orchestrator | None = None,
    sessions: Sessions | None = None,
    model_retries: int = 4,
    model_backoff_s: float = 2.0,
) -> Backends:
    """Adapters for a run in this environment. ``orchestrator`` and ``sessions`` replace the defaults (the
    Anthropic API, Claude Code) when given: a script in tests and rehearsals, another model in a library."""
    from kodo_bot.engine.launch import Backends

    timeout = env_number(env, "KODO_MODEL_TIMEOUT_S", float)

    def make_orchestrator(settings: RunSettings) -> Orchestrator:
        if orchestrator is not None:
            return _with_env_key(orchestrator, env)
        tuning: dict[str, Any] = {
            "retries": model_retries,
            "backoff_s": model_backoff_s,
            **({"timeout_s": timeout} if timeout else {}),
        }
        if settings.orchestrator_kind == "claude-code":
            from kodo_bot.orchestrators.claude_code import ClaudeCodeOrchestrator

            return ClaudeCodeOrchestrator(
                settings.orchestrator_model,
                parent_env=env,
                cli_path=env.get("KODO_CLAUDE_CLI") or None,
                timeout_s=timeout or 600.0,
            )
        if settings.orchestrator_kind == "api:gemini":
            from kodo_bot.orchestrators import gemini

            return gemini.GeminiOrchestrator(
                settings.orchestrator_model,
                api_key=_first(env, gemini.KEY_VARIABLES),
                base_url=env.get(gemini.BASE_URL_VARIABLE) or None,
                **tuning,
            )
        from kodo_bot.orchestrators.anthropic import KEY_VARIABLES, ApiOrchestrator

        return ApiOrchestrator(
            settings.orchestrator_model,
            api_key=_first(env, KEY_VARIABLES),
            base_url=env.get("ANTHROPIC_BASE_URL") or None,
            **tuning,
        )

    return Backends(
        orchestrator=make_orchestrator,
        session_factory=_session_builder(env, sessions),
        check_env={k: v for k, v in env.items() if not is_secret_name(k)},
        secrets=secret_values(env),
        crash=crash_point(env),
    )


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[k] for k in names if env.get(k)), None)


def _session_builder(
    env: Mapping[str, str], sessions: Sessions | None
) -> Callable[[Path, RunSettings], SessionFactory]:
    if sessions is None:
        cli_path = env.get("KODO_CLAUDE_CLI") or None

        def claude(run_dir: Path, settings: RunSettings) -> SessionFactory:
            from kodo_bot.agents.claude import ClaudeSessionFactory

            def make() -> ClaudeSessionFactory:
                return ClaudeSessionFactory(
                    state_dir=run_dir / "claude",
                    cli_path=cli_path,
                    parent_env=env,
                    sandbox=settings.sandbox,
                    agent_env=tuple(settings.agent_env),
                    browsers=frozenset(name for name, spec in settings.team.agents.items() if spec.browser),
                )

            backends = {name: spec.backend for name, spec in settings.team.agents.items()}
            if set(backends.values()) <= {"claude_code"}:
                return make()
            from kodo_bot.agents.backends import BackendSessionFactory, unverifiable

            # the other CLIs' processes are recorded where the run reaps Claude Code's after a crash
            factory = BackendSessionFactory(backends=backends, state_dir=run_dir / "agents", parent_env=env,
                                            claude=make, alive=run_dir / "claude" / "alive", sandbox=settings.sandbox,
                                            agent_env=tuple(settings.agent_env))  # fmt: skip
            verifiers = [(a.name, a.backend, a.needs) for a in settings.team.agents.values() if a.verify == "always"]
            if why := unverifiable(verifiers, factory):
                raise ConfigError(why, hint="install the verifiers' CLIs, or give another agent `verify: always`")
            return factory

        return claude
    if _is_factory(sessions):
        return lambda run_dir, settings: sessions
    return sessions


def _is_factory(sessions: Sessions) -> TypeIs[SessionFactory]:
    """A factory has ``open``; a per-run builder is a plain callable."""
    return hasattr(sessions, "open")


def _with_env_key(orchestrator: Orchestrator, env: Mapping[str, str]) -> Orchestrator:
    """An API orchestrator given without a key takes it from the environment, as the default one does."""
    from kodo_bot.orchestrators.anthropic import KEY_VARIABLES, ApiOrchestrator

    if isinstance(orchestrator, ApiOrchestrator) and not orchestrator.api_key:
        orchestrator = copy.copy(orchestrator)
        orchestrator.api_key = next((env[k] for k in KEY_VARIABLES if env.get(k)), None)
        orchestrator.base_url = orchestrator.base_url or env.get("ANTHROPIC_BASE_URL") or None
    return orchestrator


def crash_point(env: Mapping[str, str]) -> CrashAt | None:
    """Test-only: ``KODO_CRASH_AT_SAVE=N`` kills kodo-bot (SIGKILL) right after its Nth checkpoint write,
    ``KODO_CRASH_BEFORE_SAVE=N`` right before it, to prove that a crash anywhere resumes."""
    from kodo_bot.engine.state import CrashAt

    for name, before in (("KODO_CRASH_AT_SAVE", False), ("KODO_CRASH_BEFORE_SAVE", True)):
        if n := env_number(env, name, int):
            return CrashAt(save=n, before=before)
    return None


def env_number(env: Mapping[str, str], name: str, kind: type[_N]) -> _N | None:
    """A positive number from the environment; a clear error, never a traceback, for anything else."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise UserError(f"{name} should be a number, not {raw!r}") from None
    if value <= 0:
        raise UserError(f"{name} should be positive, not {raw!r}")
    return value
