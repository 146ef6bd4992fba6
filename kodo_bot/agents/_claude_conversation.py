"""A session's conversation as Claude Code keeps it on disk: its id, whether a new process resumes it, what it
has cost so far, and its transcript, masked.

The conversation outlives the CLI processes that carry it: after a timeout or a crash the next process
resumes it by id from the CLI's config folder under the state directory (``agents/env.py``), and a later
kodo-bot run can do the same with the id ``on_id`` was told. It deliberately starts no process and reads
no messages itself: the session hands it each message (``note``) and each query's result (``charge``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from claude_agent_sdk import ResultMessage, SystemMessage

from kodo_bot.agents._claude_stream import restored_cost, transcript
from kodo_bot.agents.env import config_dir, tmp_dir
from kodo_bot.errors import AgentError
from kodo_bot.redact import redact

log = logging.getLogger(__name__)


class Conversation:
    """One agent's conversation, under ``state_dir``. ``resume`` is the id of an existing one to continue.

    ``on_id(id)`` is called once the id is fixed and a CLI process runs with it, and again should the CLI
    report a different one.
    """

    def __init__(self, state_dir: Path, *, agent: str, resume: str | None, on_id: Callable[[str], None] | None) -> None:
        #: the id, known from the first process on (a new conversation gets one then)
        self.id = resume
        self._agent = agent
        self._config = config_dir(state_dir)
        self._tmp = tmp_dir(state_dir)
        self._must_resume = resume is not None  # the caller expects an existing conversation
        self._started = False  # a CLI process ran for it (so its id is fixed on our side)
        self._on_id = on_id
        self._announced: str | None = None
        #: the CLI's cumulative total_cost_usd as last seen (it counts per conversation, not per query)
        self._cost_seen = 0.0
        #: the transcript file (inode) and how far into it ``mask_transcript`` has masked whole lines
        self._masked = (0, 0)

    def prepare_process(self) -> tuple[str, bool]:
        """Get ready for a new CLI process: the id it runs with, and whether it resumes that conversation
        (else it starts one under that id)."""
        resume = self._can_resume()
        session_id = self.id = self.id or str(uuid.uuid4())
        self._cost_seen = restored_cost(self._config, session_id) if resume else 0.0
        for folder in (self._config, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)
        return session_id, resume

    def process_started(self) -> None:
        self._started = True
        self._announce()

    def note(self, message: object) -> None:
        """Take the id a message reports. The CLI is told the id (--session-id, --resume) and echoes it;
        should a CLI ever pick its own, the one it reports is the one a resume needs."""
        reported = message.data.get("session_id") if isinstance(message, SystemMessage) else None
        if isinstance(message, ResultMessage):
            reported = message.session_id
        if isinstance(reported, str) and reported and reported != self.id:
            self.id = reported
            self._announce()

    def charge(self, result: ResultMessage | None) -> float:
        """What this query's result cost by itself: total_cost_usd is cumulative for the conversation
        (restored on resume), so the increase since the last one."""
        if result is None or result.total_cost_usd is None:
            return 0.0
        cost = max(0.0, result.total_cost_usd - self._cost_seen)
        self._cost_seen = result.total_cost_usd
        return cost

    def mask_transcript(self, credentials: tuple[str, ...]) -> None:
        """The CLI's transcript holds what the agent saw, its own credential included if it printed it:
        mask it in place (the CLI appends to the file, so it must stay the same file).

        Only what was appended since the last call is read: the transcript grows with every query, and
        reading it whole made each query of a long conversation slower than the one before. A line is one
        JSON value (a secret never spans two), so the part masked ends at the last whole line."""
        path = transcript(self._config, self.id) if self.id else None
        if path is None or not credentials:
            return
        with contextlib.suppress(OSError), path.open("r+b") as fh:
            st = os.fstat(fh.fileno())
            start = self._masked[1] if self._masked[0] == st.st_ino and self._masked[1] <= st.st_size else 0
            fh.seek(start)
            tail = fh.read()
            text = tail.decode("utf-8", "surrogateescape")
            masked = redact(text, credentials).encode("utf-8", "surrogateescape")
            if masked != tail:
                fh.seek(start)
                fh.write(masked)
                fh.truncate()
            self._masked = (st.st_ino, start + masked.rfind(b"\n") + 1)

    def _can_resume(self) -> bool:
        """Whether there is a conversation to resume (else a new one starts, under ``id`` if one is set)."""
        if self.id is None:
            return False
        if transcript(self._config, self.id) is not None:
            return True
        if self._must_resume and not self._started:
            raise AgentError(
                f"cannot resume Claude Code session {self.id}: no transcript under {self._config}",
                hint="resuming needs the state directory of the run that started the session; start afresh",
            )
        return False  # a process that died before writing anything: start the same id afresh

    def _announce(self) -> None:
        # Once per id: a resume keeps the id, so reconnecting after a timeout announces nothing new.
        if self._on_id is None or self.id in (None, self._announced):
            return
        self._announced = self.id
        try:
            self._on_id(self.id)
        except Exception:  # a failing listener must not take the agent down with it
            log.exception("on_session_id callback failed for %s", self._agent)
