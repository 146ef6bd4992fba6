"""One issue ``kodo-bot watch`` found labelled, run in its own process: ``python -m kodo_bot.local.watch_child
SPEC``, SPEC a JSON object (repo, issue, sender, sender_type, label, api_url, work_dir); the token comes in
``GITHUB_TOKEN``. The run goes through ``handle.handle_trigger`` exactly as an Actions job's would, as if
the labelling GitHub recorded had just arrived: the sender's permission is asked, a reader is refused,
the lease and claim hold against any other runner.

Its own process, so that SIGTERM (from the watcher stopping) reaches ``engine.launch.drive`` in a main
thread: the run is saved as interrupted and its progress comment says so. The exit status is the run's.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from kodo_bot.compose import backends_from_env
from kodo_bot.errors import KodoError
from kodo_bot.github.client import GitHubClient
from kodo_bot.github.entry import BotSettings
from kodo_bot.github.handle import handle_trigger, manual_trigger
from kodo_bot.github.run_inputs import overrides_from_env
from kodo_bot.redact import redact
from kodo_bot.view import PlainView


def settings_from_env(env: Mapping[str, str], work_dir: Path, label: str) -> BotSettings:
    """What ``kodo-bot action`` and ``handle`` read from the environment, read the same way: the limits and
    the orchestrator (``KODO_MAX_CYCLES``, ``KODO_MAX_COST_USD``, ``KODO_MAX_MINUTES``, ``KODO_ORCHESTRATOR``,
    ``KODO_ORCHESTRATOR_MODEL``, ``KODO_TEAM``) win over ``.github/kodo.yml``."""

    def get(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    return BotSettings(
        work_root=work_dir,
        overrides=overrides_from_env(env),
        label=label,
        runner=get("RUNNER_NAME") or socket.gethostname(),
        bot_login=get("KODO_BOT_LOGIN"),
        fast=get("KODO_GITHUB_FAST") in ("1", "true", "yes"),
        extra_sinks=(PlainView(sys.stderr),),
    )


def run(spec: dict[str, str | int], env: dict[str, str]) -> int:
    token = SecretStr(env["GITHUB_TOKEN"])
    settings = settings_from_env(env, Path(str(spec["work_dir"])), str(spec["label"]))
    client = GitHubClient(token=token, repo=str(spec["repo"]), api_url=str(spec["api_url"]), retry=settings.retry())
    number = int(spec["issue"])
    try:
        trigger = manual_trigger(
            client, number, label=str(spec["label"]), sender=(str(spec["sender"]), str(spec["sender_type"]))
        )
        options = settings.options(job_url=None, attempt_id=f"watch-{os.getpid()}", manual=False)
        result = handle_trigger(
            trigger, client=client, token=token, backends=lambda: backends_from_env(env), options=options
        )
    finally:
        client.close()
    line = f"issue #{number}: {result.status}" + (f" ({result.outcome.value})" if result.outcome else "")
    if result.message:
        line += f": {result.message}"
    print(redact(line, client.secrets), file=sys.stderr, flush=True)
    return result.exit_code


def main() -> int:
    spec = json.loads(sys.argv[1])
    env = dict(os.environ)
    try:
        return run(spec, env)
    except KeyboardInterrupt:
        print(f"issue #{spec['issue']}: interrupted; the run is saved and resumes on the next start", file=sys.stderr)
        return 130
    except KodoError as exc:
        print(f"issue #{spec['issue']}: {redact(str(exc), (env.get('GITHUB_TOKEN', ''),))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
