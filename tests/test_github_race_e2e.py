"""One run per issue under a race: the same label event delivered to three runners at once.

Runners a and b share a work directory (two jobs on one machine); runner c has its own (another machine).
Each is ``python -m kodo_bot.cli action`` in its own process, against the GitHub emulator, real git and the
real Claude Code CLI. The emulator holds their reads of the comments until all three have asked, so all
three decide on the same view of the issue ("nobody holds it"): only the claim ref can then keep them apart. A fourth
runner, d, reads the issue after the winner's comment is up but before its `kodo:running` label (whose
write is slowed): the lease in the comment must be enough.
"""

from __future__ import annotations

import git
import pytest

from kodo_bot.github.markers import find_claim
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import TESTS
from tests.e2e_support import BASE_FILES, accepted_roles, spawn_action, wait_for
from tests.github_support import REPO, kodo_yml, make_scene

pytestmark = pytest.mark.e2e


def test_three_runners_one_issue_one_run(tmp_path):
    scene = make_scene(tmp_path, {**BASE_FILES, ".github/kodo.yml": kodo_yml([TESTS])})
    try:
        n = scene.issue("Add hello(name)", "Add `hello(name)` in hello.py with a unit test.")
        event = scene.label(n)
        before = list(scene.emu.deliveries)
        scene.emu.faults.hold(parties=3, method="GET", path_regex=rf"/issues/{n}/comments$")
        scene.emu.faults.slow(method="POST", path_regex=rf"/issues/{n}/labels$", delay_s=4.0, times=1)
        with ScriptedModelServer({"roles": accepted_roles()}) as server:
            work = {"a": tmp_path / "machine-1", "b": tmp_path / "machine-1", "c": tmp_path / "machine-2"}

            def runner(name, path):
                env = scene.env(event, model_url=server.url, name=name, KODO_WORK_DIR=str(path))
                return spawn_action(env, tmp_path / f"{name}.log")

            procs = {name: runner(name, path) for name, path in work.items()}
            try:
                wait_for(lambda: scene.bot_comments(n), 60, "the winner's progress comment")
                assert "kodo:running" not in scene.emu.labels(REPO, n)  # its label is still on the way
                procs["d"] = runner("d", tmp_path / "machine-3")
                codes = {name: p.wait(timeout=240) for name, p in procs.items()}
            finally:
                for p in procs.values():
                    if p.poll() is None:
                        p.kill()
            server.assert_complete()
        logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace")[-2000:] for name in procs}
        outcomes = {name: scene.outputs(name)["outcome"] for name in procs}
        assert sorted(outcomes.values()) == ["accepted", "duplicate", "duplicate", "duplicate"], (outcomes, logs)
        assert all(code == 0 for code in codes.values()), (codes, logs)

        # a, b and c raced for the same claim, and two were told it exists; d saw the live lease and did not try.
        claims = scene.emu.calls_matching("POST", r"/git/refs$")
        assert sorted(c.status for c in claims) == [201, 422, 422]
        # The losers changed nothing: one progress comment, the winner's labels, one branch and PR.
        assert scene.kinds(n) == {"progress": 1}
        (progress,) = scene.bot_comments(n)
        assert find_claim(progress.body) == 1
        assert sorted(scene.emu.labels(REPO, n)) == ["kodo", "kodo:accepted"]
        (pull,) = scene.pulls()
        assert set(scene.emu.branches(REPO)) == {"main", pull.head_ref}
        label_changes = [
            d
            for d in scene.emu.deliveries[len(before) :]
            if d.event == "issues" and d.payload.get("action") in ("labeled", "unlabeled")
        ]
        assert [(d.payload["action"], d.payload["label"]["name"]) for d in label_changes] == [
            ("labeled", "kodo:running"),
            ("labeled", "kodo:accepted"),
            ("unlabeled", "kodo:running"),
        ]
        refs = git.Repo(scene.emu.git_path(REPO)).git.for_each_ref("--format=%(refname)", "refs/kodo/")
        assert refs.split() == [f"refs/kodo/claims/issue-{n}/1"]
        winner = next(name for name, o in outcomes.items() if o == "accepted")
        for name in set(procs) - {winner}:
            assert "duplicate" in logs[name] and "Traceback" not in logs[name]
            assert "duplicate" in scene.summary(name) and "changed nothing" in scene.summary(name)
        scene.assert_valid()
    finally:
        scene.emu.stop()
