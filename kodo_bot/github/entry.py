"""What ``kodo-bot action`` and ``kodo-bot handle`` do once ``cli.py`` has read argv and the environment.

``run_action`` turns one Actions event into a result: an event kodo-bot does not act on is said so and
exits 0; a labelled issue goes through ``handle.handle_trigger``. Either way the job gets its step summary
(``GITHUB_STEP_SUMMARY``) and outputs (``run-id``, ``outcome``, ``pr-number`` in ``GITHUB_OUTPUT``), and the
run log is copied where the action uploads it from. ``run_handle`` does the same for an issue named by hand.

The exit status is the run's outcome (0 only when verification accepted the work); a trigger that was
ignored, refused or answered as a duplicate exits 0, since nothing went wrong with the bot.

Not here: reading ``os.environ``, argv or the event file (``cli``), or any decision (``handle``, ``trust``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pydantic import SecretStr

if TYPE_CHECKING:
    from kodo_bot.engine.launch import Backends

from kodo_bot.engine.events import EventSink
from kodo_bot.errors import KodoError
from kodo_bot.github import render
from kodo_bot.github.client import GitHubClient, RetryPolicy
from kodo_bot.github.config import DEFAULT_CONFIG_PATH
from kodo_bot.github.context import ActionsContext, Ignored, LabelTrigger, load_payload, parse_event
from kodo_bot.github.feedback import FEEDBACK_EVENTS, FeedbackTrigger, NotForUs, parse_feedback
from kodo_bot.github.feedback_flow import handle_feedback
from kodo_bot.github.handle import HandleOptions, HandleResult, handle_trigger, manual_trigger
from kodo_bot.github.run_inputs import RunOverrides
from kodo_bot.github.tokens import WORKFLOW_TOKEN_NOTE
from kodo_bot.github.workdir import clean_finished
from kodo_bot.redact import redact


@dataclass(frozen=True)
class BotSettings:
    """Everything about how the bot runs that is not in the event: the action's inputs, where work lives."""

    work_root: Path
    overrides: RunOverrides = RunOverrides()
    label: str | None = None
    config_path: str | None = None
    runner: str = ""
    #: the action copies run logs here and uploads them as an artifact
    runs_dir: Path | None = None
    bot_login: str | None = None
    #: for rehearsals against the emulator: no throttling, short retries and timers
    fast: bool = False
    extra_sinks: tuple[EventSink, ...] = field(default_factory=tuple)

    def retry(self) -> RetryPolicy:
        return RetryPolicy.fast() if self.fast else RetryPolicy()

    def options(
        self,
        *,
        job_url: str | None,
        attempt_id: str,
        manual: bool,
        deadline: float | None = None,
        artifact: str | None = None,
    ) -> HandleOptions:
        options = HandleOptions(
            work_root=self.work_root,
            runner=self.runner,
            job_url=job_url,
            artifact=artifact,
            attempt_id=attempt_id,
            deadline=deadline,
            overrides=self.overrides,
            bot_login=self.bot_login,
            manual=manual,
            label=self.label,
            extra_sinks=self.extra_sinks,
            config_path=self.config_path or DEFAULT_CONFIG_PATH,
        )
        if self.fast:
            options = replace(options, retry_s=0.2, drain_s=20.0, claim_settle_s=3.0, write_retry_s=5.0)
        return options


def _trigger(event_name: str, payload: bytes) -> LabelTrigger | Ignored | FeedbackTrigger | NotForUs:
    """The event's meaning: a label (``context``), or feedback on the bot's work (``feedback``)."""
    if event_name in FEEDBACK_EVENTS:
        data = load_payload(payload, f"the {event_name!r} payload")
        feedback = parse_feedback(event_name, data)
        if feedback is not None:
            return feedback
    return parse_event(event_name, payload)


def run_action(
    ctx: ActionsContext, payload: bytes, settings: BotSettings, backends: Callable[[], Backends], out: TextIO
) -> int:
    """Handle the event that started the job. ``backends`` is called once a run is about to start."""
    trigger = _trigger(ctx.event_name, payload)
    if isinstance(trigger, (Ignored, NotForUs)):
        print(f"kodo-bot: nothing to do: {trigger.reason}", file=out)
        _write_outputs(ctx, run_id="", outcome="ignored", pr_number=None)
        _write_summary(ctx, render.render_step_summary(repo=ctx.repository, issue_number=None, note=trigger.reason))
        return 0
    try:
        token = ctx.token_source()
        client = GitHubClient(token=token, repo=trigger.repo, api_url=ctx.api_url, retry=settings.retry())
        try:
            options = settings.options(
                job_url=ctx.run_url,
                attempt_id=f"actions-{ctx.run_id or 'local'}",
                manual=False,
                deadline=ctx.job_deadline,
                artifact=ctx.artifact if settings.runs_dir else None,
            )
            # known from the token when it can be: saves asking GET /user, which installation tokens may not
            options = replace(options, bot_login=options.bot_login or token.bot_login)
            if isinstance(trigger, LabelTrigger):
                result = handle_trigger(trigger, client=client, token=token, backends=backends, options=options)
            else:
                result = handle_feedback(trigger, client=client, token=token, backends=backends, options=options)
        finally:
            client.close()
    except KodoError as exc:
        # Later steps of the workflow read the outputs: say it ended in an error before cli.py reports it.
        _write_outputs(ctx, run_id="", outcome="error", pr_number=None)
        _write_summary(
            ctx,
            render.render_step_summary(
                repo=ctx.repository, issue_number=getattr(trigger, "issue_number", None), note=f"kodo-bot failed: {exc}"
            ),
        )
        raise
    _report(result, out, secrets=client.secrets)
    _write_outputs(
        ctx,
        run_id=(result.run_id or "") if result.status == "finished" else "",
        outcome=result.outcome.value if result.outcome else result.status,
        pr_number=result.pr_number,
    )
    warning = f"\n\n**Warning:** {WORKFLOW_TOKEN_NOTE}\n" if token.kind == "workflow" and result.finished else ""
    artifact = ctx.artifact if settings.runs_dir else None
    _write_summary(ctx, _summary(ctx.repository, result, artifact=artifact) + warning)
    _copy_log(result, settings.runs_dir)
    _tidy(settings.work_root)
    return result.exit_code


def run_handle(
    repo: str,
    issue: int,
    token: SecretStr,
    api_url: str,
    settings: BotSettings,
    backends: Callable[[], Backends],
    out: TextIO,
) -> int:
    """``kodo-bot handle --issue N --repo OWNER/NAME``: as if the token's holder had labelled the issue."""
    client = GitHubClient(token=token, repo=repo, api_url=api_url, retry=settings.retry())
    try:
        trigger = manual_trigger(client, issue)
        options = settings.options(job_url=None, attempt_id="", manual=True)
        result = handle_trigger(trigger, client=client, token=token, backends=backends, options=options)
    finally:
        client.close()
    _report(result, out, secrets=client.secrets)
    _copy_log(result, settings.runs_dir)
    return result.exit_code


def _report(result: HandleResult, out: TextIO, *, secrets: tuple[str, ...]) -> None:
    lines = [f"kodo-bot: issue #{result.issue_number}: {result.status}"]
    if result.outcome is not None:
        lines[0] += f" ({result.outcome.value})"
    if result.message:
        lines.append(f"  {result.message}")
    for label, value in (
        ("run", result.run_id),
        ("pull request", result.pr_url),
        ("progress comment", result.progress_url),
        ("log", result.log_path),
    ):
        if value and (result.status == "finished" or label == "progress comment"):
            lines.append(f"  {label}: {value}")
    lines += [f"  GitHub refused: {refusal}" for refusal in result.refusals if refusal not in result.message]
    if result.undelivered:
        lines.append(f"  not delivered to GitHub: {', '.join(result.undelivered)}")
    print(redact("\n".join(lines), secrets), file=out)


def _summary(repo: str, result: HandleResult, *, artifact: str | None = None) -> str:
    if result.finished is None:
        note = f"{result.status}: {result.message}" if result.message else result.status
        return render.render_step_summary(
            repo=repo, issue_number=result.issue_number, note=note, progress_url=result.progress_url
        )
    return render.render_step_summary(
        repo=repo,
        issue_number=result.issue_number,
        finished=result.finished,
        pr_url=result.pr_url,
        progress_url=result.progress_url,
        refusals=result.refusals,
        undelivered=result.undelivered,
        artifact=artifact,
    )


def _write_outputs(ctx: ActionsContext, *, run_id: str, outcome: str, pr_number: int | None) -> None:
    if ctx.output is None:
        return
    with open(ctx.output, "a", encoding="utf-8") as fh:
        fh.write(f"run-id={run_id}\noutcome={outcome}\npr-number={pr_number or ''}\n")


def _write_summary(ctx: ActionsContext, text: str) -> None:
    if ctx.step_summary is None:
        return
    with open(ctx.step_summary, "a", encoding="utf-8") as fh:
        fh.write(text.rstrip("\n") + "\n")


def _tidy(work_root: Path) -> None:
    """Clones of runs that finished over a week ago go (after the run, never before the first comment)."""
    try:
        clean_finished(work_root)
    except OSError as exc:
        print(f"kodo-bot: could not tidy {work_root}: {exc}", file=sys.stderr)


def _copy_screenshots(evidence: Path, to: Path) -> None:
    """A browser verifier's screenshots, as kodo-bot kept them: plain PNG files only. The uploader follows
    links, so a link (to a key, say) would put what it points at in the artifact."""
    for folder, _, names in os.walk(evidence):  # does not enter linked folders
        for name in names:
            shot = Path(folder) / name
            if shot.suffix == ".png" and shot.is_file() and not shot.is_symlink():
                (to / shot.relative_to(evidence)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(shot, to / shot.relative_to(evidence))


def _copy_log(result: HandleResult, runs_dir: Path | None) -> None:
    if runs_dir is None or result.log_path is None or not result.log_path.exists():
        return
    target = runs_dir / (result.run_id or "run")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(result.log_path, target / result.log_path.name)
    _copy_screenshots(result.log_path.parent / "evidence", target / "evidence")
    try:  # the log is what matters: a page that cannot be drawn costs a warning, never the upload
        from kodo_bot.viewer import write_html

        write_html(target / result.log_path.name, target / "run.html")
    except Exception as exc:  # noqa: BLE001 - any failure of the page leaves the log as it is
        print(f"kodo-bot: could not write the run's HTML view: {exc}", file=sys.stderr)
