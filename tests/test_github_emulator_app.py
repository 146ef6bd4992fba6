"""GitHub App authentication against the emulator with PyGithub's own AppAuth: JWT, installation
tokens acting as the app's bot, expiry answered 401, renewal before expiry."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from github import Auth, Github, GithubIntegration

from tests.emulator_support import REPO


@pytest.fixture
def app(scene):
    return scene.emu.add_app("kodo", permissions={"issues": "write", "pull_requests": "write"}, token_lifetime_s=21)


def test_pygithub_app_auth_mints_and_renews_installation_tokens(scene, app):
    emu = scene.emu
    auth = Auth.AppAuth(app.app_id, app.private_key_pem).get_installation_auth(app.installation_id)
    gh = Github(base_url=emu.api_url, auth=auth, seconds_between_requests=0, seconds_between_writes=0, retry=0)
    issue = gh.get_repo(REPO).create_issue("From the app")
    assert issue.user.login == "kodo[bot]" and issue.user.type == "Bot"
    first = auth.token
    time.sleep(1.2)  # 21 s lifetime: PyGithub renews 20 s before expires_at
    gh.get_repo(REPO).get_issue(issue.number).create_comment("still here")
    assert auth.token != first
    integration = GithubIntegration(auth=Auth.AppAuth(app.app_id, app.private_key_pem), base_url=emu.api_url)
    assert integration.get_repo_installation("octo", "app").id == app.installation_id
    assert integration.get_app().slug == "kodo"
    emu.validation.assert_clean()


def test_bad_jwts_and_expired_tokens_get_githubs_401(scene, app):
    emu = scene.emu
    now = int(time.time())

    def post(token: str, installation: int = app.installation_id) -> requests.Response:
        return requests.post(
            f"{emu.api_url}/app/installations/{installation}/access_tokens",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "t"},
            timeout=5,
        )

    good = jwt.encode({"iat": now - 60, "exp": now + 300, "iss": str(app.app_id)}, app.private_key_pem, "RS256")
    minted = post(good)
    assert minted.status_code == 201 and minted.json()["token"].startswith("ghs_")
    too_long = jwt.encode({"iat": now, "exp": now + 3600, "iss": str(app.app_id)}, app.private_key_pem, "RS256")
    assert post(too_long).status_code == 401
    other_key = emu.add_app("other", permissions={}).private_key_pem
    forged = jwt.encode({"iat": now, "exp": now + 300, "iss": str(app.app_id)}, other_key, "RS256")
    assert post(forged).json()["message"] == "A JSON web token could not be decoded"
    assert post("ghs_not_a_jwt").status_code == 401
    short = emu.add_app("brief", permissions={"issues": "read"}, token_lifetime_s=1)
    token = post(
        jwt.encode({"iat": now, "exp": now + 300, "iss": str(short.app_id)}, short.private_key_pem, "RS256"),
        short.installation_id,
    )
    assert token.status_code == 201, token.json()
    value = token.json()["token"]
    headers = {"Authorization": f"token {value}", "User-Agent": "t"}
    assert requests.get(f"{emu.api_url}/repos/{REPO}/issues", headers=headers, timeout=5).status_code == 200
    time.sleep(1.1)
    expired = requests.get(f"{emu.api_url}/repos/{REPO}/issues", headers=headers, timeout=5)
    assert (expired.status_code, expired.json()["message"]) == (401, "Bad credentials")
