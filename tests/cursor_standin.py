#!/usr/bin/env python3
"""A stand-in for Cursor's ``cursor-agent``, which cannot be installed here: it replays recorded
``--output-format stream-json`` streams (``tests/cursor_streams/*.jsonl``, in Cursor's documented format).

Which streams, in order, one per invocation: ``CURSOR_STANDIN_PLAY`` (comma-separated paths). ``$SESSION``
in a stream becomes the chat id: a new one, or the one ``--resume`` names, which must exist (as the real
CLI's chat store under ``~/.cursor/chats``). Lines starting ``#!`` act instead of printing: ``#!sleep N``,
``#!exit N message`` (the message to stderr), ``#!sh COMMAND`` (run in its folder: what a tool did),
``#!burst N`` (the next N lines in one write: a CLI that went on before its events were read). Every
invocation's arguments, and the project files with rules or settings it could read in its folder, go to
``~/standin-calls.jsonl``.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

if "--version" in sys.argv:
    print("2026.11.20-standin")
    sys.exit(0)
if "--help" in sys.argv:  # the options of the real CLI's reference that kodo-bot uses
    print("Usage: cursor-agent [options] [prompt]\n  -p, --print")
    print("  --output-format <format>  text | json | stream-json\n  --resume [chatId]")
    print("  -f, --force\n  --model <model>")
    sys.exit(0)
home = Path(os.environ["HOME"])
args = sys.argv[1:]
#: project files the real CLI takes rules or settings from: what of them this process can read is recorded
PROJECT = ("AGENTS.md", "sub/AGENTS.md", "CLAUDE.md", ".cursorrules", ".cursor/rules/planted.mdc", ".cursor/cli.json")
saw = {rel: Path(rel).read_text() for rel in PROJECT if Path(rel).is_file() and Path(rel).read_text()}
with (home / "standin-calls.jsonl").open("a") as calls:
    calls.write(json.dumps({"args": args, "key_set": bool(os.environ.get("CURSOR_API_KEY")), "saw": saw}) + "\n")
chats = home / ".cursor" / "chats" / "standin"
if "--resume" in args:
    session = args[args.index("--resume") + 1]
    if not (chats / session).is_dir():
        print(f"Error: no chat {session}", file=sys.stderr)
        sys.exit(1)
else:
    session = str(uuid.uuid4())
    (chats / session).mkdir(parents=True)
counter = home / "standin-count"
played = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(played + 1))
stream = os.environ["CURSOR_STANDIN_PLAY"].split(",")[played]
held: list[str] = []  # lines of a burst, written at once
burst = 0
for line in Path(stream).read_text().splitlines():
    if line.startswith("#!sleep "):
        time.sleep(float(line.split()[1]))
    elif line.startswith("#!exit "):
        _, code, *message = line.split(" ")
        print(" ".join(message), file=sys.stderr, flush=True)
        sys.exit(int(code))
    elif line.startswith("#!sh "):
        subprocess.run(line.removeprefix("#!sh "), shell=True, check=True)
    elif line.startswith("#!burst "):
        burst = int(line.split()[1])
    elif line.strip():
        held.append(line.replace("$SESSION", session).replace("$KEY", os.environ.get("CURSOR_API_KEY", "")))
        burst = max(0, burst - 1)
        if not burst:
            sys.stdout.write("".join(f"{event}\n" for event in held))
            sys.stdout.flush()
            held.clear()
