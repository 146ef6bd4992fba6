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

__all__ = [
    "AgentError",
    "BudgetExhausted",
    "ConfigError",
    "GitHubError",
    "KodoError",
    "ModelAPIError",
    "UserError",
    "__version__",
]
