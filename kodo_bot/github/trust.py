"""Who may start a run, and whose words become part of the goal. Pure decisions, no I/O.

A run spends money and pushes code, so only people who could push that code themselves (write, maintain or
admin on the repository) may start one. The caller asks GitHub's collaborator-permission API for the
sender's role and passes the answer in; :func:`needs_permission` says when the answer cannot matter, so the
REST call can be skipped.

Outcomes are values: :class:`Start`, :class:`Refuse` (a person is waiting: post ``comment``, remove the
label, start nothing) or :class:`Ignore` (nothing to say: log ``reason`` and exit 0). Bots are ignored
silently rather than refused: a comment would only feed another bot's loop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from kodo_bot.github.config import KodoConfig
from kodo_bot.github.context import LabelTrigger

#: roles that may push to the repository. ``role_name`` from the permission API gives the first three;
#: its legacy ``permission`` field folds maintain into write, so either field can be passed.
WRITE_ROLES = frozenset({"write", "maintain", "admin"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Start(_Frozen):
    decision: Literal["start"] = "start"
    trigger: LabelTrigger


class Refuse(_Frozen):
    """Start nothing, tell the person why and what to do. ``reason`` is for the log, ``comment`` for them."""

    decision: Literal["refuse"] = "refuse"
    reason: str
    comment: str
    #: take the label off again, so the issue does not look like kodo-bot is on it
    remove_label: bool = True


class Ignore(_Frozen):
    decision: Literal["ignore"] = "ignore"
    reason: str


Decision = Start | Refuse | Ignore


def is_bot(login: str, user_type: str | None = None) -> bool:
    return user_type == "Bot" or login.lower().endswith("[bot]")


def same_account(a: str, b: str) -> bool:
    """``name`` and ``name[bot]`` are one account, whatever the case (GitHub ignores it)."""
    return a.lower().removesuffix("[bot]") == b.lower().removesuffix("[bot]")


def is_trusted_bot(login: str, config: KodoConfig) -> bool:
    """Listed in ``trusted_bots``."""
    return listed_bot(login, config.trusted_bots)


def listed_bot(login: str, trusted_bots: Sequence[str]) -> bool:
    return any(same_account(login, b) for b in trusted_bots)


def has_write(permission: str | None) -> bool:
    return (permission or "").strip().lower() in WRITE_ROLES


def needs_permission(trigger: LabelTrigger, config: KodoConfig) -> bool:
    """Whether :func:`decide_trigger` will look at the sender's permission (else skip the API call)."""
    if trigger.label != config.label:
        return False
    return not is_bot(trigger.sender_login, trigger.sender_type)


def decide_trigger(trigger: LabelTrigger, permission: str | None, config: KodoConfig) -> Decision:
    """Start, refuse or ignore a labelled issue.

    ``permission`` is the sender's role from the collaborator-permission API (``role_name`` preferred),
    or None when GitHub says they are not a collaborator at all.

    The checks run in this order so the comment names the first thing the person can act on: a reader
    learns about permissions before being told pull requests are not supported.
    """
    if trigger.label != config.label:
        return Ignore(reason=f"label {trigger.label!r} is not the trigger label {config.label!r}")
    if is_bot(trigger.sender_login, trigger.sender_type):
        if not is_trusted_bot(trigger.sender_login, config):
            return Ignore(reason=f"{trigger.sender_login} is a bot not listed in trusted_bots (.github/kodo.yml)")
        # A listed bot is trusted by the repository's own configuration. GitHub's permission API says
        # little useful about Apps, so it is not consulted.
    elif not has_write(permission):
        return _refuse_permission(trigger, permission, config)
    if trigger.is_pull_request:
        return _refuse_pull_request(trigger, config)
    if trigger.issue_state != "open":
        return _refuse_closed(trigger, config)
    return Start(trigger=trigger)


def is_trusted_commenter(login: str, user_type: str | None, permission: str | None, config: KodoConfig) -> bool:
    """Whether a comment by this account joins the goal.

    The same rule as for triggering: write access, or a listed bot. ``author_association`` on the comment
    is deliberately not used: ``COLLABORATOR`` and ``MEMBER`` do not imply write access to this repository.
    """
    return may_steer(login, user_type, permission, config.trusted_bots)


def may_steer(login: str, user_type: str | None, permission: str | None, trusted_bots: Sequence[str]) -> bool:
    """Write access, or a bot in ``trusted_bots``: whose words reach the goal, and who steers a live run."""
    if is_bot(login, user_type):
        return listed_bot(login, trusted_bots)
    return has_write(permission)


def _mention(login: str) -> str:
    # GitHub logins are letters, digits and '-' (Apps add "[bot]"); keep it so if a payload says otherwise.
    return "@" + (re.sub(r"[^A-Za-z0-9\-\[\]]", "", login) or "there")


def _label(config: KodoConfig) -> str:
    # Label names may hold backticks; a double-backtick code span with padding shows them literally.
    name = config.label
    return f"`` {name} ``" if "`" in name else f"`{name}`"


def _refuse_permission(trigger: LabelTrigger, permission: str | None, config: KodoConfig) -> Refuse:
    role = f"your role here is `{permission}`" if permission else "you are not a collaborator here"
    return Refuse(
        reason=f"{trigger.sender_login} lacks write permission ({permission or 'none'})",
        comment=(
            f"Hi {_mention(trigger.sender_login)}, thanks for flagging this issue for kodo-bot!\n\n"
            f"kodo-bot only starts when the {_label(config)} label is added by someone with write, "
            f"maintain or admin permission on this repository, and {role}, so I removed the label and "
            "did not start a run.\n\n"
            "**What to do:** ask a maintainer to add the label. If the request came from an automation, "
            "a maintainer can list that bot under `trusted_bots` in `.github/kodo.yml`."
        ),
    )


def _refuse_pull_request(trigger: LabelTrigger, config: KodoConfig) -> Refuse:
    return Refuse(
        reason=f"label added to pull request #{trigger.issue_number}",
        comment=(
            f"Hi {_mention(trigger.sender_login)}, kodo-bot works on issues, not pull requests, so I "
            f"removed the {_label(config)} label here and did not start a run.\n\n"
            f"**What to do:** open an issue describing the change you want (you can link this pull "
            f"request) and add the {_label(config)} label to that issue."
        ),
    )


def _refuse_closed(trigger: LabelTrigger, config: KodoConfig) -> Refuse:
    return Refuse(
        reason=f"issue #{trigger.issue_number} is closed",
        comment=(
            f"Hi {_mention(trigger.sender_login)}, this issue is closed, so kodo-bot did not start and I "
            f"removed the {_label(config)} label.\n\n"
            "**What to do:** if there is still work to do, reopen the issue and add the label again."
        ),
    )
