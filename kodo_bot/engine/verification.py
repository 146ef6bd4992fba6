"""One verification round of a committed cycle: the engine's own checks, then independent verifiers.

Checks run first, by the engine, in a clean checkout: a failure rejects at once without spending verifier
tokens. Verifiers then run concurrently, each in its own clean checkout of the commit with a fresh session,
so nothing uncommitted can fool them and they cannot disturb each other; whatever they edit is thrown away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import git

from kodo_bot.agents.base import SessionFactory, role_marker
from kodo_bot.engine.checks import run_checks
from kodo_bot.engine.models import AgentResult, CheckResult, Verdict
from kodo_bot.engine.team import AgentSpec
from kodo_bot.engine.verdict import judge, verifier_task
from kodo_bot.engine.workspace import CleanCheckout, changed_tracked_files
from kodo_bot.errors import AgentError


class Verification:
    def __init__(
        self,
        *,
        project: git.Repo,
        scratch: Path,
        factory: SessionFactory,
        check_env: Mapping[str, str],
        check_timeout_s: float,
    ) -> None:
        self.project, self.scratch, self.factory = project, scratch, factory
        self.check_env, self.check_timeout_s = check_env, check_timeout_s

    async def checks(self, sha: str, commands: list[str], round_no: int) -> list[CheckResult]:
        if not commands:
            return []
        with CleanCheckout(self.project, sha, self.scratch / f"round{round_no}-checks") as path:
            return await asyncio.to_thread(
                run_checks, commands, path, env=self.check_env, timeout_s=self.check_timeout_s
            )

    async def verdicts(
        self,
        sha: str,
        *,
        goal: str,
        summary: str,
        round_no: int,
        verifiers: list[AgentSpec],
        cached: Callable[[str], AgentResult | None],
        on_result: Callable[[str, AgentResult, Verdict], None],
    ) -> list[Verdict]:
        """Every verifier at once; ``cached`` returns results a resumed run already has."""

        async def one(spec: AgentSpec) -> Verdict:
            key = f"verify:{round_no}:{spec.name}"
            result = cached(key)
            if result is None:
                result = await self._ask(spec, sha, goal, summary, round_no)
            verdict = judge(spec.name, result)
            on_result(key, result, verdict)
            return verdict

        return list(await asyncio.gather(*(one(v) for v in verifiers)))

    async def _ask(self, spec: AgentSpec, sha: str, goal: str, summary: str, round_no: int) -> AgentResult:
        started = time.monotonic()
        with CleanCheckout(self.project, sha, self.scratch / f"round{round_no}-{spec.name}") as path:
            try:
                session = self.factory.open(
                    agent=spec.name,
                    role=f"verifier/{spec.name}",
                    system_prompt=f"{role_marker(f'verifier/{spec.name}')}\n\n{spec.prompt}",
                    model=spec.model,
                    cwd=path,
                    max_turns=spec.max_turns,
                    idle_timeout_s=spec.idle_timeout_s,
                    timeout_s=spec.timeout_s,
                )
                try:
                    result = await session.query(verifier_task(goal, sha, summary))
                finally:
                    await session.close()
                return result.model_copy(update={"changed_files": tuple(changed_tracked_files(path))})
            except AgentError as exc:
                return AgentResult(
                    agent=spec.name, is_error=True, error=str(exc), duration_s=time.monotonic() - started
                )
