"""What an agent or a slow GitHub cannot do to a run, through `kodo-bot action`.

- Hooks an agent plants in its checkout's repository never run: not in the bot's commit, not in its push,
  not in its fetch. They would run with the push token in their environment.
- A slow GitHub slows the delivery thread, not the engine: the cycle-end stop check does not wait behind a
  five-second status write.
"""

from __future__ import annotations

import shlex
import subprocess

import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.log import read_events
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS, bash, demo_story
from tests.e2e_support import BASE_FILES, accepted_roles
from tests.github_support import REPO, action, kodo_yml, make_scene

pytestmark = pytest.mark.e2e

#: every hook git runs around a commit, a checkout, a push or a ref update
HOOKS = (
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-push",
    "reference-transaction",
    "post-checkout",
    "post-rewrite",
    "pre-auto-gc",
    "push-to-checkout",
    "fsmonitor-watchman",
)


def plant_hooks(record: str) -> str:
    """A Bash step for the agent: in every repository enclosing its checkout (its own, and the runner's clone
    above it), a hook for each of ``HOOKS`` that records its environment, both in the hooks directory and in
    one the repository's config points ``core.hooksPath`` at; and an fsmonitor command that does the same."""
    script = (
        "#!/bin/sh\n(tr '\\\\0' ' ' < /proc/$PPID/cmdline; echo; env) > " + shlex.quote(record) + "/$(basename $0).$$\n"
    )
    plant = ['mkdir -p "$g/hooks" "$g/planted"']
    for hook in HOOKS:
        for where in ('"$g/hooks"', '"$g/planted"'):
            plant.append(f"printf %s {shlex.quote(script)} > {where}/{hook} && chmod +x {where}/{hook}")
    plant += [
        'git --git-dir="$g" config core.hooksPath "$g/planted"',
        'git --git-dir="$g" config core.fsmonitor "$g/planted/fsmonitor-watchman"',
    ]
    return (
        f'mkdir -p {shlex.quote(record)} && d="$PWD" && while [ "$d" != / ]; do '
        f'if [ -d "$d/.git" ]; then g="$d/.git" && {" && ".join(plant)} && echo "planted in $g"; fi; '
        'd="$(dirname "$d")"; done'
    )


def test_hooks_an_agent_plants_never_run(tmp_path, capsys):
    record = str(tmp_path / "hooks-that-ran")
    roles = accepted_roles()
    roles["worker_fast"] = [bash(plant_hooks(record)), *roles["worker_fast"]]
    # The sandbox would keep the agent out of the repository's .git; turned off here, so that what is
    # tested is kodo-bot's own git: even with hooks planted, its commit, fetch and push run none of them.
    yml = kodo_yml([TESTS], extra="sandbox: off\n")
    scene = make_scene(tmp_path, {**BASE_FILES, ".github/kodo.yml": yml})
    try:
        n = scene.issue("Add hello(name)", "Add `hello(name)` in hello.py with a unit test.")
        with ScriptedModelServer({"roles": roles}) as server:
            code = action(scene.env(scene.label(n), model_url=server.url))
            server.assert_complete()
        assert code == 0, capsys.readouterr()
        # The agent did plant them, in the clone kodo-bot fetches into and pushes from too, and git would run
        # them: a commit by hand in the clone proves both.
        clone = next((tmp_path / "runner-work").rglob("issue-1"))
        assert (clone / ".git" / "planted" / "pre-push").exists() and (clone / ".git" / "hooks" / "pre-push").exists()
        (pull,) = scene.pulls()
        assert pull.head_ref in scene.emu.branches(REPO)  # committed and pushed despite them
        ran = sorted(p.name for p in (tmp_path / "hooks-that-ran").glob("*"))
        assert ran == [], [(tmp_path / "hooks-that-ran" / r).read_text()[:300] for r in ran]
        subprocess.run(
            ["git", "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--allow-empty", "-qm", "probe"],
            cwd=clone,
            check=True,
            capture_output=True,
        )
        assert any(p.name.startswith("pre-commit") for p in (tmp_path / "hooks-that-ran").glob("*"))
        scene.assert_valid()
    finally:
        scene.emu.stop()


def test_a_slow_github_does_not_hold_the_engine_at_a_cycle_end(tmp_path, capsys):
    story = demo_story()
    scene = make_scene(tmp_path, {**story.files, ".github/kodo.yml": kodo_yml([TESTS])})
    try:
        slow = scene.emu.faults.slow(method="POST", path_regex=r"/statuses/", delay_s=5.0, times=1)
        n = scene.issue("Add multiplication to the calculator", story.goal)
        with ScriptedModelServer(story.scenario) as server:
            code = action(scene.env(scene.label(n), model_url=server.url))
            server.assert_complete()
        assert code == 0, capsys.readouterr()
        assert slow.hits == 1
        log = read_events(next((tmp_path / "runner-work").rglob("events.jsonl")))
        verified = next(e for e in log if isinstance(e, ev.VerificationFinished) and e.round == 1)
        ended = next(e for e in log if isinstance(e, ev.CycleEnded) and e.cycle == 1)
        second = next(e for e in log if isinstance(e, ev.CycleStarted) and e.cycle == 2)
        # Round 1's status took five seconds to write, starting right after its verdict; the engine's
        # cycle end and the next cycle's start did not wait for it.
        assert (second.at - verified.at).total_seconds() < 2.5, (verified.at, ended.at, second.at)
        # Nothing was lost to the slowness.
        (pull,) = scene.pulls()
        assert [s.state for s in scene.emu.statuses(REPO, pull.head_sha)] == ["success"]
        assert scene.kinds(pull.number) == {"verdicts:1": 1, "verdicts:2": 1, "summary": 1}
        scene.assert_valid()
    finally:
        scene.emu.stop()
