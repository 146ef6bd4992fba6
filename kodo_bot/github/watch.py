"""``kodo-bot watch OWNER/REPO``: a machine without Actions picks up issues a writer labelled.

    lock (one watcher per repository and work dir) -> the repository readable? (exit 2 naming the permission)
    -> every ``interval_s``: GET the open issues carrying the label, with ``If-None-Match``
         304: nothing changed (GitHub does not count it against the rate limit)
         200: for each issue that changed, its events: the latest time the label was added, and by whom
              -> not yet served (no outcome label added after it) and not handled by this watcher:
                 one child process, ``python -m kodo_bot.local.watch_child``, runs it through
                 ``handle.handle_trigger``: the same trust decision, lease, claim and comments as the action
    -> Ctrl-C or SIGTERM: each child gets SIGTERM (its run is saved as interrupted, its lease dropped) and
       is waited for; the next start finds the issue still unserved and resumes the run (a stale lease is
       taken over, and the checkpoint in the same work dir is resumed exactly).

Children run in their own session, so a Ctrl-C in the terminal reaches only the watcher, which forwards one
SIGTERM to each child by its PID. Who labelled the issue is read from GitHub's issue events, so a reader who
adds the label gets the same polite refusal as under Actions.

Not here: the run itself (``handle``), or reading argv (``cli``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import requests

from kodo_bot.errors import ConfigError, GitHubError, UserError
from kodo_bot.github.config import OUTCOME_LABELS
from kodo_bot.github.token_probe import rest_session

#: how long a stopping watcher waits for its children to save their runs before it kills them
STOP_GRACE_S = 120.0


@dataclass(frozen=True)
class WatchRequest:
    repo: str
    token: str
    api_url: str
    work_dir: Path
    env: Mapping[str, str]
    label: str | None = None
    parallel: int = 1
    interval_s: float = 30.0
    #: poll once, run what is due, wait for it and exit (tests, cron)
    once: bool = False


@dataclass(frozen=True)
class Due:
    """An issue whose latest labelling has not been served: run it as if that event had just arrived."""

    issue: int
    event_id: int
    sender: str
    sender_type: str


# --------------------------------------------------------------------------- GitHub, conditionally
class IssuePoller:
    """The open issues carrying the label, asked with the last ETag; ``None`` when GitHub says 304."""

    def __init__(self, api_url: str, token: str, repo: str, label: str, timeout_s: float = 30) -> None:
        self.base, self.repo, self.label, self.timeout = api_url.rstrip("/"), repo, label, timeout_s
        self.session = rest_session(token, "kodo-bot-watch")
        self._etag: str | None = None
        self._seen: dict[int, str] = {}  # issue -> updated_at when its events were last read
        self._answer: tuple[str | None, dict[int, str]] | None = None  # the last 200, until settled

    def close(self) -> None:
        self.session.close()

    def _get(self, path: str, *, etag: str | None = None) -> requests.Response:
        headers = {"If-None-Match": etag} if etag else {}
        try:
            return self.session.get(self.base + path, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise GitHubError(f"GitHub did not answer: {type(exc).__name__}") from None

    def check_access(self) -> None:
        """The repository and its issues readable, else ``UserError`` (exit 2) naming the permission."""
        answer = self._get(f"/repos/{self.repo}")
        if answer.status_code == 401:
            raise UserError("GitHub answered 401 Bad credentials: the token is wrong or expired")
        if answer.status_code in (403, 404):
            raise UserError(
                f"the token cannot read {self.repo} (GitHub answered {answer.status_code})",
                hint="give it access to the repository with metadata: read and issues: read "
                "(and contents, issues, pull-requests, statuses: write for the runs)",
            )
        answer = self._get(f"/repos/{self.repo}/issues?per_page=1")
        if answer.status_code in (403, 404):
            raise UserError(
                f"the token cannot read the issues of {self.repo} (GitHub answered {answer.status_code})",
                hint="grant it issues: read (issues: write for the runs)",
            )

    def changed(self) -> list[dict[str, Any]] | None:
        """The labelled open issues that changed since the last poll; None: GitHub answered 304."""
        query = f"labels={quote(self.label)}&state=open&sort=updated&direction=desc&per_page=100"
        answer = self._get(f"/repos/{self.repo}/issues?{query}", etag=self._etag)
        if answer.status_code == 304:
            return None
        if answer.status_code != 200:
            raise GitHubError(f"listing the issues labelled {self.label!r} answered {answer.status_code}")
        issues = list(answer.json())  # pull requests too: a labelled PR gets the action's polite refusal
        self._answer = (answer.headers.get("ETag"), {i["number"]: i.get("updated_at") or "" for i in issues})
        return [i for i in issues if self._seen.get(i["number"]) != i.get("updated_at")]

    def settle(self) -> None:
        """The last answer's issues were all looked at: from now on only a change is news. (Not before: a
        poll that failed half-way is asked again in full, not answered 304.)"""
        if self._answer is not None:
            (self._etag, self._seen), self._answer = self._answer, None

    def due(self, issue: dict[str, Any]) -> Due | None:
        """The issue's latest labelling, unless an outcome label was added after it (a run served it)."""
        events = self._events(issue["number"])
        return latest_unserved(events, self.label, issue["number"])

    def _events(self, number: int) -> list[dict[str, Any]]:
        url: str | None = f"{self.base}/repos/{self.repo}/issues/{number}/events?per_page=100"
        found: list[dict[str, Any]] = []
        while url:
            try:
                answer = self.session.get(url, timeout=self.timeout)
            except requests.RequestException as exc:
                raise GitHubError(f"GitHub did not answer: {type(exc).__name__}") from None
            if answer.status_code != 200:
                raise GitHubError(f"reading the events of issue #{number} answered {answer.status_code}")
            found += answer.json()
            url = answer.links.get("next", {}).get("url")
        return found


def latest_unserved(events: list[dict[str, Any]], label: str, number: int) -> Due | None:
    """Pure: the last time ``label`` was added, when no outcome label came after it."""
    served = {x.lower() for x in OUTCOME_LABELS}
    trigger: Due | None = None
    for event in sorted(events, key=lambda e: e.get("id") or 0):
        if event.get("event") != "labeled":
            continue
        name = ((event.get("label") or {}).get("name") or "").lower()
        if name == label.lower():
            actor = event.get("actor") or {}
            trigger = Due(number, int(event["id"]), actor.get("login") or "", actor.get("type") or "User")
        elif name in served and trigger is not None:
            trigger = None
    return trigger


# --------------------------------------------------------------------------- one watcher per repository
@contextlib.contextmanager
def single_instance(work_dir: Path, repo: str) -> Iterator[None]:
    """Hold ``WORK_DIR/watch-OWNER+NAME.lock``; a second watcher is refused, naming the first's PID. The
    OS drops the lock with the process, even after ``kill -9``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"watch-{repo.replace('/', '+')}.lock"
    fh: IO[str] = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "?"
            raise UserError(
                f"kodo-bot watch is already running for {repo} on this machine (PID {pid})",
                hint=f"stop it first (kill {pid}), or use another --work-dir",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fh.close()


# --------------------------------------------------------------------------- the loop
class _Stop(Exception):
    """SIGTERM, turned into an exception in the main thread."""


@dataclass
class Watcher:
    request: WatchRequest
    poller: IssuePoller
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    children: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)  # issue -> child
    handled: set[int] = field(default_factory=set)  # label event ids this watcher started or saw refused
    waiting: list[Due] = field(default_factory=list)

    def say(self, text: str) -> None:
        print(f"kodo-bot watch: {text}", file=self.out, flush=True)

    def poll_once(self) -> None:
        self._reap()
        changed = self.poller.changed()
        for issue in changed or []:
            due = self.poller.due(issue)
            if due is None or due.event_id in self.handled or due.issue in self.children:
                continue
            if all(w.issue != due.issue for w in self.waiting):
                self.waiting.append(due)
        self.poller.settle()
        self._start_waiting()

    def _start_waiting(self) -> None:
        while self.waiting and len(self.children) < self.request.parallel:
            due = self.waiting.pop(0)
            self.handled.add(due.event_id)
            self.children[due.issue] = self._spawn(due)
            self.say(f"issue #{due.issue}: labelled by {due.sender}; starting (PID {self.children[due.issue].pid})")

    def _spawn(self, due: Due) -> subprocess.Popen[bytes]:
        r = self.request
        spec = {
            "repo": r.repo,
            "issue": due.issue,
            "sender": due.sender,
            "sender_type": due.sender_type,
            "label": self.poller.label,
            "api_url": r.api_url,
            "work_dir": str(r.work_dir),
        }
        env = dict(r.env)
        env["GITHUB_TOKEN"] = r.token
        return subprocess.Popen(
            [sys.executable, "-m", "kodo_bot.local.watch_child", json.dumps(spec)],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches the watcher only; it forwards SIGTERM
        )

    def _reap(self) -> None:
        for issue, child in list(self.children.items()):
            code = child.poll()
            if code is not None:
                del self.children[issue]
                self.say(f"issue #{issue}: finished (exit {code})")
        self._start_waiting()

    def stop_children(self) -> int:
        """SIGTERM to each live child by PID, then wait; returns how many were stopped mid-run."""
        live = [c for c in self.children.values() if c.poll() is None]
        for child in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in live:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
                child.wait()
        return len(live)

    def wait_all(self) -> None:
        while self.children or self.waiting:
            time.sleep(0.2)
            self._reap()


def run_watch(request: WatchRequest) -> int:
    """Watch until Ctrl-C or SIGTERM (or, with ``once``, one poll and its runs). Exit 0 on a clean stop."""
    poller = IssuePoller(request.api_url, request.token, request.repo, request.label or "")
    watcher = Watcher(request, poller)
    with single_instance(request.work_dir, request.repo), _sigterm_raises():
        try:
            poller.check_access()
            label = poller.label = request.label or _repository_label(request)
            watcher.say(f"watching {request.repo} for issues labelled {label!r} every {request.interval_s:g} s")
            if request.once:
                watcher.poll_once()
                watcher.wait_all()
                return 0
            while True:
                try:
                    watcher.poll_once()
                except GitHubError as exc:  # GitHub down, a network blip: the runs go on, the next poll retries
                    watcher.say(f"poll failed: {exc}; trying again in {request.interval_s:g} s")
                time.sleep(request.interval_s)
        except (KeyboardInterrupt, _Stop):
            stopped = watcher.stop_children()
            note = f"; {stopped} live run(s) saved as interrupted, resumed on the next start" if stopped else ""
            watcher.say(f"stopped{note}")
            return 0
        finally:
            watcher.stop_children()  # whatever ended the watch, no run is left without its watcher
            poller.close()


def _repository_label(request: WatchRequest) -> str:
    """The trigger label from ``.github/kodo.yml`` on the default branch, else ``kodo``."""
    from kodo_bot.github.client import GitHubClient
    from kodo_bot.github.config import KodoConfig, parse_kodo_config

    client = GitHubClient(token=request.token, repo=request.repo, api_url=request.api_url)
    try:
        text = client.file_text(".github/kodo.yml")
        return parse_kodo_config(text, source=".github/kodo.yml").label if text else KodoConfig().label
    except (GitHubError, ConfigError):
        return KodoConfig().label  # a broken kodo.yml is the run's to report, on the issue
    finally:
        client.close()


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    def on_term(signum: int, frame: object) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
