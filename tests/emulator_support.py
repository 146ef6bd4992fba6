"""Shared helpers and constants of the GitHub emulator tests (``test_github_emulator_*.py``); their fixtures
(``emu``, ``scene``, ``gh_factory``) are in ``conftest.py``.

The emulator is driven with the real PyGithub client and real git; only the far end is ours.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kodo_bot.sandbox.github_emulator import GitHubEmulator

SPEC_DIR = Path(__file__).parent / "github_spec"
REST_SPEC = SPEC_DIR / "rest-openapi-subset.json"
WEBHOOK_SPEC = SPEC_DIR / "webhooks-openapi-subset.json"
EXAMPLES = SPEC_DIR / "webhook-examples"

REPO = "octo/app"
BOT = "kodo-bot[bot]"
ALL_WRITE = {"issues": "write", "pull_requests": "write", "contents": "write", "statuses": "write"}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Kodo Bot",
    "GIT_AUTHOR_EMAIL": "kodo@example.com",
    "GIT_COMMITTER_NAME": "Kodo Bot",
    "GIT_COMMITTER_EMAIL": "kodo@example.com",
}


@dataclass
class Scene:
    emu: GitHubEmulator
    token: str  # the bot's installation-style token (all four write permissions)
    tmp: Path


def git(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | GIT_ENV
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def push_branch(
    emu: GitHubEmulator, repo: str, branch: str, files: dict[str, str], workdir: Path, message: str = "Change"
) -> str:
    """Clone (or reuse) a working copy, commit ``files`` on ``branch`` and push it with plain git."""
    if not (workdir / ".git").exists():
        git("clone", "-q", emu.git_url(repo), str(workdir), cwd=workdir.parent)
    current = git("rev-parse", "--abbrev-ref", "HEAD", cwd=workdir)
    if current != branch:
        git("checkout", "-q", "-B", branch, cwd=workdir)
    for path, content in files.items():
        target = workdir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", "-A", cwd=workdir)
    git("commit", "-q", "-m", message, cwd=workdir)
    git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=workdir)
    return git("rev-parse", "HEAD", cwd=workdir)


def graphql_checked(emu: GitHubEmulator, token: str, query: str, variables: dict | None = None) -> dict:
    """POST a GraphQL document, check it and the answer against GitHub's schema, return the answer."""
    import requests
    from graphql import parse, validate

    from kodo_bot.sandbox.github_emulator._graphql import github_schema

    answer = requests.post(
        emu.graphql_url,
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"bearer {token}", "User-Agent": "t"},
        timeout=10,
    )
    assert answer.status_code == 200
    body = answer.json()
    if body.get("data") is not None and not validate(github_schema(), parse(query)):
        assert_conforms(github_schema(), query, variables or {}, body["data"])
    return body


def assert_conforms(schema, query: str, variables: dict, data: dict) -> None:
    """The answer has the shape the schema gives the document: re-executed with the answer itself as the
    root (default resolvers read dict keys), graphql-core serialises every leaf through its type."""
    from graphql import execute_sync, parse

    def concrete(value: dict, info, abstract) -> str | None:
        if "__typename" in value:
            return value["__typename"]
        fitting = [t.name for t in schema.get_possible_types(abstract) if set(value) <= set(t.fields)]
        return fitting[0] if fitting else None

    def by_response_key(source, info, **args):  # an aliased field is under its alias in the answer
        return source.get(info.path.key) if isinstance(source, dict) else None

    result = execute_sync(
        schema,
        parse(query),
        root_value=data,
        variable_values=variables,
        type_resolver=concrete,
        field_resolver=by_response_key,
    )
    assert result.errors is None and result.data == data, (result.errors, data)
