"""Hidden markers that let kodo-bot recognise its own comments, and the lease that keeps one run per issue.

Every comment the bot posts starts with an HTML comment such as::

    <!-- kodo-bot: {"run": "r-1a2b", "kind": "verdicts", "round": 2} -->

GitHub does not render it, so readers never see it; a retried or resumed run looks for it and edits that
comment instead of posting a duplicate. The progress comment also carries the lease::

    <!-- kodo-bot-lease: {"run": "r-1a2b", "heartbeat": "2025-01-01T12:00:00Z", "runner": "gpu-box-1"} -->

and the number of the claim its run won (``lease.claim_ref``), which stays after the run ends so that the
next trigger knows which claim to race for::

    <!-- kodo-bot-claim: 3 -->

The JSON inside is escaped so that no value can contain ``<`` or ``>``: a run id or runner name can then
never close the comment early (``-->``, ``--!>``) and spill into the rendered page, and the parser can
find the end of the JSON without understanding it.

Deliberately not here: deciding *which* comments to trust. Anyone can type a marker into their own
comment, so callers must only believe markers in comments authored by the bot's own login. Rendering of
user text lives in ``render``; it uses ``markdown.neutralise`` so that quoted text never contains a marker.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

#: one per comment kodo-bot posts, plus ``pr`` for the body of the pull request it opens
MarkerKind = Literal["progress", "verdicts", "summary", "refused", "duplicate", "outcome", "pr", "reply", "ci"]
LeaseState = Literal["live", "stale", "none"]

_PREFIX = "kodo-bot"
_LEASE_PREFIX = "kodo-bot-lease"
# ``[^<>]*`` is safe because rendered JSON never contains those characters (see _dumps).
_MARKER_RE = re.compile(r"<!--\s*" + _PREFIX + r":\s*(\{[^<>]*?\})\s*-->")
_LEASE_RE = re.compile(r"<!--\s*" + _LEASE_PREFIX + r":\s*(\{[^<>]*?\})\s*-->")
_CLAIM_RE = re.compile(r"<!--\s*kodo-bot-claim:\s*(\d{1,9})\s*-->")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Marker(_Frozen):
    """Which run posted a comment and which slot it fills. Two markers are equal when the slot is."""

    run: str = Field(min_length=1, max_length=200)
    kind: MarkerKind
    #: the verification round, for ``verdicts`` comments; the answered comment's id, for ``reply``; else None
    round: int | None = Field(default=None, ge=0)


class Lease(_Frozen):
    """Who holds an issue's run, and when it last proved it was alive."""

    run: str = Field(min_length=1, max_length=200)
    heartbeat: datetime
    runner: str = Field(default="", max_length=200)

    @field_validator("heartbeat")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        # A naive time cannot be compared with "now" across runners in different zones; GitHub and the
        # engine both speak UTC, so read a naive time as UTC rather than fail on a hand-edited marker.
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v


def _dumps(data: dict[str, Any]) -> str:
    text = json.dumps(data, ensure_ascii=True, separators=(", ", ": "))
    # JSON allows \\u escapes anywhere in strings; these three are the ones HTML cares about.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_marker(run: str, kind: MarkerKind, round: int | None = None) -> str:
    marker = Marker(run=run, kind=kind, round=round)
    data: dict[str, Any] = {"run": marker.run, "kind": marker.kind}
    if marker.round is not None:
        data["round"] = marker.round
    return f"<!-- {_PREFIX}: {_dumps(data)} -->"


def find_markers(body: str | None) -> list[Marker]:
    """Every well-formed marker in a comment body, in order; malformed ones are skipped, never raised."""
    found = []
    for match in _MARKER_RE.finditer(body or ""):
        try:
            found.append(Marker.model_validate(json.loads(match.group(1))))
        except (ValueError, ValidationError):
            continue
    return found


def find_marker(body: str | None, kind: MarkerKind | None = None) -> Marker | None:
    """The first marker in ``body`` (of ``kind``, when given), or None."""
    for marker in find_markers(body):
        if kind is None or marker.kind == kind:
            return marker
    return None


def render_lease(lease: Lease) -> str:
    heartbeat = lease.heartbeat.astimezone(UTC).isoformat().replace("+00:00", "Z")
    data = {"run": lease.run, "heartbeat": heartbeat, "runner": lease.runner}
    return f"<!-- {_LEASE_PREFIX}: {_dumps(data)} -->"


def find_lease(body: str | None) -> Lease | None:
    for match in _LEASE_RE.finditer(body or ""):
        try:
            return Lease.model_validate(json.loads(match.group(1)))
        except (ValueError, ValidationError):
            continue
    return None


_TAKEN_RE = re.compile(r"<!--\s*kodo-bot-taken:\s*([A-Za-z0-9,_-]{1,4000})\s*-->")


def render_taken(ids: tuple[str, ...]) -> str:
    """The feedback (``review-12``, ``comment-34``) a live run took in, so a job queued behind it knows."""
    return f"<!-- kodo-bot-taken: {','.join(i for i in ids if re.fullmatch(r'[A-Za-z0-9_-]+', i))} -->"


def find_taken(body: str | None) -> set[str]:
    match = _TAKEN_RE.search(body or "")
    return {i for i in match.group(1).split(",") if i} if match else set()


def render_claim(number: int) -> str:
    return f"<!-- kodo-bot-claim: {int(number)} -->"


def find_claim(body: str | None) -> int:
    """The claim number a progress comment records; 0 when it records none (no claim made yet)."""
    match = _CLAIM_RE.search(body or "")
    return int(match.group(1)) if match else 0


def lease_state(lease: Lease | None, now: datetime, stale_after_s: float) -> LeaseState:
    """``none``: nobody holds the issue; ``live``: a run is alive, start nothing; ``stale``: its runner is
    presumed dead and a new run may take over (and resume from the branch and the progress comment).

    A heartbeat in the future (clocks differ between runners) counts as live: taking over a run that is
    still working would be far worse than waiting a little longer.
    """
    if lease is None:
        return "none"
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    age_s = (now - lease.heartbeat).total_seconds()
    return "stale" if age_s > stale_after_s else "live"
