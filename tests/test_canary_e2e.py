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
import subprocess
import sys
from pathlib import Path

import git
import pytest

from kodo_bot.confine import sandbox_problem
from kodo_bot.sandbox.demo import DEMO_KEY
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


def plant(tmp_path: Path) -> tuple[Path, Path]:
    """The runner's home and an Actions runner's folders, each holding a canary."""
    home = tmp_path / "runner-home"
    home.mkdir()
    (home / ".git-credentials").write_text(f"https://x-access-token:{HOME_CREDENTIAL}@github.com\n")
    runner = tmp_path / "actions-runner"
    (runner / "_work" / "repo").mkdir(parents=True)
    (runner / ".credentials").write_text(f'{{"token": "{RUNNER_CREDENTIAL}"}}')
    (runner / "_work" / "_temp").mkdir()
    (runner / "_work" / "_temp" / "set_env_1").write_text(f"SECRET={RUNNER_TEMP_SECRET}\n")
    return home, runner


HEADER = base64.b64encode(f"x-access-token:{CHECKOUT_TOKEN}".encode()).decode()
SECRETS = [
    *CANARIES.values(),
    "canary-db-password-0004",
    PARENT_ONLY,
    HOME_CREDENTIAL,
    CHECKOUT_TOKEN,
    HEADER,
    RUNNER_CREDENTIAL,
    RUNNER_TEMP_SECRET,
]


def look_around(home: Path, runner: Path) -> str:
    return " ; ".join(
        [
            "env > found-env.txt",
            "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done > found-proc.txt 2>&1",
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done >> found-proc.txt 2>&1",
            "ps eww -A > found-ps.txt 2>&1",
            f"cat ~/.git-credentials {home}/.git-credentials .git/config $(git rev-parse --git-common-dir)/config "
            f"{runner}/.credentials {runner}/_work/_temp/set_env_1 > found-files.txt 2>&1",
            f"ls -la {home} {runner} >> found-files.txt 2>&1",
            "true",
        ]
    )


def runner_env(home: Path, runner: Path) -> dict[str, str]:
    return {
        **CANARIES,
        "HOME": str(home),
        "RUNNER_WORKSPACE": str(runner / "_work" / "repo"),
        "RUNNER_TEMP": str(runner / "_work" / "_temp"),
    }


def in_a_shell_with_its_own_secret(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Start ``argv`` from a shell that holds a secret of its own, which the child never had."""
    return subprocess.run(
        [
            "/bin/sh",
            "-c",
            'PARENT_ONLY_SECRET="$1"; export PARENT_ONLY_SECRET; shift; env -u PARENT_ONLY_SECRET "$@"; echo "exit=$?"',
            "sh",
            PARENT_ONLY,
            *argv,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def leaks(places: dict[str, str]) -> list[tuple[str, str]]:
    return [(secret, where) for where, text in places.items() for secret in SECRETS if secret in text]


def files_under(root: Path) -> dict[str, str]:
    return {
        str(p): p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and ".git/objects" not in str(p)
    }


def test_no_canary_reaches_the_model_the_log_the_checkpoint_the_transcripts_or_the_branch(tmp_path: Path):
    assert sandbox_problem() is None, sandbox_problem()  # .ci/run installs bubblewrap
    home, runner = plant(tmp_path)
    project = make_project(tmp_path)
    git.Repo(project).git.config("http.https://github.com/.extraheader", f"AUTHORIZATION: basic {HEADER}")
    look = look_around(home, runner)
    roles = {
        "orchestrator": [delegate(("worker_fast", "Look around.")), done("Looked around.")],
        "worker_fast": [bash(look), bash("cat found-*.txt"), say("Done looking.")],
        "verifier/tester": verifier_passes("cat found-files.txt"),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }
    with ScriptedModelServer({"roles": roles}) as server:
        env = {**agent_test_env(server.url), **runner_env(home, runner)}
        parent = in_a_shell_with_its_own_secret(
            [sys.executable, "-m", "kodo_bot.cli", "run", "--goal", "Look", "--project", str(project), "--json"], env
        )
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
        **files_under(project / ".kodo" / "runs"),
    }
    assert leaks(places) == []
    # The CLI's own key is the agent's to see (the model saw it in the tool results), but it is withheld
    # from the commits and masked in the log, the checkpoint and the transcripts.
    assert [where for where, text in places.items() if DEMO_KEY in text] == ["the requests the model server got"]
    assert "found-files.txt" in committed  # the agent's findings were committed, and hold nothing


def test_no_canary_leaves_kodo_bot_action_in_comments_pushes_logs_or_requests(tmp_path: Path):
    from tests.github_support import REPO, make_scene

    assert sandbox_problem() is None, sandbox_problem()
    home, runner = plant(tmp_path)
    scene = make_scene(tmp_path, {"README.md": "# app\n", "test_base.py": "def test_ok():\n    pass\n"})
    number = scene.issue("Look around", "Look around the runner.")
    event = scene.label(number)
    roles = {
        "orchestrator": [delegate(("worker_fast", "Look around.")), done("Looked around.")],
        "worker_fast": [bash(look_around(home, runner)), bash("cat found-*.txt"), say("Done looking.")],
        "verifier/tester": verifier_passes("git show --stat HEAD"),
        "verifier/architect": verifier_passes("git show --stat HEAD"),
    }
    with ScriptedModelServer({"roles": roles}) as server:
        # the job's token is the real one here (the emulator checks it), and just as secret as the canaries
        env = {**scene.env(event, model_url=server.url), **runner_env(home, runner), "GITHUB_TOKEN": scene.token}
        job = in_a_shell_with_its_own_secret([sys.executable, "-m", "kodo_bot.cli", "action"], env)
        bodies = repr(server.request_bodies)
    assert "exit=0" in job.stdout, job.stderr[-3000:]
    assert scene.outputs()["outcome"] == "accepted"
    pushed = git.Repo.init(tmp_path / "inspect")
    pushed.git.fetch(scene.emu.git_url(REPO), "+refs/heads/*:refs/remotes/gh/*")
    comments = [c.body for n in (number, *(p.number for p in scene.pulls())) for c in scene.emu.comments(REPO, n)]
    places = {
        "the requests the model server got": bodies,
        "the pushed refs": pushed.git.log("-p", "--all"),
        "the comments": "\n".join(comments),
        "the job summary": scene.summary(),
        "the job's output": job.stdout + job.stderr,
        **files_under(tmp_path / "job"),
        **files_under(tmp_path / "runner-work"),
    }
    assert leaks(places) == []
    assert not [where for where, text in places.items() if scene.token in text]
    assert "found-files.txt" in places["the pushed refs"]  # the findings were pushed, and hold nothing
