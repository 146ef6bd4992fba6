"""What ``GitHubClient`` reads and writes about feedback on a pull request: the PR itself, a review and its
inline comments, replies in their threads, reactions, review threads (GraphQL), draft state, and the jobs and
log tails of a failed CI run. A mixin, so the client stays one object with one lock and one error translation.

Everything read is bounded here, where it arrives: a review's inline comments (``MAX_REVIEW_COMMENTS``), and a
job's log, of which only the tail is kept while it streams (``LOG_TAIL_BYTES``), however large the log.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import requests

from kodo_bot.errors import GitHubError
from kodo_bot.github.records import (
    Activity,
    CommentInfo,
    FailedJob,
    PullDetails,
    ReviewComment,
    ReviewInfo,
    ReviewThread,
    ThreadComment,
)

if TYPE_CHECKING:
    from github import Github
    from github.PullRequestReview import PullRequestReview
    from github.Repository import Repository

PERM_PULLS = "pull-requests: write"
PERM_PULLS_READ = "pull-requests: read"
PERM_ISSUES = "issues: write"
PERM_ACTIONS_READ = "actions: read"

#: inline comments of one review taken into a follow-up; the rest are named in a note, for the next round
#: (each taken one costs a reply in its thread, a second of GitHub's pacing for writes: 30 is a long review)
MAX_REVIEW_COMMENTS = 30
#: how much of a failed job's log is kept (its end, where the failure is)
LOG_TAIL_BYTES = 12_000
#: pages of 100 review threads (or comments) read at most: far past any real pull request
MAX_THREAD_PAGES = 100
MAX_LIST_PAGES = 100


class _PullNode(Protocol):
    @property
    def number(self) -> int: ...

    @property
    def node_id(self) -> str: ...


#: comments and reviews a live run reads back each cycle: newer ones than that many in one cycle are
#: missed until the next (the read asks for the latest, so a long old discussion costs nothing)
ACTIVITY_WINDOW = 100

_ACTIVITY = f"""
query($owner: String!, $name: String!, $issue: Int!, $pull: Int!, $withPull: Boolean!) {{
  repository(owner: $owner, name: $name) {{
    issue(number: $issue) {{
      state
      labels(first: 100) {{ nodes {{ name }} }}
      comments(last: {ACTIVITY_WINDOW}) {{ nodes {{ ...said }} }}
    }}
    pullRequest(number: $pull) @include(if: $withPull) {{
      comments(last: {ACTIVITY_WINDOW}) {{ nodes {{ ...said }} }}
      reviews(last: {ACTIVITY_WINDOW}) {{
        nodes {{ databaseId state body submittedAt url commit {{ oid }} author {{ __typename login }} }}
      }}
    }}
  }}
}}
fragment said on IssueComment {{ databaseId body createdAt url author {{ __typename login }} }}
"""

_THREADS = """
query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id isResolved comments(first: 100) { nodes { databaseId body author { __typename login } } } }
      }
    }
  }
}
"""


class FeedbackCalls:
    """Mixed into ``GitHubClient``, which provides these."""

    if TYPE_CHECKING:
        _gh: Github
        #: the same connection without transport retries of POST, for writes that are not idempotent
        _gh_once: Github
        _repo: Repository
        repo_name: str

        def _call(self, what: str, permission: str) -> contextlib.AbstractContextManager[None]: ...

        def _clean(self, text: str) -> str: ...

    def pull(self, number: int) -> PullDetails:
        with self._call(f"read pull request #{number}", PERM_PULLS_READ):
            p = self._repo.get_pull(number)
            head_repo = p.head.repo.full_name if p.head.repo else ""
            return PullDetails(
                number=p.number,
                node_id=p.node_id,
                html_url=p.html_url,
                draft=bool(p.draft),
                head_ref=p.head.ref,
                head_sha=p.head.sha,
                base_ref=p.base.ref,
                state=p.state,
                merged=bool(p.merged),
                author=p.user.login if p.user else "",
                head_repo=head_repo,
            )

    def review(self, pr: int, review_id: int) -> ReviewInfo:
        with self._call(f"read review {review_id} of #{pr}", PERM_PULLS_READ):
            return _review(self._repo.get_pull(pr).get_review(review_id))

    def reviews(self, pr: int) -> list[ReviewInfo]:
        """Every review submitted on the PR, oldest first."""
        with self._call(f"read the reviews of #{pr}", PERM_PULLS_READ):
            return [_review(r) for r in self._repo.get_pull(pr).get_reviews()]

    def review_comments(self, pr: int, review_id: int) -> tuple[list[ReviewComment], int]:
        """The inline comments of one review, oldest first, at most ``MAX_REVIEW_COMMENTS``, and how many
        there were in all."""
        with self._call(f"read the comments of review {review_id}", PERM_PULLS_READ):
            found = self._pages(f"{self._repo.url}/pulls/{pr}/reviews/{review_id}/comments")
        return [_review_comment(raw) for raw in found[:MAX_REVIEW_COMMENTS]], len(found)

    def reply_in_thread(self, pr: int, comment_id: int, body: str) -> int:
        """A reply in the thread of an inline comment; returns the reply's id. Like a comment, it is not
        idempotent: no transport retry (a 5xx may come after GitHub saved it), the caller looks first."""
        with self._call(f"reply to review comment {comment_id}", PERM_PULLS):
            url = f"{self._repo.url}/pulls/{pr}/comments/{comment_id}/replies"
            _, data = self._gh_once.requester.requestJsonAndCheck("POST", url, input={"body": self._clean(body)})
            return int(data["id"])

    def _pages(self, url: str) -> list[dict[str, Any]]:
        """Every item of a list endpoint, as GitHub sent it. PyGithub's objects would each be fetched again
        when a field it did not expect is read (their raw data), one request per comment."""
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_LIST_PAGES + 1):
            _, data = self._gh.requester.requestJsonAndCheck("GET", url, parameters={"per_page": 100, "page": page})
            items += data if isinstance(data, list) else []
            if not isinstance(data, list) or len(data) < 100:
                break
        return items

    def react(self, target: Literal["issue_comment", "review_comment"], comment_id: int, content: str = "eyes") -> None:
        """A reaction: the bot's first acknowledgement of what someone asked (GitHub keeps one per user)."""
        kind = "issues" if target == "issue_comment" else "pulls"
        with self._call(f"react to comment {comment_id}", PERM_ISSUES if kind == "issues" else PERM_PULLS):
            self._gh.requester.requestJsonAndCheck(
                "POST",
                f"{self._repo.url}/{kind}/comments/{comment_id}/reactions",
                input={"content": content},
                headers={"Accept": "application/vnd.github+json"},
            )

    def convert_to_draft(self, pull: _PullNode) -> None:
        """GraphQL ``convertPullRequestToDraft``: while kodo-bot works, the PR is not ready for review."""
        with self._call(f"convert pull request #{pull.number} to a draft", PERM_PULLS):
            self._gh.requester.graphql_named_mutation(
                mutation_name="convertPullRequestToDraft",
                mutation_input={"pullRequestId": pull.node_id},
                output_schema="clientMutationId pullRequest { isDraft }",
            )

    def review_threads(self, pr: int) -> list[ReviewThread]:
        """Every review thread of the PR with its comments (the replies in it too), in pages of 100."""
        owner, name = self.repo_name.split("/", 1)
        threads: list[ReviewThread] = []
        after: str | None = None
        with self._call(f"read the review threads of #{pr}", PERM_PULLS_READ):
            for _ in range(MAX_THREAD_PAGES):
                variables = {"owner": owner, "name": name, "number": pr, "after": after}
                _, data = self._gh.requester.graphql_query(_THREADS, variables)
                page = data["data"]["repository"]["pullRequest"]["reviewThreads"]
                threads += [_thread(node) for node in page["nodes"]]
                cursor = page["pageInfo"]["endCursor"]
                if not page["pageInfo"]["hasNextPage"] or not cursor or cursor == after:
                    break  # the last page, or a server whose cursor does not move: never loop on it
                after = cursor
        return threads

    def resolve_threads(self, thread_ids: list[str]) -> None:
        """Resolve review threads, all in one request (resolving a resolved one changes nothing, so a retry
        of the whole is safe)."""
        if not thread_ids:
            return
        params = ", ".join(f"$t{i}: ID!" for i in range(len(thread_ids)))
        fields = " ".join(
            f"t{i}: resolveReviewThread(input: {{threadId: $t{i}}}) {{ thread {{ isResolved }} }}"
            for i in range(len(thread_ids))
        )
        with self._call(f"resolve {len(thread_ids)} review thread(s)", PERM_PULLS):
            self._gh.requester.graphql_query(
                f"mutation({params}) {{ {fields} }}", {f"t{i}": t for i, t in enumerate(thread_ids)}
            )

    def activity(self, issue: int, pull: int | None) -> Activity:
        """The issue's state and labels, and the latest comments and reviews on it and its PR: what the REST
        API gives in four requests (issue, its comments, the PR's comments, its reviews), in one."""
        owner, name = self.repo_name.split("/", 1)
        variables = {"owner": owner, "name": name, "issue": issue, "pull": pull or 0, "withPull": pull is not None}
        with self._call(f"read what happened on #{issue}", PERM_PULLS_READ):
            _, data = self._gh.requester.graphql_query(_ACTIVITY, variables)
        repo = data["data"]["repository"]
        found, on_pull = repo["issue"], repo.get("pullRequest") or {}
        said = [*found["comments"]["nodes"], *(on_pull.get("comments") or {}).get("nodes", [])]
        return Activity(
            issue_state=str(found["state"]).lower(),
            labels=tuple(label["name"] for label in found["labels"]["nodes"]),
            comments=sorted((_said(c) for c in said if c.get("author")), key=lambda c: (c.created_at, c.id)),
            reviews=[_review_node(r) for r in (on_pull.get("reviews") or {}).get("nodes", []) if r.get("author")],
        )

    def failed_jobs(self, run_id: int) -> list[FailedJob]:
        with self._call(f"read the jobs of workflow run {run_id}", PERM_ACTIONS_READ):
            jobs = self._repo.get_workflow_run(run_id).jobs()
            return [
                FailedJob(
                    id=j.id,
                    name=j.name,
                    conclusion=j.conclusion or "",
                    step=next((s.name for s in j.steps if s.conclusion in ("failure", "timed_out")), ""),
                    html_url=j.html_url or "",
                )
                for j in jobs
                if j.conclusion in ("failure", "timed_out", "startup_failure")
            ]

    def job_log_tail(self, job_id: int, max_bytes: int = LOG_TAIL_BYTES) -> tuple[str, int]:
        """The end of a job's log and the log's whole size in bytes. GitHub answers with a redirect to a
        short-lived download URL; the log streams through and only its tail is kept."""
        with self._call(f"read the log of job {job_id}", PERM_ACTIONS_READ):
            headers, _ = self._gh.requester.requestBlobAndCheck("GET", f"{self._repo.url}/actions/jobs/{job_id}/logs")
        location = headers.get("location") or headers.get("Location")
        if not location:
            raise GitHubError(f"GitHub did not offer the log of job {job_id}")
        return _stream_tail(location, max_bytes)

    def workflow_conclusion(self, branch: str, name: str, event: str | None = None) -> str | None:
        """The conclusion of the latest completed run of workflow ``name`` on ``branch`` (None: none ran)."""
        params: dict[str, Any] = {"branch": branch, "status": "completed", "per_page": 100}
        if event:
            params["event"] = event
        with self._call(f"read the workflow runs on {branch}", PERM_ACTIONS_READ):
            _, data = self._gh.requester.requestJsonAndCheck("GET", f"{self._repo.url}/actions/runs", parameters=params)
        # newest first, as GitHub lists them
        return next((r.get("conclusion") for r in data.get("workflow_runs", []) if r.get("name") == name), None)


def _review(r: PullRequestReview) -> ReviewInfo:
    return ReviewInfo(
        id=r.id,
        author=r.user.login if r.user else "",
        author_type=r.user.type if r.user else "User",
        state=r.state or "",
        body=r.body or "",
        commit_id=r.commit_id or "",
        html_url=r.html_url or "",
        submitted_at=r.submitted_at,
    )


def _author(node: dict[str, Any]) -> tuple[str, str]:
    """Login and account type as REST spells them: GraphQL names a bot without the ``[bot]`` that REST
    (and so every login kodo-bot compares with) gives it."""
    kind, login = node["__typename"], node["login"]
    if kind == "Bot" and not login.endswith("[bot]"):
        login += "[bot]"
    return login, kind


def _said(node: dict[str, Any]) -> CommentInfo:
    login, kind = _author(node["author"])
    when = datetime.fromisoformat(node["createdAt"].replace("Z", "+00:00"))
    return CommentInfo(int(node["databaseId"]), login, kind, node["body"] or "", node["url"] or "", when)


def _review_node(node: dict[str, Any]) -> ReviewInfo:
    login, kind = _author(node["author"])
    submitted = node.get("submittedAt")
    return ReviewInfo(
        id=int(node["databaseId"]),
        author=login,
        author_type=kind,
        state=str(node["state"]).lower(),
        body=node["body"] or "",
        commit_id=(node.get("commit") or {}).get("oid", ""),
        html_url=node["url"] or "",
        submitted_at=datetime.fromisoformat(submitted.replace("Z", "+00:00")) if submitted else None,
    )


def _review_comment(raw: dict[str, Any]) -> ReviewComment:
    line = raw.get("line") or raw.get("original_line")
    return ReviewComment(
        id=int(raw["id"]),
        author=(raw.get("user") or {}).get("login", ""),
        body=raw.get("body") or "",
        path=raw.get("path") or "",
        line=int(line) if line else None,
        diff_hunk=raw.get("diff_hunk") or "",
        in_reply_to=raw.get("in_reply_to_id"),
        html_url=raw.get("html_url") or "",
    )


def _thread(node: dict[str, Any]) -> ReviewThread:
    comments = tuple(
        ThreadComment(int(c["databaseId"]), _author(c["author"])[0] if c.get("author") else "", c.get("body") or "")
        for c in node["comments"]["nodes"]
        if c.get("databaseId") is not None
    )
    return ReviewThread(id=node["id"], resolved=bool(node["isResolved"]), comments=comments)


def _stream_tail(url: str, max_bytes: int) -> tuple[str, int]:
    """Read ``url`` in chunks, keeping only the last ``max_bytes``: a 50 MB log costs 50 MB of reading and
    ``max_bytes`` of memory. The download URL is pre-signed; it takes no token (and must not get one)."""
    tail, size = b"", 0
    try:
        with requests.get(url, stream=True, timeout=60) as answer:
            answer.raise_for_status()
            for chunk in answer.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                tail = (tail + chunk)[-max_bytes:]
    except requests.RequestException as exc:
        raise GitHubError(f"could not download a job log: {exc}") from exc
    return tail.decode("utf-8", errors="replace"), size
