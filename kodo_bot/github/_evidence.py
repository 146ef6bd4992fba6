"""Screenshots browser verifiers took, published where a round's comment can show them inline.

A PR comment can only show an image GitHub serves. An Actions artifact cannot be shown inline (it is a zip
behind a login), so each round's screenshots are committed to the ``kodo/evidence`` branch of the same
repository, one folder per run, round and verifier (``<run>/round-<n>/<verifier>/<k>.png``), and the
comment embeds them by their raw URL at that commit (``<repo>/raw/<sha>/<path>``), which stays valid
whatever later happens to the branch. The push is the run branch's: ``GitRemote``, the token in the
environment of the one git command, never in a URL or ``.git/config``.

Paths in the repository are made of the run id, the round, the verifier's name and a counter: nothing of
the machine the verifier ran on (its folders, its user) reaches GitHub. Deliberately not here: deciding
whether a verdict holds (the engine did), or rendering the comment (``_round``).
"""

from __future__ import annotations

from pathlib import Path

from kodo_bot.engine import events as ev
from kodo_bot.github.client import GitHubClient
from kodo_bot.github.git_remote import GitRemote

EVIDENCE_BRANCH = "kodo/evidence"


def evidence_files(event: ev.VerificationFinished) -> dict[str, Path]:
    """Where each screenshot of the round goes in the repository, and the file here (those still on disk)."""
    files = {}
    for verdict in event.verdicts:
        for number, shot in enumerate(verdict.screenshots, 1):
            if Path(shot.path).is_file():
                files[f"{event.run_id}/round-{event.round}/{verdict.verifier}/{number}.png"] = Path(shot.path)
    return files


class EvidencePush:
    """Publishes a round's screenshots and says where GitHub serves each one."""

    def __init__(self, remote: GitRemote, clone: Path, client: GitHubClient) -> None:
        self.remote, self.clone, self.client = remote, clone, client

    def images(self, event: ev.VerificationFinished) -> dict[str, str]:
        """The raw URL of each screenshot of the round, by its path here; {} when it has none."""
        files = evidence_files(event)
        if not files:
            return {}
        # a branch of pictures has nothing to build: with an App's token or a person's, its push would start
        # the repository's push workflows, which GitHub skips for a commit that says so
        message = f"kodo-bot evidence: run {event.run_id}, round {event.round} [skip ci]"
        sha = self.remote.publish(self.clone, EVIDENCE_BRANCH, files, message)
        home = self.client.repo_info().html_url.rstrip("/")
        return {str(local): f"{home}/raw/{sha}/{path}" for path, local in files.items()}
