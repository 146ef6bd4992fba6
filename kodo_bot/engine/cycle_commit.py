"""A cycle's one commit on the run's branch, recorded exactly once whatever was interrupted.

The commit is made from the engine's own index (``RunWorkspace.commit``); what the engine had to undo in the
worktree's git or keep out of the commit (secrets, huge files) becomes a warning and a note for the next
cycle. A run killed between its commit and the checkpoint recording it finds the commit on resume (by its
``Kodo-Run``/``Kodo-Cycle`` trailers) and records it instead of committing the cycle twice.
"""

from __future__ import annotations

from collections.abc import Callable

from kodo_bot.engine import events as ev
from kodo_bot.engine.journal import Journal
from kodo_bot.engine.secret_scan import Withheld
from kodo_bot.engine.workspace import RunWorkspace


class CycleCommit:
    def __init__(self, journal: Journal, workspace: RunWorkspace) -> None:
        self.journal, self.workspace = journal, workspace

    def __call__(self, summary: str, on_sha: Callable[[str], None] | None = None) -> str:
        """Commit the cycle (or find its commit); returns the sha. ``on_sha`` is told it as soon as it exists,
        before the checkpoint that records it (to get the commit's verification ready meanwhile)."""
        s = self.journal.state
        head = self.workspace.expected
        if self._committed_this_cycle(self.workspace.head_message()) and not self.workspace.has_changes():
            if on_sha is not None:
                on_sha(head)
            if s.head_sha != head:
                self._record(head, summary, self._files_of(head), [], self._notes(self.workspace.withheld))
            return head
        commit = self.workspace.commit(summary, run_id=s.run_id, cycle=s.cycle, on_sha=on_sha)
        self._record(commit.sha, summary, commit.files_changed, commit.build_output, self._notes(commit.withheld))
        return commit.sha

    def _notes(self, withheld: list[Withheld]) -> list[str]:
        """What the engine undid in the worktree's git, and what it kept out of the commit, for the team."""
        return [
            *self.workspace.take_interference(),
            *(
                f"`{w.path}` was not committed: {w.reason}. Take it (or the secret in it) out of the worktree."
                for w in withheld
            ),
        ]

    def _committed_this_cycle(self, message: str) -> bool:
        s = self.journal.state
        lines = message.splitlines()
        return f"Kodo-Run: {s.run_id}" in lines and f"Kodo-Cycle: {s.cycle}" in lines

    def _files_of(self, sha: str) -> list[str]:
        return str(self.workspace.repo.git.diff("--name-only", "--no-renames", f"{sha}^", sha)).splitlines()

    def _record(self, sha: str, summary: str, files: list[str], build_output: list[str], notes: list[str]) -> None:
        s = self.journal.state
        s.head_sha = sha
        s.build_output = sorted({*s.build_output, *build_output})
        s.engine_notes = [*s.engine_notes, *notes]
        self.journal.checkpoint(
            *(ev.Notice(run_id=s.run_id, level="warning", message=note) for note in notes),
            ev.CycleCommitted(
                run_id=s.run_id,
                cycle=s.cycle,
                sha=sha,
                branch=s.branch,
                summary=summary,
                files_changed=files,
                build_output=build_output,
            ),
        )
