"""Reading files a person wrote by hand (team files, scenarios, settings), with errors they can act on."""

from __future__ import annotations

from pathlib import Path

from kodo_bot.errors import ConfigError


def read_config_text(path: Path, what: str) -> str:
    """The file's text, or a ``ConfigError`` saying why it cannot be had (``what``: "team file" ...)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc}") from exc
