"""The confinement agents and checks run in, tried directly with real bubblewrap and a real shell."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from kodo_bot.confine import Confinement, repository_dir, sandbox_problem
from kodo_bot.engine.team import Team


def run(conf: Confinement, script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    argv, run_env = conf.command(["/bin/sh", "-c", script], env)
    return subprocess.run(argv, env=run_env, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def outside_tmp():
    # The confined process gets a private /tmp, so a "home" and a checkout under pytest's /tmp would vanish.
    path = Path(tempfile.mkdtemp(prefix="kodo-confine-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def world(outside_tmp: Path):
    assert sandbox_problem() is None, sandbox_problem()
    tmp_path = outside_tmp
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY canary")
    (home / ".git-credentials").write_text("https://u:canary-cred@github.com")
    (home / "notes.txt").write_text("not a secret")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    conf = Confinement(
        writable=(checkout,),
        home=tmp_path / "private-home",
        keep_env=frozenset({"MY_SETTING"}),
        real_home=home,
        cli_env=False,
    )
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "MY_SETTING": "visible",
        "GITHUB_TOKEN": "canary-token",
        "DATABASE_URL": "postgres://u:canary-db@h/d",
        "ANTHROPIC_API_KEY": "sk-cli-key",
    }
    return conf, env, checkout, elsewhere, home


def test_only_the_allowlist_reaches_the_process(world):
    conf, env, checkout, *_ = world
    out = run(conf, "env", env, checkout).stdout
    assert "MY_SETTING=visible" in out and "PATH=" in out
    assert "canary" not in out and "sk-cli-key" not in out  # checks do not get the CLI's credential either
    assert f"HOME={conf.home}" in out


def test_no_other_process_is_visible_and_none_outlives_the_command(world, tmp_path: Path):
    conf, env, checkout, *_ = world
    out = run(conf, "ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '", env, checkout).stdout
    count, init = out.splitlines()[:2]
    assert int(count) <= 4 and init.split()[0].endswith("bwrap")  # bwrap's init and its own shell, nothing of ours
    marker = checkout / "late.txt"
    run(conf, "(sleep 1; echo late > late.txt) > /dev/null 2>&1 &", env, checkout)
    time.sleep(2)
    assert not marker.exists()  # the background process died with the command


def test_only_the_checkout_is_writable_and_home_secrets_are_hidden(world):
    conf, env, checkout, elsewhere, home = world
    script = (
        f"echo ok > made.txt; echo no > {elsewhere}/x.txt; echo no > {home}/y.txt; "
        f"cat {home}/.git-credentials {home}/.ssh/id_ed25519 {home}/notes.txt; echo tmp > /tmp/t && cat /tmp/t"
    )
    result = run(conf, script, env, checkout)
    assert (checkout / "made.txt").read_text() == "ok\n"
    assert not (elsewhere / "x.txt").exists() and not (home / "y.txt").exists()
    assert "canary" not in result.stdout and "not a secret" in result.stdout and "tmp" in result.stdout


def test_a_worktree_keeps_git_but_not_its_repository_config(tmp_path: Path, world):
    _, env, *_ = world
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@a",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "i",
        ],
        check=True,
    )
    subprocess.run(["git", "-C", str(repo), "config", "http.extraheader", "AUTHORIZATION: basic Y2FuYXJ5"], check=True)
    wt = tmp_path / "wt"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(wt)], check=True)
    git_dir = repository_dir(wt)
    assert git_dir == (repo / ".git").resolve()
    conf = Confinement(writable=(wt,), home=tmp_path / "h", readable=(git_dir,), hidden=(git_dir / "config",))
    out = run(conf, "git log --oneline | wc -l; cat $(git rev-parse --git-common-dir)/config; git config -l", env, wt)
    assert out.stdout.splitlines()[0].strip() == "1" and "Y2FuYXJ5" not in out.stdout + out.stderr


def test_without_bubblewrap_the_allowlist_still_holds(world):
    conf, env, checkout, *_ = world
    from dataclasses import replace

    out = run(replace(conf, bwrap=False), "env", env, checkout).stdout
    assert "MY_SETTING=visible" in out and "canary" not in out


def test_the_launcher_script_holds_names_never_values(world, tmp_path: Path):
    conf, env, checkout, *_ = world
    from dataclasses import replace

    cli = replace(conf, cli_env=True)
    script = cli.launcher(Path("/bin/sh"), tmp_path / "launch.sh", env)
    text = script.read_text()
    assert "ANTHROPIC_API_KEY" in text and "sk-cli-key" not in text and "canary" not in text
    out = subprocess.run([str(script), "-c", "env"], env=env, cwd=checkout, capture_output=True, text=True).stdout
    assert "ANTHROPIC_API_KEY=sk-cli-key" in out and "GITHUB_TOKEN" not in out and "DATABASE_URL" not in out


def test_agent_env_refuses_secret_names_and_sandbox_off_is_a_setting():
    team = Team.model_validate({"agents": {"w": {"prompt": "p"}}, "sandbox": False, "agent_env": ["DATABASE_HOST"]})
    assert team.sandbox is False and team.agent_env == ("DATABASE_HOST",)
    with pytest.raises(ValueError, match="looks like a secret"):
        Team.model_validate({"agents": {"w": {"prompt": "p"}}, "agent_env": ["NPM_TOKEN"]})
    with pytest.raises(ValueError, match="not an environment variable name"):
        Team.model_validate({"agents": {"w": {"prompt": "p"}}, "agent_env": ["A B"]})


def test_the_base64_forms_of_a_token_are_masked_too():
    import base64

    from kodo_bot.redact import redact

    token = "ghs_" + "q" * 36
    header = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    text = f"extraheader = AUTHORIZATION: basic {header}\nraw {base64.b64encode(token.encode()).decode()}"
    assert redact(text, [token]) == "extraheader = AUTHORIZATION: basic [redacted]\nraw [redacted]"


def test_a_resumed_run_ends_what_a_killed_one_left_running(tmp_path: Path):
    # Without bubblewrap, an agent's CLI runs as a session leader; its background jobs outlive it.
    import psutil

    from kodo_bot.confine import Leftovers

    alive = Leftovers(tmp_path / "alive")
    leader = subprocess.Popen(["setsid", "sh", "-c", "sleep 300 & sleep 300 & wait"], start_new_session=False)
    time.sleep(0.5)
    alive.add(leader.pid)
    orphans = [p for p in psutil.Process(leader.pid).children(recursive=True)]
    assert len(orphans) == 2
    leader.kill()  # kodo-bot died with its CLI: the background jobs are orphans now
    leader.wait()
    time.sleep(0.2)
    assert all(p.is_running() for p in orphans)
    unrelated = subprocess.Popen(["sleep", "300"])
    try:
        killed = Leftovers(tmp_path / "alive").reap()  # what the next process does on resume
        assert sorted(killed) == sorted(p.pid for p in orphans)
        psutil.wait_procs(orphans, timeout=5)
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in orphans)
        assert unrelated.poll() is None and not (tmp_path / "alive" / str(leader.pid)).exists()
    finally:
        unrelated.kill()
