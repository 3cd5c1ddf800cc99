"""``sync-pipeline keys`` status / rotate / reencrypt as an admin: rotation mid-way, every record still readable."""

from __future__ import annotations

import json

import pandas as pd

from sync_pipeline.cli import main
from sync_pipeline.services.pseudonymize import seal_frame
from sync_pipeline.store.keys import FileKeyProvider
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.protection import Protector, token_key
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline_tests.identity import sign_in


def _pending(store: OperationalStore, key: str) -> None:
    store.record_pending(invoice_key=key, entity="e1", period="2026-10", client_id="c1", revision=1,
                         reference=f"REF-{key}", payload_hash="h", idempotency_key=f"i-{key}", triggered_by="t",
                         payload=f'{{"doc": "{key}"}}')


def test_rotate_then_reencrypt_from_the_cli(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    monkeypatch.setenv("SYNC_PIPELINE_KEYS", f"file:{tmp_path / 'keys' / 'keyring.json'}")
    sign_in(monkeypatch, url, "ada", "admin")
    store = OperationalStore(url)
    _pending(store, "a")

    assert main(["keys", "rotate"]) == 0
    _pending(store, "b")  # this process still holds the old field key: both decrypt after the rotation
    assert main(["keys", "status"]) == 0
    out = capsys.readouterr().out
    assert "sync_ledger.payload" in out and "(run `sync-pipeline keys reencrypt`)" in out  # both under the old key
    wh = Warehouse(tmp_path / "wh")  # the warehouse's encrypted columns move too
    wh.write("bank_statement_lines", "e1", "2026-10", seal_frame(store, pd.DataFrame(
        {"line_id": ["090:1"], "payer_name": ["Carol Chen"], "description": ["INV-1"]}), "bank_statement_lines"))
    assert main(["keys", "status", "--warehouse", str(wh.root)]) == 0
    assert "bank_statement_lines.payer_name" in capsys.readouterr().out  # the warehouse's columns are pending too
    assert main(["keys", "reencrypt", "--warehouse", str(wh.root)]) == 0
    out = capsys.readouterr().out
    assert "values reencrypted: " in out and "warehouse values reencrypted: 2" in out
    assert main(["keys", "status", "--json", "--warehouse", str(wh.root)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 0
    assert all(set(by) <= {status["field_key"]} for by in status["columns"].values())
    assert status["warehouse_columns"]["bank_statement_lines.payer_name"] == {status["field_key"]: 1}

    fresh = Protector(store.engine, FileKeyProvider(tmp_path / "keys" / "keyring.json"))
    assert [fresh.decrypt_field(store.ledger_entry(k)["payload"], "sync_ledger.payload") for k in "ab"] == [
        '{"doc": "a"}', '{"doc": "b"}']
    with store.engine.connect() as c:
        raw = [r[0] for r in c.exec_driver_sql("SELECT payload FROM sync_ledger")]
    assert {token_key(v) for v in raw} == {status["field_key"]}
    store.dispose()


def test_status_needs_a_signed_in_operator_and_generate_prints_a_key(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    sign_in(monkeypatch, url, "vic", "viewer")
    assert main(["keys", "rotate"]) != 0
    assert main(["keys", "generate"]) == 0
    kid, _, key = capsys.readouterr().out.strip().rpartition("\n")[2].partition(":")
    assert kid and len(key) >= 43
