"""Sessions with agent backends. Today: Claude Code through claude-agent-sdk (``ClaudeSession``)."""
