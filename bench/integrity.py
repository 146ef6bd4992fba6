"""The planted-defect suite: do cheating verifiers get a defect accepted, or honest ones get correct work failed?

    .venv/bin/python bench/integrity.py [--quick] [--case SUBSTRING] [--markdown FILE]

Every case (``kodo_bot/sandbox/integrity.py``) is a whole run through the real engine, the real Claude Code
CLI and the scripted model server, in a project with and without a ``.gitignore``, checked three ways:
``configured`` (``--check``), ``detected`` (no check given: the engine runs the project's test command) and
``verifiers`` (``--no-default-check``: the verifiers' evidence alone). Prints one line per case and the
false accepts and false rejects per column. Target: 0 and 0 everywhere. ``--quick`` runs only the
``verifiers`` column (the one the engine's own check does not shield). About 5 s per run on two cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kodo_bot.sandbox.integrity import CHECKINGS, cases, run_case


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="only the verifiers-alone column")
    parser.add_argument("--case", default="", help="only cases whose name contains this")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    args = parser.parse_args()

    checkings = ("verifiers",) if args.quick else CHECKINGS
    columns = [(gitignore, checking) for gitignore in (True, False) for checking in checkings]
    selected = [c for c in cases() if args.case in c.name]
    started = time.monotonic()
    rows, totals = [], {col: [0, 0] for col in columns}
    for case in selected:
        cells = []
        for gitignore, checking in columns:
            r = run_case(case, gitignore=gitignore, checking=checking)
            leaked = [f for f in r.committed if "__pycache__" in f or f.startswith(".venv/")]
            mark = "FALSE ACCEPT" if r.false_accept else "FALSE REJECT" if r.false_reject else r.decided
            if leaked:
                mark += f" (+{len(leaked)} build files committed)"
            totals[(gitignore, checking)][0] += r.false_accept
            totals[(gitignore, checking)][1] += r.false_reject or bool(leaked)
            cells.append(mark)
            print(
                f"{case.name:<44} {'.gitignore' if gitignore else 'no .gitignore':<13} {checking:<10} "
                f"{mark:<13} {r.why[:150]}",
                flush=True,
            )
        rows.append((case, cells))

    header = ["case", "truth", *(f"{c} / {'.gitignore' if g else 'none'}" for g, c in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        f"| {case.name.replace('|', chr(92) + '|')} | {case.truth} | " + " | ".join(cells) + " |"
        for case, cells in rows
    ]
    total_cells = " | ".join(f"**{a} / {r}**" for a, r in totals.values())
    lines.append(f"| **false accepts / false rejects** | | {total_cells} |")
    print()
    print("\n".join(lines))
    print(f"\n{len(selected)} cases x {len(columns)} variants in {time.monotonic() - started:.0f} s")
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 1 if any(a or r for a, r in totals.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
