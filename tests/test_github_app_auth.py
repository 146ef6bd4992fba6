"""kodo-bot acting as a GitHub App: an installation token minted from the App's id and key, used for the API
and for git, renewed before it expires, and never shown; and, with the workflow's own token, the one warning
that the repository's CI will not run on its pushes."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from kodo_bot.errors import GitHubError
from kodo_bot.github.tokens import RENEW_BEFORE_S, WORKFLOW_TOKEN_NOTE, AppToken
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import TESTS, demo_story
from tests.github_support import JOB_PERMISSIONS, REPO, kodo_yml, make_scene, play

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def scene(tmp_path):
    story = demo_story()
    made = make_scene(tmp_path, {**story.files, ".github/kodo.yml": kodo_yml([TESTS])})
    yield made
    made.emu.stop()


def test_a_run_as_an_app_posts_pushes_and_opens_the_pr_as_the_app_and_never_shows_its_token(scene):
    app = scene.emu.add_app("kodo-app", permissions=JOB_PERMISSIONS, repos=[REPO])
    story = demo_story()
    n = scene.issue("Add multiplication", story.goal)
    env = {"GITHUB_TOKEN": "", "KODO_APP_ID": str(app.app_id), "KODO_APP_PRIVATE_KEY": app.private_key_pem}

    assert play(scene, scene.label(n), Script(story.scenario), **env) == 0

    (pull,) = scene.pulls()
    assert scene.emu.issue(REPO, pull.number).user == "kodo-app[bot]" and not pull.draft
    comments = scene.emu.comments(REPO, n) + scene.emu.comments(REPO, pull.number)
    assert {c.user for c in comments} == {"kodo-app[bot]"}
    # installation tokens (ghs_...) appear in no comment, PR body or job summary
    shown = "\n".join([c.body for c in comments] + [scene.emu.issue(REPO, pull.number).body, scene.summary()])
    assert "ghs_" not in shown and "PRIVATE KEY" not in shown
    assert WORKFLOW_TOKEN_NOTE not in shown  # an App's pushes do start workflows
    scene.assert_valid()


def test_the_apps_token_is_renewed_before_it_expires(scene):
    app = scene.emu.add_app("kodo-app", permissions=JOB_PERMISSIONS, repos=[REPO], token_lifetime_s=3600)
    now = [1_000_000.0]
    source = AppToken(
        app_id=str(app.app_id),
        private_key=SecretStr(app.private_key_pem),
        repo=REPO,
        api_url=scene.emu.api_url,
        clock=lambda: now[0],
    )
    first = source.current()
    assert source.current() == first  # cached while far from expiry
    now[0] = source.expires_at - RENEW_BEFORE_S + 1
    second = source.current()
    assert second != first and source.secrets == (first, second)


def test_wrong_app_credentials_end_with_what_to_fix(scene):
    app = scene.emu.add_app("kodo-app", permissions=JOB_PERMISSIONS, repos=[REPO])
    other = scene.emu.add_app("other-app", permissions=JOB_PERMISSIONS, repos=[REPO])
    wrong = AppToken(
        app_id=str(app.app_id), private_key=SecretStr(other.private_key_pem), repo=REPO, api_url=scene.emu.api_url
    )
    with pytest.raises(GitHubError, match="refused the App's credentials") as raised:
        wrong.current()
    assert "app-private-key" in (raised.value.hint or "")
    garbage = AppToken(app_id="1", private_key=SecretStr("not a key"), repo=REPO, api_url=scene.emu.api_url)
    with pytest.raises(GitHubError, match="private key cannot be read"):
        garbage.current()


def test_with_the_workflows_own_token_the_run_says_once_that_ci_will_not_run(scene):
    story = demo_story()
    n = scene.issue("Add multiplication", story.goal)

    assert play(scene, scene.label(n), Script(story.scenario), KODO_WORKFLOW_TOKEN="true") == 0

    (progress,) = [c for c in scene.emu.comments(REPO, n) if "kodo-bot" in c.body and "progress" in c.body]
    assert progress.body.count("GitHub starts no workflow for pushes made with it") == 1
    assert "app-id" in progress.body and "GitHub starts no workflow" in scene.summary()
