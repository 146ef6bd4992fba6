"""Which environment variables are secrets: the policy agents, checks and logs are scrubbed by.

Pure and shared: the engine checks a team's ``agent_env`` against it, the agent backends scrub with it, the
composition root collects the values to mask. It reads no environment itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Credentials the CLI itself authenticates with; kept although they look secret. CLAUDE_CODE_OAUTH_TOKEN is
#: a subscription login; ANTHROPIC_API_KEY is the pay-per-token key (and, offline, the placeholder the
#: scripted server accepts); ANTHROPIC_AUTH_TOKEN is the bearer token gateways and proxies use.
CLI_CREDENTIALS = frozenset({"CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"})

#: GitHub Actions' runtime credentials: they let a job upload artifacts, use the cache and mint OIDC
#: tokens. The URLs are not secret by themselves but are useless without the tokens and name the runner.
_ACTIONS = frozenset(
    {
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_RUNTIME_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_RESULTS_URL",
        "ACTIONS_CACHE_URL",
    }
)

#: Secrets whose names the word rule below would miss, or that deserve saying out loud. SSH_AUTH_SOCK is
#: not a secret but a capability: it lets anything in the job sign with the keys loaded in ssh-agent.
_NAMED = frozenset(
    {
        "GH_TOKEN",
        "GITHUB_TOKEN",
        "GH_ENTERPRISE_TOKEN",
        "GITHUB_ENTERPRISE_TOKEN",
        "PGPASSWORD",
        "SSHPASS",
        "SSH_AUTH_SOCK",
    }
)

# A word of the name (between underscores, or at either end) that marks a secret. Whole words, so that
# CLAUDE_CODE_MAX_OUTPUT_TOKENS or KEYBOARD_LAYOUT are left alone while NPM_TOKEN, DB_PASSWORD,
# OPENAI_API_KEY, AWS_SECRET_ACCESS_KEY and ACTIONS_ID_TOKEN_REQUEST_TOKEN are caught.
_SECRET_WORDS = re.compile(
    r"(?:^|_)(?:TOKEN|SECRETS?|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|"
    r"CREDENTIALS?|PAT)(?:_|$)"
)


def is_secret_name(name: str) -> bool:
    """Whether an inherited variable of this name must not reach an agent (the CLI's credentials aside).

    Secret: GitHub tokens (``GITHUB_TOKEN``, ``GH_TOKEN``, ``GITHUB_PAT*``), GitHub Actions' runtime
    credentials, the ssh-agent socket, every ``KODO_*`` variable (kodo-bot's configuration, including the
    orchestrator's key, is none of an agent's business), and any name with a word such as TOKEN, SECRET,
    PASSWORD or API_KEY.
    """
    upper = name.upper()
    if upper in CLI_CREDENTIALS:
        return False
    return (
        upper in _ACTIONS
        or upper in _NAMED
        or upper.startswith(("GITHUB_PAT", "KODO_"))
        or bool(_SECRET_WORDS.search(upper))
    )


def secret_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values in ``env`` that are credentials, for masking wherever text is written or posted.

    Narrower than ``is_secret_name``, which also keeps configuration (``KODO_*``), runtime URLs and the
    ssh-agent socket from agents: those values are paths and addresses, and masking them would garble logs.
    Here: the CLI's own credentials, GitHub tokens and every name with a secret word (TOKEN, API_KEY ...).
    """
    return tuple(
        value
        for name, value in env.items()
        if value
        and (
            name.upper() in CLI_CREDENTIALS
            or name.upper() in _NAMED - {"SSH_AUTH_SOCK"}
            or name.upper().startswith("GITHUB_PAT")
            or bool(_SECRET_WORDS.search(name.upper()))
        )
    )
