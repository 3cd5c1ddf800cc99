"""Signed exports of the audit trail: an auditor's file checks alone, and the store is checked against it."""

from __future__ import annotations

import json

import pytest

from sync_pipeline.services.audit_export import AuditKeyError, export, signing_key, verify_export
from sync_pipeline.store import audit
from sync_pipeline.store.operational import OperationalStore

KEY = b"an-auditor-key-of-32-bytes-long!"


@pytest.fixture
def store(tmp_path):
    s = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    for i in range(4):
        audit.append(s, actor="alice", action="posting_paused", entity="acme-uk", detail={"i": i})
    audit.record_access(s, actor="bob", what="dlq_show", subject="#1")
    yield s
    s.dispose()


def lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def write(path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_an_export_holds_every_event_and_a_signed_digest_per_stream(store, tmp_path):
    out = tmp_path / "audit.jsonl"
    summary = export(store, out, key=KEY, actor="carol")
    recs = lines(out)
    events = [r for r in recs if r["record"] == "event"]
    digests = {r["stream"]: r for r in recs if r["record"] == "digest"}
    assert [(e["stream"], e["seq"]) for e in events] == [("decisions", i) for i in range(1, 5)] + [
        ("access", 1), ("access", 2)]  # the export's own access record is in it
    assert events[-1]["action"] == "audit_export" and events[-1]["actor"] == "carol"
    assert digests["decisions"]["count"] == 4 and digests["decisions"]["head_hash"] == events[3]["hash"]
    assert digests["access"]["algorithm"] == "HMAC-SHA256" and len(summary.digests) == 2
    assert KEY.decode() not in out.read_text() and KEY.hex() not in out.read_text()
    assert verify_export(out, key=KEY) == []
    assert verify_export(out, key=KEY, store=store) == []


def test_a_changed_or_removed_line_in_an_export_is_named(store, tmp_path):
    out = tmp_path / "audit.jsonl"
    export(store, out, key=KEY, actor="carol")
    recs = lines(out)
    recs[1]["actor"] = "admin"
    write(tmp_path / "edited.jsonl", recs)
    assert [(p.stream, p.seq, p.kind) for p in verify_export(tmp_path / "edited.jsonl", key=KEY)] == [
        ("decisions", 2, "modified")]
    recs = lines(out)
    del recs[3]  # the last decision: the chain alone cannot tell, the signed digest can
    write(tmp_path / "cut.jsonl", recs)
    problems = verify_export(tmp_path / "cut.jsonl", key=KEY)
    assert {p.kind for p in problems} == {"digest"} and any("count = 4" in p.message for p in problems)


def test_a_forged_digest_or_the_wrong_key_is_refused(store, tmp_path):
    out = tmp_path / "audit.jsonl"
    export(store, out, key=KEY, actor="carol")
    recs = lines(out)
    recs[-1]["to"] = "2099-01-01T00:00:00+00:00"
    write(tmp_path / "forged.jsonl", recs)
    assert "altered" in str(verify_export(tmp_path / "forged.jsonl", key=KEY))
    assert "use the key the export was signed with" in str(verify_export(out, key=b"x" * 32))


def test_the_store_is_checked_against_an_earlier_export(store, tmp_path):
    out = tmp_path / "audit.jsonl"
    export(store, out, key=KEY, actor="carol")
    second = audit.events(store)[1]
    t, h = audit.audit_events, audit.audit_heads
    with store.engine.begin() as c:  # an owner who bypassed the trigger cut the last two decisions, head moved
        c.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        c.execute(t.delete().where(t.c.stream == "decisions", t.c.seq >= 3))
        c.execute(h.update().where(h.c.stream == "decisions").values(seq=2, hash=second.hash))
    assert audit.verify(store, ["decisions"]) == []  # a clean cut, head moved: only the export can tell
    problems = verify_export(out, key=KEY, store=store)
    assert [(p.seq, p.kind) for p in problems] == [(3, "missing"), (4, "missing")]


def test_the_signing_key_comes_from_the_environment_or_a_file(tmp_path):
    assert signing_key({"SYNC_PIPELINE_AUDIT_KEY": "k" * 32}) == b"k" * 32
    (tmp_path / "key").write_bytes(b"f" * 40 + b"\n")
    assert signing_key({"SYNC_PIPELINE_AUDIT_KEY_FILE": str(tmp_path / "key")}) == b"f" * 40
    with pytest.raises(AuditKeyError, match="set SYNC_PIPELINE_AUDIT_KEY"):
        signing_key({})
    with pytest.raises(AuditKeyError, match="too short: 5 bytes") as e:
        signing_key({"SYNC_PIPELINE_AUDIT_KEY": "short"})
    assert "short" not in str(e.value).replace("too short", "")
