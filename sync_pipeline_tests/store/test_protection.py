"""Encryption at rest: field tokens, pseudonyms and per-person keys, rotation that keeps every record readable."""

import hashlib
import hmac

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.store import audit
from sync_pipeline.store.keys import KeyUnavailable, provider_from_env
from sync_pipeline.store.matching_log import MatchingLog, cash_decisions
from sync_pipeline.store.operational import OperationalStore, sync_ledger
from sync_pipeline.store.protection import (
    PersonErased,
    Protector,
    _unb64,
    is_token,
    person_identities,
    person_keys,
    protector,
    token_key,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("protection")
    s = OperationalStore(f"sqlite:///{folder / 'op.sqlite3'}")  # keys: the session's keyring (conftest)
    yield s
    s.dispose()


@given(st.text())
def test_any_text_round_trips_and_is_bound_to_its_column(store, text):
    p = protector(store)
    token = p.encrypt_field(text, "sync_ledger.payload")
    assert is_token(token) and p.decrypt_field(token, "sync_ledger.payload") == text
    with pytest.raises(KeyUnavailable, match="does not decrypt"):
        p.decrypt_field(token, "cash_decisions.payer_name")


def test_plaintext_from_before_encryption_passes_through_and_a_flipped_byte_is_caught(store):
    p = protector(store)
    assert p.decrypt_field("written before encryption", "sync_ledger.payload") == "written before encryption"
    assert p.encrypt_field(None, "x.y") is None
    token = p.encrypt_field("Carol Chen", "sync_ledger.payload")
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(KeyUnavailable):
        p.decrypt_field(flipped, "sync_ledger.payload")


def _pending(store, key: str, payload: str) -> None:
    store.record_pending(invoice_key=key, entity="e1", period="2026-10", client_id="c1", revision=1,
                         reference=f"REF-{key}", payload_hash="h", idempotency_key=f"i-{key}", triggered_by="test",
                         payload=payload)


def _raw_payloads(store) -> dict[str, str]:
    with store.engine.connect() as c:
        return dict(c.execute(sa.select(sync_ledger.c.invoice_key, sync_ledger.c.payload)).all())


def test_ledger_payload_is_encrypted_at_rest_and_read_in_clear(store):
    _pending(store, "k-clear", '{"lines": [{"approved_by": "Carol Chen (3)"}]}')
    assert "Carol" not in _raw_payloads(store)["k-clear"]
    assert "Carol Chen (3)" in store.ledger_entry("k-clear")["payload"]
    assert store.ledger_for("e1", "2026-10")[0]["payload"].startswith('{"lines"')


def test_cash_payer_names_are_encrypted_and_still_searchable(store):
    log = MatchingLog(store)
    log.record(entity="e1", period="2026-10", run_id="r1", actor="test", model=None, decisions=[{
        "line_id": "L1", "outcome": "exception", "rule": "none", "confidence": 0.0, "line_amount_minor": 100,
        "line_currency": "GBP", "payer_name": "Bob Baker", "description": "REF Bob", "reason": "no match"}])
    with store.engine.connect() as c:
        raw = c.execute(sa.select(cash_decisions.c.payer_name, cash_decisions.c.description)).all()
    assert raw and all("Bob" not in v for row in raw for v in row)
    found = log.decisions(entity="e1", text="baker")
    assert [d["payer_name"] for d in found] == ["Bob Baker"]


def test_a_person_is_a_stable_pseudonym_until_their_key_is_destroyed(store):
    p = protector(store)
    pid = p.person_pseudonym("harvest", "3", name="Carol Chen", email="carol@acme.example")
    assert pid == p.person_pseudonym("harvest", "3") == p.pseudonym_of("harvest", "3") != p.pseudonym_of("harvest", "4")
    assert pid.startswith("P-") and "Carol" not in pid
    assert p.identity(pid)["name"] == "Carol Chen" and p.identity(pid)["email"] == "carol@acme.example"
    notes = p.encrypt_for_person(pid, "call with Carol's doctor", "raw_time_entries.notes")
    assert p.decrypt_field(notes, "raw_time_entries.notes") == "call with Carol's doctor"

    assert p.destroy_person_key(pid, actor="dpo") is True
    assert p.identity(pid) is None
    fresh = Protector(store.engine, p.provider)  # another process: nothing cached
    with pytest.raises(PersonErased, match="erased"):
        fresh.decrypt_field(notes, "raw_time_entries.notes")
    assert fresh.identity(pid) is None and p.destroy_person_key(pid, actor="dpo") is False
    assert any(e.action == "person_key_destroyed" and e.subject == pid for e in audit.events(store))


def test_people_made_in_one_batch_each_get_their_own_key_and_every_value_a_fresh_nonce(store):
    p = protector(store)
    batch = [("harvest", f"b{i}", f"Batch Person {i}", f"b{i}@acme.example" if i % 2 else None) for i in range(50)]
    pids = p.people(batch)
    # a pseudonym is HMAC-SHA256 of "source|id" under the pseudonym key (docs/data-protection.md)
    assert pids == ["P-" + hmac.new(p._pkey(), f"harvest|b{i}".encode(), hashlib.sha256).hexdigest()[:20]
                    for i in range(50)]
    with store.engine.connect() as c:
        keys = c.execute(sa.select(person_keys).where(person_keys.c.pseudonym.in_(pids))).mappings().all()
        ids = c.execute(sa.select(person_identities).where(person_identities.c.pseudonym.in_(pids))).mappings().all()
    unwrapped = {k["pseudonym"]: p.provider.unwrap(k["kek_id"], _unb64(k["wrapped"]), f"person_key:{k['pseudonym']}")
                 for k in keys}
    assert len(unwrapped) == 50 and len(set(unwrapped.values())) == 50 and {len(k) for k in unwrapped.values()} == {32}
    tokens = [r[c] for r in ids for c in ("source_person_id", "name", "email") if r[c] is not None]
    assert len(tokens) == 50 + 50 + 25 and all(token_key(t) in unwrapped for t in tokens)
    nonces = [_unb64(t.rsplit(":", 1)[1])[:12] for t in tokens]
    assert len(set(nonces)) == len(nonces)  # never a nonce twice, within a key or across keys
    for i, pid in enumerate(pids):
        who = Protector(store.engine, p.provider).identity(pid)  # read back with nothing cached
        assert (who["source_person_id"], who["name"], who["email"]) == batch[i][1:]


def test_rotation_mid_way_keeps_every_record_readable_and_reencrypt_moves_everything(tmp_path):
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")  # its own: counts below are exact
    p = protector(store)
    before = {f"r{i}": f'{{"n": {i}, "who": "Alice Archer"}}' for i in range(5)}
    for k, v in list(before.items())[:3]:
        _pending(store, k, v)
    with store.engine.begin() as c:  # a row written before encryption existed
        c.execute(sync_ledger.update().where(sync_ledger.c.invoice_key == "r0").values(payload=before["r0"]))
    old_field, old_master = p.current_field_key(), p.provider.current_key_id()
    pid = p.person_pseudonym("harvest", "1", name="Alice Archer")

    rotated = p.rotate(actor="ops")  # mid-way: later writes use the new keys, earlier ones still read
    for k, v in list(before.items())[3:]:
        _pending(store, k, v)
    assert rotated["field_key"] != old_field and rotated["master_key"] != old_master
    assert {k: store.ledger_entry(k)["payload"] for k in before} == before
    assert token_key(_raw_payloads(store)["r4"]) == rotated["field_key"]
    assert p.status()["pending"] > 0

    counts = p.reencrypt(actor="ops")
    # r0 in clear from before encryption, r1 and r2 under the old key; r3 and r4 already under the new one
    assert counts["values_reencrypted"] == 3 and counts["person_keys_rewrapped"] >= 1
    raw = _raw_payloads(store)
    assert all(token_key(v) == rotated["field_key"] for v in raw.values())
    fresh = Protector(store.engine, provider_from_env())  # a new process reads with the new keys
    assert {k: fresh.decrypt_field(raw[k], "sync_ledger.payload") for k in before} == before
    assert fresh.identity(pid)["name"] == "Alice Archer"
    status = fresh.status()
    assert status["pending"] == 0 and status["people"]["wrapped_by_old_master_key"] == 0
    assert {a.action for a in audit.events(store)} >= {"keys_rotated", "keys_reencrypted"}
    store.dispose()
