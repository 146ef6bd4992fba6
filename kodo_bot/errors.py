"""One exception tree, split by who is to blame.

    KodoError
    ├── UserError            the person running kodo-bot can fix it (bad flag, bad file, dirty tree)
    │   └── ConfigError      a team file, kodo.yml or scenario is invalid (names the field)
    ├── ModelAPIError        the orchestrator's model API refused or kept failing
    │   └── ModelAuthError   401/403: a key is missing or wrong; retrying cannot help
    ├── AgentError           an agent backend could not run (CLI missing, crashed, timed out)
    ├── GitHubError          GitHub refused or kept failing (names the missing permission)
    └── BudgetExhausted      a configured budget ran out (an outcome, raised only inside the loop)

A verifier's rejection is *not* an exception: it is an ordinary value (``Verdict``). Exceptions abort;
entry points catch ``KodoError`` once and report which phase failed.
"""

from __future__ import annotations


class KodoError(Exception):
    """Base of every error kodo-bot raises on purpose."""

    #: what the user can do about it, printed under the message
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class UserError(KodoError):
    """Something the person running kodo-bot can fix: a flag, a path, a file, the state of their repo."""


class ConfigError(UserError):
    """A configuration file (team, kodo.yml, scenario) is invalid; the message names the field."""


class ModelAPIError(KodoError):
    """The orchestrator's model API failed in a way retrying did not fix; the run stays resumable."""


class ModelAuthError(ModelAPIError):
    """The model API answered 401 or 403: the key is missing, wrong or lacks access."""


class AgentError(KodoError):
    """An agent backend could not run: the CLI is missing, crashed, or timed out."""


class GitHubError(KodoError):
    """GitHub refused a request or kept failing after retries."""


class BudgetExhausted(KodoError):
    """A configured budget (API spend, wall time) ran out. Used inside the loop; surfaces as an outcome."""
