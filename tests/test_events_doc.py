"""docs/events.md documents every event type and its fields; this keeps the two in step."""

import re
from pathlib import Path
from typing import get_args

from kodo_bot.engine import events as ev

DOC = Path(__file__).parent.parent / "docs" / "events.md"
COMMON = {"type", "run_id", "seq", "at"}


def documented() -> dict[str, set[str]]:
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", DOC.read_text(), re.MULTILINE)
    return {name: {f.strip() for f in fields.split(",")} for name, fields in rows if name not in COMMON}


def test_every_event_type_and_field_is_documented():
    classes = get_args(get_args(ev.Event)[0])
    in_code = {c.model_fields["type"].default: set(c.model_fields) - COMMON for c in classes}
    assert documented() == in_code
