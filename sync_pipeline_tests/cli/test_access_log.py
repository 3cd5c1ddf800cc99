"""Views of financial data from the CLI land in the audit trail's access stream: who, when, what."""

from __future__ import annotations

from sync_pipeline.cli import build_parser, leaf_commands, main
from sync_pipeline.cli._access_log import VIEWS
from sync_pipeline.domain.access import RULES
from sync_pipeline.store import audit
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.identity import sign_in


def test_every_view_is_a_real_command_with_a_rule():
    actions = {".".join(path) for path, _ in leaf_commands(build_parser())}
    assert set(VIEWS) <= actions and set(VIEWS) <= set(RULES)


def test_dead_letter_and_plan_views_are_recorded(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    monkeypatch.setenv("SYNC_PIPELINE_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.delenv("XERO_CLIENT_ID", raising=False)
    sign_in(monkeypatch, url, "olivia", "operator")
    store = OperationalStore(url)
    letter = DeadLetters(store).park(entity="acme-uk", period="2026-10", doc_key="k1", kind="invoice",
                                     operation="create_invoice", error="ValidationException",
                                     payload={"Total": "120.00"})
    assert main(["dlq", "list", "--entity", "acme-uk"]) == 0
    assert main(["dlq", "show", str(letter)]) == 0
    assert '"Total"' in capsys.readouterr().out
    assert main(["dlq", "show", "999"]) == 2  # asked for, not found: the attempt is on record too
    assert main(["posting", "plan", "--entity", "acme-uk", "--period", "2026-10"]) == 2  # no Xero configured
    assert main(["finance", "versions", "--entity", "acme-uk", "--period", "2026-10"]) == 0
    assert main(["hours", "review", "--entity", "acme-uk", "--period", "2026-10"]) == 2  # nothing billed yet
    got = [(e.actor, e.action, e.entity, e.subject, e.detail["mode"]) for e in audit.events(store, stream="access")]
    assert got == [
        ("olivia", "dlq_list", "acme-uk", "entity=acme-uk status=open", "view"),
        ("olivia", "dead_letter_payload", None, f"id={letter}", "view"),
        ("olivia", "dead_letter_payload", None, "id=999", "view"),
        ("olivia", "posting_plan", "acme-uk", "entity=acme-uk period=2026-10", "view"),
        ("olivia", "finance_allocation_versions", "acme-uk", "entity=acme-uk period=2026-10", "view"),
        ("olivia", "hours_review", "acme-uk", "entity=acme-uk period=2026-10", "view"),
    ]
    assert all(e.at.endswith("+00:00") for e in audit.events(store, stream="access"))
    assert audit.verify(store) == []
    store.dispose()


def test_a_refused_view_is_not_a_view(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    sign_in(monkeypatch, url, "vera", "viewer")
    assert main(["dlq", "show", "1"]) == 2  # viewers may not read payloads
    store = OperationalStore(url)
    assert audit.events(store, stream="access") == []
    store.dispose()
