"""kodo-bot: a team of Claude Code agents turns a goal into verified, committed work.

The engine (``kodo_bot.engine``) knows nothing of GitHub; ``kodo_bot.github`` is a trigger source and an
event sink around it; ``kodo_bot.sandbox`` holds the fakes (scripted model server, GitHub emulator) that
tests, the demo and users' rehearsals share.
"""

from kodo_bot.errors import (
    AgentError,
    BudgetExhausted,
    ConfigError,
    GitHubError,
    KodoError,
    ModelAPIError,
    UserError,
)

__version__ = "0.1.0"

#: the library's front: imported on first use, so ``import kodo_bot`` stays instant and pulls in no SDK
_LAZY = {
    "run": "kodo_bot.api",
    "resume": "kodo_bot.api",
    "RunResult": "kodo_bot.api",
    "Team": "kodo_bot.engine.team",
    "Agent": "kodo_bot.engine.team",
    "Outcome": "kodo_bot.engine.models",
    "ApiOrchestrator": "kodo_bot.orchestrators.anthropic",
    "ClaudeSession": "kodo_bot.agents.claude",
    "ClaudeSessionFactory": "kodo_bot.agents.claude",
    "Script": "kodo_bot.sandbox.scripted",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'kodo_bot' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    *_LAZY,
    "AgentError",
    "BudgetExhausted",
    "ConfigError",
    "GitHubError",
    "KodoError",
    "ModelAPIError",
    "UserError",
    "__version__",
]
