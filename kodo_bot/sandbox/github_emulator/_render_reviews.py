"""GitHub-shaped JSON for reviews, inline review comments and reactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kodo_bot.sandbox.github_emulator._models import Reaction, Repo, Review, ReviewComment, iso, node_id

if TYPE_CHECKING:
    from kodo_bot.sandbox.github_emulator._render import Urls
    from kodo_bot.sandbox.github_emulator._store import Store

_REACTIONS = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")


class ReviewViews:
    """The review half of ``Renderer``, which provides the members declared here."""

    if TYPE_CHECKING:
        store: Store
        urls: Urls

        def user(self, login: str) -> dict[str, Any]: ...

    def review(self, repo: Repo, review: Review) -> dict[str, Any]:
        pull_api = f"{self.urls.repo(repo)}/pulls/{review.number}"
        html = f"{self.urls.repo_html(repo)}/pull/{review.number}#pullrequestreview-{review.id}"
        return {
            "id": review.id,
            "node_id": node_id("PullRequestReview", review.id),
            "user": self.user(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pull_api,
            "author_association": self.store.association(repo, review.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_api}},
            "submitted_at": iso(review.submitted_at),
            "commit_id": review.commit_id,
        }

    def review_comment(self, repo: Repo, comment: ReviewComment) -> dict[str, Any]:
        api = f"{self.urls.repo(repo)}/pulls/comments/{comment.id}"
        pull_api = f"{self.urls.repo(repo)}/pulls/{comment.number}"
        html = f"{self.urls.repo_html(repo)}/pull/{comment.number}#discussion_r{comment.id}"
        out: dict[str, Any] = {
            "url": api,
            "pull_request_review_id": comment.review_id,
            "id": comment.id,
            "node_id": node_id("PullRequestReviewComment", comment.id),
            "diff_hunk": comment.diff_hunk,
            "path": comment.path,
            "position": comment.position,
            "original_position": comment.position,
            "commit_id": comment.commit_id,
            "original_commit_id": comment.commit_id,
            "user": self.user(comment.user),
            "body": comment.body,
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "html_url": html,
            "pull_request_url": pull_api,
            "author_association": self.store.association(repo, comment.user),
            "_links": {"self": {"href": api}, "html": {"href": html}, "pull_request": {"href": pull_api}},
            "reactions": self.reaction_rollup(repo, "review_comment", comment.id, api),
            "start_line": None,
            "original_start_line": None,
            "start_side": None,
            "line": comment.line,
            "original_line": comment.line,
            "side": comment.side,
            "subject_type": "line",
        }
        if comment.in_reply_to_id is not None:
            out["in_reply_to_id"] = comment.in_reply_to_id
        return out

    def reaction(self, reaction: Reaction) -> dict[str, Any]:
        return {
            "id": reaction.id,
            "node_id": node_id("Reaction", reaction.id),
            "user": self.user(reaction.user),
            "content": reaction.content,
            "created_at": iso(reaction.created_at),
        }

    def reaction_rollup(self, repo: Repo, subject: str, subject_id: int, api: str) -> dict[str, Any]:
        found = self.store.reactions_on(repo, subject, subject_id)
        counts = {name: sum(r.content == name for r in found) for name in _REACTIONS}
        return {"url": f"{api}/reactions", "total_count": len(found), **counts}
