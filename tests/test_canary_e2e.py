"""Canary secrets everywhere above the agents; a scripted agent goes looking for them; none gets out.

The secrets sit in kodo-bot's environment, in its parent's (a shell that starts it), in the runner's home
(``~/.git-credentials``), in the project's ``.git/config`` (as ``actions/checkout`` writes a token, base64
in an extraheader), in the Actions runner's own folders. The agent runs ``env``, walks ``/proc/*/environ``,
runs ``ps eww``, reads those files, and writes everything it found into the worktree, which the engine then
commits. Afterwards no canary, nor its base64 form, may appear in what the model server was sent, the event
log, the checkpoint, the CLI's transcripts, or the run branch.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest

from kodo_bot.confine import sandbox_problem
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import bash, delegate, done, say, verifier_passes
from tests.e2e_support import agent_test_env, make_project

pytestmark = pytest.mark.e2e

CANARIES = {
    "GITHUB_TOKEN": "ghs_canaryGITHUBtoken000000000000000001",
    "AWS_SECRET_ACCESS_KEY": "canary-aws-secret-0002",
    "KODO_SOME_SETTING": "canary-kodo-setting-0003",
    "DATABASE_URL": "postgres://app:canary-db-password-0004@db.internal/app",
    "NPM_TOKEN": "canary-npm-0005",
}
PARENT_ONLY = "canary-parent-shell-0006"
HOME_CREDENTIAL = "canary-git-credentials-0007"
CHECKOUT_TOKEN = "canary-extraheader-0008"
RUNNER_CREDENTIAL = "canary-runner-credentials-0009"
RUNNER_TEMP_SECRET = "canary-runner-temp-0010"


def test_no_canary_reaches_the_model_the_log_the_checkpoint_the_transcripts_or_the_branch(tmp_path: Path):
    assert sandbox_problem() is None, sandbox_problem()  # .ci/run installs bubblewrap
    home = tmp_path / "runner-home"
    home.mkdir()
    (home / ".git-credentials").write_text(f"https://x-access-token:{HOME_CREDENTIAL}@github.com\n")
    runner = tmp_path / "actions-runner"
    (runner / "_work" / "repo").mkdir(parents=True)
    (runner / ".credentials").write_text(f'{{"token": "{RUNNER_CREDENTIAL}"}}')
    (runner / "_work" / "_temp").mkdir()
    (runner / "_work" / "_temp" / "set_env_1").write_text(f"SECRET={RUNNER_TEMP_SECRET}\n")
    project = make_project(tmp_path)
    header = base64.b64encode(f"x-access-token:{CHECKOUT_TOKEN}".encode()).decode()
    git.Repo(project).git.config("http.https://github.com/.extraheader", f"AUTHORIZATION: basic {header}")

    look = " ; ".join([
        "env > found-env.txt",
        "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done > found-proc.txt 2>&1",
        "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done >> found-proc.txt 2>&1",
        "ps eww -A > found-ps.txt 2>&1",
        f"cat ~/.git-credentials {home}/.git-credentials .git/config $(git rev-parse --git-common-dir)/config "
        f"{runner}/.credentials {runner}/_work/_temp/set_env_1 > found-files.txt 2>&1",
        f"ls -la {home} {runner} >> found-files.txt 2>&1",
        "true",
    ])
    roles = {
        "orchestrator": [delegate(("worker_fast", "Look around.")), done("Looked around.")],
        "worker_fast": [bash(look), bash("cat found-*.txt"), say("Done looking.")],
        "verifier/tester": verifier_passes("cat found-env.txt"),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }
    with ScriptedModelServer({"roles": roles}) as server:
        env = {**agent_test_env(server.url), **CANARIES, "HOME": str(home),
               "RUNNER_WORKSPACE": str(runner / "_work" / "repo"), "RUNNER_TEMP": str(runner / "_work" / "_temp")}
        # The parent shell holds a secret of its own that kodo-bot never had.
        parent = subprocess.run(
            ["/bin/sh", "-c", 'PARENT_ONLY_SECRET="$1"; export PARENT_ONLY_SECRET; '
             'env -u PARENT_ONLY_SECRET "$2" -m kodo_bot.cli run --goal "Look" --project "$3" --json; '
             'echo "exit=$?"', "sh", PARENT_ONLY, sys.executable, str(project)],
            env=env, capture_output=True, text=True, timeout=240)
        bodies = repr(server.request_bodies)
    assert "exit=0" in parent.stdout, parent.stderr[-3000:]

    branch = next(h for h in git.Repo(project).heads if h.name.startswith("kodo/run-"))
    found = (project / ".kodo" / "worktrees").rglob("found-files.txt")
    looked = next(found).read_text()
    assert "No such file" in looked  # the files were looked for and were not there to read
    committed = git.Repo(project).git.log("-p", "--all", "--full-history", branch.name)
    places = {
        "the requests the model server got": bodies,
        "the run branch": committed,
        **{str(p.relative_to(project)): p.read_text(errors="replace")
           for p in (project / ".kodo" / "runs").rglob("*") if p.is_file()},
    }
    secrets = [*CANARIES.values(), "canary-db-password-0004", PARENT_ONLY, HOME_CREDENTIAL, CHECKOUT_TOKEN, header,
               RUNNER_CREDENTIAL, RUNNER_TEMP_SECRET]
    leaks = [(secret, where) for where, text in places.items() for secret in secrets if secret in text]
    assert leaks == []
    assert "found-env.txt" in committed  # the agent's findings were committed, and hold nothing
    assert os.environ.get("PARENT_ONLY_SECRET") is None
