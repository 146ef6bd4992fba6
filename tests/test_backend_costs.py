"""Cost per backend and per agent: who was paid (Claude, Codex, Gemini, Cursor), in which bucket, as the
ledger keeps it, a checkpoint carries it (old ones included), and the summary comment and the report show it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kodo_bot.engine import events as ev
from kodo_bot.engine.ledger import Ledger
from kodo_bot.engine.models import AgentResult, Outcome, Usage
from kodo_bot.engine.state import RunSettings, RunState, RunStore
from kodo_bot.engine.team import default_team
from kodo_bot.github.render import render_accepted
from kodo_bot.report import cost_lines, render_report


def mixed_ledger() -> Ledger:
    """A run of the mixed team: a Gemini API orchestrator, Claude Code and Codex workers, a Gemini CLI and a
    Cursor verifier. Codex and the Gemini CLI run on API keys; Claude Code and Cursor on their plans."""
    ledger = Ledger()
    ledger.add("orchestrator", "api", 0.02, Usage(input_tokens=900, output_tokens=100), provider="Gemini")
    calls = [
        ("worker_smart", "claude_code", "subscription", 0.75),
        ("worker_fast", "codex", "api", 0.25),
        ("worker_fast", "codex", "api", 0.5),
        ("verifier/reviewer", "gemini_cli", "api", 0.01),
        ("verifier/tester", "cursor", "subscription", 0.0),
    ]
    for who, backend, billing, usd in calls:
        result = AgentResult(agent=who, cost_usd=usd, billing=billing, usage=Usage(input_tokens=1000, output_tokens=10))
        ledger.charge(who, result, backend)
    return ledger


def mixed_run(**fields) -> RunState:
    return RunState(
        run_id="r1",
        created_at=datetime.now(UTC),
        goal="g",
        goal_title="g",
        project="/p",
        worktree="/w",
        branch="kodo/x",
        base_sha="0" * 40,
        settings=RunSettings(team=default_team()),
        ledger=mixed_ledger(),
        **fields,
    )


def test_each_entry_knows_its_provider_and_per_token_agents_count_in_the_api_bucket():
    report = mixed_ledger().report()
    assert {who: (c.provider, c.bucket, c.calls) for who, c in report.by_agent.items()} == {
        "orchestrator": ("Gemini", "api", 1),
        "worker_smart": ("Claude", "subscription", 1),
        "worker_fast": ("Codex", "api", 2),
        "verifier/reviewer": ("Gemini", "api", 1),
        "verifier/tester": ("Cursor", "subscription", 1),
    }
    # what --max-cost-usd limits: the orchestrator and the agents on API keys, not the plans
    assert report.api_usd == 0.78 and report.subscription_usd == 0.75
    assert [(c.provider, c.bucket, round(c.usd, 4), c.calls) for c in report.by_provider()] == [
        ("Claude", "subscription", 0.75, 1),
        ("Codex", "api", 0.75, 2),
        ("Gemini", "api", 0.03, 2),  # the orchestrator and the reviewer: one provider, one bucket
        ("Cursor", "subscription", 0.0, 1),
    ]


def test_a_checkpoint_carries_the_providers_and_one_saved_before_them_still_loads(tmp_path):
    store = RunStore(tmp_path)
    state = mixed_run(completed_calls={"c1": AgentResult(agent="worker_fast", cost_usd=0.25, billing="api")})
    store.save(state)
    path = store.run_dir("r1") / "state.json"
    assert store.load("r1").ledger == state.ledger and store.load("r1").completed_calls == state.completed_calls
    saved = json.loads(path.read_text())
    for entry in saved["ledger"]["entries"].values():
        del entry["provider"]
    del saved["completed_calls"]["c1"]["billing"]
    path.write_text(json.dumps(saved))
    old = store.load("r1")
    assert old.ledger.entries["worker_fast"].provider == "" and old.completed_calls["c1"].billing == "subscription"
    assert "    worker_fast              unknown  api          $0.7500  2 calls  2020 tokens" in render_report(old, [])


def test_the_report_and_the_summary_comment_show_cost_per_backend_and_per_agent():
    cost = mixed_ledger().report()
    assert cost_lines(cost) == [
        "Cost:",
        "  API (you pay per token; what --max-cost-usd limits): $0.7800",
        "  subscription (your CLIs' plans):                      $0.7500",
        "  by backend:",
        "    Claude   subscription $0.7500  1 calls  1010 tokens",
        "    Codex    api          $0.7500  2 calls  2020 tokens",
        "    Gemini   api          $0.0300  2 calls  2010 tokens",
        "    Cursor   subscription $0.0000  1 calls  1010 tokens",
        "  by agent:",
        "    orchestrator             Gemini   api          $0.0200  1 calls  1000 tokens",
        "    verifier/reviewer        Gemini   api          $0.0100  1 calls  1010 tokens",
        "    verifier/tester          Cursor   subscription $0.0000  1 calls  1010 tokens",
        "    worker_fast              Codex    api          $0.7500  2 calls  2020 tokens",
        "    worker_smart             Claude   subscription $0.7500  1 calls  1010 tokens",
    ]
    finished = ev.RunFinished(
        run_id="r1", outcome=Outcome.accepted, reason="", cycles=1, rounds=1, cost=cost, duration_s=1, branch="b"
    )
    body = render_accepted(finished)
    assert "<summary>Cost by backend and agent (4 backends, 5 agents)</summary>" in body
    assert "| Codex | api | 2 | 2,000 / 20 | \\$0.75 |" in body
    assert "| Gemini | api | 2 | 1,900 / 110 | \\$0.03 |" in body
    assert "| worker\\_fast | Codex | api | 2 | 2,000 / 20 | \\$0.75 |" in body
    assert "| verifier/tester | Cursor | subscription | 1 | 1,000 / 10 | \\$0.00 |" in body


def test_the_morning_report_shows_cost_per_backend():
    from kodo_bot.morning import render_morning_report

    text = render_morning_report(mixed_run(), [])
    assert "- per backend: Claude \\$0.75 (subscription), Codex \\$0.75 (api), Gemini \\$0.03 (api)" in text
