"""The cash matching log's own storage: what it keeps at rest."""

from __future__ import annotations

import sqlalchemy as sa

from sync_pipeline.store import matching_log as ml
from sync_pipeline.store.operational import OperationalStore

PAYER = "Jane Whitfield-Oduya"


def test_a_rule_templates_payer_text_is_encrypted_at_rest_and_in_its_audit_event(tmp_path):
    store = OperationalStore(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    log = ml.MatchingLog(store)
    params = {"payer_contains": PAYER, "contact_id": "C-1"}
    tid = log.add_template("her receipts", "payer_alias", params, actor="admin")

    assert log.template(tid)["params"] == params
    with store.engine.connect() as c:
        stored = [str(v) for row in c.execute(sa.text("SELECT * FROM cash_rule_templates")) for v in row]
        audited = [str(v) for row in c.execute(sa.text("SELECT subject, detail FROM audit_events")) for v in row]
    assert stored and audited
    assert not [v for v in stored + audited if PAYER.lower() in v.lower()]
