"""Posting's operational-store tables on SQLite and on the real PostgreSQL server."""

from decimal import Decimal

import pytest

from sync_pipeline.store.controls import PostingControls
from sync_pipeline.store.dead_letters import DeadLetters
from sync_pipeline.store.posted_lines import PostedLines


def test_kill_switch_and_limits(any_store):
    ctl = PostingControls(any_store)
    assert ctl.get("e").posting_enabled and not ctl.get("e").has_limits
    with pytest.raises(ValueError, match="say why"):
        ctl.pause("e", reason=" ", actor="alice")
    ctl.pause("e", reason="audit", actor="alice")
    ctl.set_limits("e", actor="bob", max_invoices=10, max_total_minor={"GBP": 100_000_00})
    ctl.set_limits("e", actor="bob", max_total_minor={"EUR": 5_00})
    c = ctl.get("e")
    assert (c.posting_enabled, c.reason, c.max_invoices, c.max_total_minor, c.changed_by) == (
        False, "audit", 10, {"GBP": 100_000_00, "EUR": 5_00}, "bob")
    ctl.resume("e", actor="carol")
    assert ctl.get("e").posting_enabled and ctl.get("e").max_invoices == 10
    ctl.set_limits("e", actor="carol", clear=True)
    assert not ctl.get("e").has_limits
    assert [a["action"] for a in any_store.audit_entries("e")] == [
        "posting_paused", "posting_limits_set", "posting_limits_set", "posting_resumed", "posting_limits_set"]


def test_dead_letters_keep_attempts_and_close_once(any_store):
    dl = DeadLetters(any_store)
    kw = dict(entity="e", period="2026-10", doc_key="inv_1", kind="invoice", operation="create_invoice",
              payload={"Total": Decimal("10.50")}, payload_hash="h1", reference="SP-e-2026-10-C1-R1",
              source_records={"lines": [{"source_entry_ids": ["1", "2"]}]})
    first = dl.park(error="currency not enabled", run_id="r1", **kw)
    assert dl.park(error="currency not enabled", run_id="r2", **kw) == first  # same write: one more attempt
    [x] = dl.open_for("e")
    assert [a["run_id"] for a in x["attempts"]] == ["r1", "r2"] and x["payload"] == {"Total": Decimal("10.50")}
    assert dl.held_keys("e", "2026-10") == {("inv_1", "h1"): first}
    # the source changed: a new payload supersedes the open letter
    second = dl.park(error="still not enabled", **{**kw, "payload_hash": "h2"})
    assert second != first and dl.get(first)["status"] == "superseded"
    assert dl.resolve("inv_1", "replayed", "posted as INV-9") == [second]
    assert dl.get(second)["status"] == "replayed" and dl.open_for("e") == []
    third = dl.park(error="x", **{**kw, "doc_key": "inv_2"})
    dl.discard(third, "billed by hand", "alice")
    with pytest.raises(LookupError):
        dl.discard(third, "again", "alice")
    assert dl.counts("e") == {"superseded": 1, "replayed": 1, "discarded": 1}


def test_posted_lines_map_entries_both_ways(any_store):
    pl = PostedLines(any_store)
    line = {"fingerprint": "f1", "description": "Web — Dev (ref line_a)", "quantity": Decimal("3.0"),
            "unit_amount": Decimal("100"), "amount_minor": 30000, "line_key": "line_a",
            "source_entry_ids": ["1002", "1003"], "approved_by": "Dana"}
    with any_store.engine.begin() as c:
        pl.record(c, entity="e", period="2026-10", doc_key="inv_1", kind="invoice", reference="SP-e-2026-10-C1-R1",
                  currency="GBP", lines=[line])
    [row] = pl.for_partition("e", "2026-10")
    assert (row["quantity"], row["source_entry_ids"], row["approved_by"]) == ("3.0", "1002,1003", "Dana")
    assert [d["reference"] for d in pl.documents_of_entry("e", "1003")] == ["SP-e-2026-10-C1-R1"]
    with any_store.engine.begin() as c:  # same content, other entries (one deleted, one added)
        pl.reattribute(c, entity="e", doc_key="inv_1", fingerprint="f1", source_entry_ids=["1002", "1009"])
    assert pl.documents_of_entry("e", "1003") == [] and len(pl.documents_of_entry("e", "1009")) == 1
    assert {r["entry_id"] for r in pl.unmarked("e", "2026-10")} == {"1002", "1009"}
    pl.mark("e", ["1002"])
    assert {r["entry_id"] for r in pl.unmarked("e", "2026-10")} == {"1009"}
    with any_store.engine.begin() as c:  # a rewrite (draft update) replaces what the document holds
        pl.record(c, entity="e", period="2026-10", doc_key="inv_1", kind="invoice", reference="SP-e-2026-10-C1-R1",
                  currency="GBP", lines=[])
    assert pl.for_partition("e", "2026-10") == [] and pl.documents_of_entry("e", "1002") == []


def test_a_store_from_an_older_release_gains_the_new_columns(tmp_path):
    import sqlalchemy as sa

    from sync_pipeline.store.operational import OperationalStore

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = sa.create_engine(url)
    with engine.begin() as c:  # the walking skeleton's ledger
        c.execute(sa.text("CREATE TABLE sync_ledger (invoice_key VARCHAR(64) PRIMARY KEY, entity VARCHAR(64) NOT NULL, "
                          "period VARCHAR(7) NOT NULL, client_id VARCHAR(64) NOT NULL, revision INTEGER NOT NULL, "
                          "reference VARCHAR(255) NOT NULL UNIQUE, status VARCHAR(32) NOT NULL, target_id VARCHAR(64), "
                          "target_number VARCHAR(64), payload_hash VARCHAR(64), idempotency_key VARCHAR(128), "
                          "triggered_by VARCHAR(255), created_at VARCHAR(40) NOT NULL, updated_at VARCHAR(40) NOT NULL)"))
        c.execute(sa.text("INSERT INTO sync_ledger VALUES ('inv_1', 'e', '2026-10', '1', 1, 'SP-e-2026-10-C1-R1', "
                          "'posted', 'x', 'INV-1', 'h', 'k', 'demo', 't', 't')"))
    engine.dispose()
    store = OperationalStore(url)
    row = store.ledger_entry("inv_1")
    assert row["status"] == "posted" and row["kind"] is None and "group_key" in row
    store.record_pending(invoice_key="inv_2", entity="e", period="2026-10", client_id="2", revision=1,
                         reference="SP-e-2026-10-C2-R1", payload_hash="h", idempotency_key="k", triggered_by="t",
                         kind="invoice", group_key="inv_2")
    assert store.ledger_entry("inv_2")["group_key"] == "inv_2"
    store.dispose()
