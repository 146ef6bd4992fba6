"""A run taken over on another machine continues its branch: cycles and summaries read back from commits."""

from __future__ import annotations

from kodo_bot.engine.workspace import RunWorkspace, prior_cycles
from kodo_bot.sandbox.demo import seed_project

LONG = "Rewrote the parser so that every token kind is handled in one table, " + "x" * 40 + "\nand more."


def test_prior_cycles_come_back_from_the_branch(tmp_path):
    project = seed_project(tmp_path / "p", {"a.txt": "a\n"})
    base = project.head.commit.hexsha
    ws = RunWorkspace.create_or_reuse(project, tmp_path / "wt", "kodo/issue-1-x", base=base)
    summaries = ["Added hello().", "Fixed negatives.\n\nAlso a test for -2 * 3.", LONG]
    for cycle, summary in enumerate(summaries, start=1):
        (tmp_path / "wt" / f"f{cycle}.txt").write_text(summary)
        ws.commit(summary, run_id="r-old", cycle=cycle)
    (tmp_path / "wt" / "human.txt").write_text("a person's fix")
    ws.repo.git.add("-A")
    ws.repo.git.commit(
        "-m",
        "a person's commit",
        env={
            "GIT_AUTHOR_NAME": "p",
            "GIT_AUTHOR_EMAIL": "p@x",
            "GIT_COMMITTER_NAME": "p",
            "GIT_COMMITTER_EMAIL": "p@x",
        },
    )
    cycles, found = prior_cycles(project, "kodo/issue-1-x", base)
    assert cycles == 3
    assert found == ["Added hello().", "Fixed negatives.\nAlso a test for -2 * 3.", LONG]
