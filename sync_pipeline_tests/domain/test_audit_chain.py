"""The hash chain and signed digests: any edit, deletion or move of an event is found and named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.domain.audit_chain import (
    GENESIS,
    canonical_json,
    check_digest,
    digest_of,
    event_hash,
    key_id,
    sign_digest,
    verify_chain,
)


def chain(n: int, stream: str = "decisions", ids: list[str] | None = None) -> list[dict]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        ev = {"stream": stream, "seq": i, "event_id": ids[i - 1] if ids else f"ev{i}", "at": f"2026-12-01T00:00:{i:02d}+00:00",
              "actor": "alice", "action": "posting_paused", "entity": "acme-uk", "subject": f"s{i}",
              "detail": canonical_json({"n": i, "amount": "12.50"}), "prev_hash": prev}
        ev["hash"] = prev = event_hash(ev)
        out.append(ev)
    return out


def kinds(events: list[dict]) -> list[tuple[int | None, str]]:
    return [(p.seq, p.kind) for p in verify_chain("decisions", events)]


def test_an_intact_chain_has_no_problem():
    assert kinds(chain(5)) == []
    assert kinds([]) == []


def test_the_hash_covers_every_field_and_the_link():
    ev = chain(1)[0]
    for field in ("stream", "seq", "event_id", "at", "actor", "action", "entity", "subject", "detail", "prev_hash"):
        assert event_hash({**ev, field: "x"}) != ev["hash"], field


def test_a_modified_event_is_named():
    evs = chain(5)
    evs[2] = {**evs[2], "actor": "admin"}
    problems = list(verify_chain("decisions", evs))
    assert [(p.seq, p.event_id, p.kind) for p in problems] == [(3, "ev3", "modified")]
    assert "decisions seq 3 (event ev3): modified" in str(problems[0])


def test_a_modified_and_rehashed_event_breaks_the_next_link():
    evs = chain(5)
    evs[2] = {**evs[2], "actor": "admin"}
    evs[2]["hash"] = event_hash(evs[2])
    assert kinds(evs) == [(4, "broken_link")]


def test_a_deleted_event_is_named_by_its_sequence_number():
    evs = chain(5)
    del evs[1]
    problems = list(verify_chain("decisions", evs))
    assert [(p.seq, p.kind) for p in problems] == [(3, "missing")]
    assert "seq 2 deleted" in problems[0].message


def test_swapped_events_are_reported_as_reordered():
    evs = chain(5)
    # the rows of seq 2 and 3 exchange their content (each keeps its sequence number): as a store reads them
    evs[1], evs[2] = {**evs[2], "seq": 2}, {**evs[1], "seq": 3}
    problems = list(verify_chain("decisions", evs))
    assert {(p.seq, p.kind) for p in problems} >= {(2, "modified"), (3, "modified"), (2, "reordered"),
                                                   (3, "reordered")}
    assert all(p.kind != "broken_link" for p in problems)
    assert any("ev3" in str(p) and "reordered" in str(p) for p in problems)


def test_out_of_order_sequence_numbers_are_reported():
    evs = chain(4)
    evs[1], evs[2] = evs[2], evs[1]  # an unsorted read: seq 3 before seq 2
    found = kinds(evs)
    assert (2, "reordered") in found


@given(st.integers(2, 12), st.data())
def test_any_single_tampering_is_found(n, data):
    evs = chain(n)
    i = data.draw(st.integers(0, n - 1))
    how = data.draw(st.sampled_from(["edit", "delete", "swap"]))
    if how == "edit":
        field = data.draw(st.sampled_from(["actor", "action", "entity", "subject", "detail", "at", "event_id"]))
        evs[i] = {**evs[i], field: evs[i][field] + "!"}
    elif how == "delete":
        if i == n - 1:  # the tail: only the head record (or a signed digest) can tell; see the store's verify
            i = 0
        del evs[i]
    else:
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        evs[i], evs[j] = evs[j], evs[i]
    assert kinds(evs), (how, i)


def test_a_partial_export_is_anchored_on_its_first_link():
    evs = chain(6)[3:]
    assert list(verify_chain("decisions", evs, start_seq=4, start_prev=evs[0]["prev_hash"])) == []


def test_signed_digest_round_trip_and_tampering():
    evs = chain(3)
    d = digest_of("decisions", evs)
    assert (d["count"], d["first_seq"], d["last_seq"], d["head_hash"]) == (3, 1, 3, evs[-1]["hash"])
    assert (d["from"], d["to"]) == (evs[0]["at"], evs[-1]["at"])
    signed = sign_digest(d, b"k" * 32)
    assert check_digest(signed, b"k" * 32) is None
    assert "count" not in signed["signature"] and (b"k" * 32).hex() not in canonical_json(signed)
    assert "altered" in check_digest({**signed, "count": 2}, b"k" * 32)
    assert "use the key the export was signed with" in check_digest(signed, b"other-key")


@pytest.mark.parametrize("value", [{"b": 1, "a": [1, 2]}, {"é": "ü"}])
def test_canonical_json_is_one_spelling(value):
    assert canonical_json(value) == canonical_json(dict(reversed(list(value.items()))))


# -- the rules, spelled out: the hash, each problem's message, the signed digest -------------------------------
def test_canonical_json_sorts_keys_drops_spaces_keeps_non_ascii_and_writes_the_rest_as_text():
    from decimal import Decimal

    value = {"b": 1, "a": "é", "d": Decimal("1.50"), "c": [1, {"y": 2, "x": None}]}
    assert canonical_json(value) == '{"a":"é","b":1,"c":[1,{"x":null,"y":2}],"d":"1.50"}'


def test_the_hash_is_sha256_of_the_hashed_fields_only_missing_ones_as_null():
    import hashlib

    ev = {"stream": "s", "seq": 1, "event_id": "e", "at": "t", "actor": "a", "action": "x", "entity": "n",
          "subject": "u", "detail": "{}", "prev_hash": GENESIS, "hash": "ignored", "extra": "ignored"}
    assert event_hash(ev) == "2524b37cbf1894d80f31cdd0a33922f3c11217d2738c9f174e55e173a959bef9"
    body = {k: v for k, v in ev.items() if k not in ("hash", "extra")}
    assert event_hash(ev) == hashlib.sha256(canonical_json(body).encode()).hexdigest()
    no_subject = {k: v for k, v in ev.items() if k != "subject"}
    assert event_hash(no_subject) == hashlib.sha256(
        canonical_json({**body, "subject": None}).encode()).hexdigest()
    assert GENESIS == "0" * 64 and chain(1)[0]["prev_hash"] == GENESIS


def test_a_problem_reads_stream_seq_event_kind_and_message():
    from sync_pipeline.domain.audit_chain import ChainProblem

    assert str(ChainProblem("decisions", 3, "ev3", "modified", "m")) == "decisions seq 3 (event ev3): modified: m"
    assert str(ChainProblem("decisions", None, "ev3", "absent", "m")) == "decisions (event ev3): absent: m"
    assert str(ChainProblem("decisions", 0, None, "missing", "m")) == "decisions seq 0: missing: m"
    assert str(ChainProblem("decisions", 3, "", "missing", "m")) == "decisions seq 3: missing: m"


def test_a_modified_event_says_which_hash_was_stored_and_which_its_content_gives():
    evs = chain(3)
    evs[1] = {**evs[1], "subject": "changed"}
    [p] = verify_chain("decisions", evs)
    assert (p.stream, p.seq, p.event_id, p.kind) == ("decisions", 2, "ev2", "modified")
    assert p.message == (f"its content no longer matches its hash (stored {evs[1]['hash'][:12]}…, content gives "
                         f"{event_hash(evs[1])[:12]}…): a field was changed after it was written")


def test_one_deleted_event_and_a_run_of_deleted_events_are_named_by_their_sequence_numbers():
    evs = chain(7)
    [one] = verify_chain("decisions", evs[:1] + evs[2:])
    assert (one.seq, one.event_id, one.kind) == (3, "ev3", "missing")
    assert one.message == "seq 2 deleted: seq 3 follows seq 1"
    [run] = verify_chain("decisions", evs[:2] + evs[5:])
    assert (run.seq, run.event_id, run.kind) == (6, "ev6", "missing")
    assert run.message == "seq 3 to 5 deleted: seq 6 follows seq 2"
    [head] = verify_chain("decisions", evs[1:])
    assert (head.seq, head.message) == (2, "seq 1 deleted: seq 2 follows seq 0")


def test_a_gap_then_an_intact_rest_reports_only_the_gap():
    evs = chain(6)
    problems = list(verify_chain("decisions", evs[:2] + evs[3:]))
    assert [(p.seq, p.kind) for p in problems] == [(4, "missing")]


def test_a_repeated_sequence_number_is_reordered_and_named():
    evs = chain(3)
    problems = list(verify_chain("decisions", evs + [evs[2]]))
    assert problems[0].seq == 3 and problems[0].kind == "reordered"
    assert problems[0].message == "seq 3 comes after seq 3 (repeated or out of order)"


def test_an_event_read_late_is_reordered_naming_the_event_it_was_written_after():
    evs = chain(5)
    moved = evs[:1] + evs[2:4] + [evs[1]] + evs[4:]  # ev2 read after ev4, each keeping its own seq
    assert [str(p) for p in verify_chain("decisions", moved)] == [
        "decisions seq 3 (event ev3): missing: seq 2 deleted: seq 3 follows seq 1",
        "decisions seq 2 (event ev2): reordered: seq 2 comes after seq 4 (repeated or out of order)",
        "decisions seq 2 (event ev2): reordered: it was written after the event now at seq 1 (ev1), but follows seq 4",
        "decisions seq 5 (event ev5): reordered: it was written after the event now at seq 4 (ev4), but follows seq 2",
    ]


def test_a_swap_names_both_events_and_where_each_was_written():
    evs = chain(4)
    swapped = [evs[0], {**evs[2], "seq": 2}, {**evs[1], "seq": 3}, evs[3]]
    problems = [str(p) for p in verify_chain("decisions", swapped) if p.kind != "modified"]
    assert problems == [
        "decisions seq 3 (event ev2): reordered: it was written after the event now at seq 1 (ev1), but follows seq 2",
        "decisions seq 2 (event ev3): reordered: it was written after the event now at seq 3 (ev2), but follows seq 1",
        "decisions seq 4 (event ev4): reordered: it was written after the event now at seq 2 (ev3), but follows seq 3",
    ]


def test_a_rewritten_predecessor_leaves_a_broken_link_named_on_the_event_after_it():
    evs = chain(5)
    evs[1] = {**evs[1], "detail": "{}"}
    evs[1]["hash"] = event_hash(evs[1])
    evs[3] = {**evs[3], "detail": "{}"}
    evs[3]["hash"] = event_hash(evs[3])
    problems = list(verify_chain("decisions", evs))
    assert [(p.seq, p.event_id, p.kind) for p in problems] == [(3, "ev3", "broken_link"), (5, "ev5", "broken_link")]
    assert problems[0].message == ("its prev_hash is no event's hash: the event before it was rewritten "
                                   "(and re-hashed) or removed")
    assert all(p.stream == "decisions" for p in problems)


def test_the_chain_is_checked_from_the_given_start():
    evs = chain(6)
    assert kinds(evs[3:]) != []  # from seq 1 and GENESIS: seq 1-3 missing
    assert [(p.seq, p.kind) for p in verify_chain("decisions", evs[3:], start_seq=4)] == [(4, "broken_link")]
    assert list(verify_chain("decisions", evs[3:], start_seq=4, start_prev=evs[2]["hash"])) == []
    [p] = verify_chain("decisions", evs[3:], start_seq=3, start_prev=evs[2]["hash"])
    assert (p.seq, p.message) == (4, "seq 3 deleted: seq 4 follows seq 2")


def test_a_move_farther_than_the_remembered_hashes_is_a_broken_link(monkeypatch):
    from sync_pipeline.domain import audit_chain

    evs = chain(6)
    moved = [evs[0], evs[2], evs[3], evs[4], {**evs[1], "seq": 6}]  # ev2 read last, far from ev1
    monkeypatch.setattr(audit_chain, "RECENT", 2)
    far = [(p.seq, p.kind) for p in verify_chain("decisions", moved)]
    monkeypatch.setattr(audit_chain, "RECENT", 5)
    near = [(p.seq, p.kind) for p in verify_chain("decisions", moved)]
    assert (6, "broken_link") in far and (6, "broken_link") not in near
    assert (6, "reordered") in near
    monkeypatch.setattr(audit_chain, "RECENT", 4)  # exactly as many as the events read before it: still known
    assert (6, "reordered") in [(p.seq, p.kind) for p in verify_chain("decisions", moved)]


def test_the_digest_commits_to_count_sequence_and_time_range_first_link_and_head():
    evs = chain(4)[1:]
    evs[0] = {**evs[0], "at": "2026-12-01T00:00:09+00:00"}  # times need not follow seq
    assert digest_of("decisions", evs) == {
        "stream": "decisions", "count": 3, "first_seq": 2, "last_seq": 4, "first_prev_hash": evs[0]["prev_hash"],
        "head_hash": evs[-1]["hash"], "from": "2026-12-01T00:00:03+00:00", "to": "2026-12-01T00:00:09+00:00"}
    assert digest_of("decisions", []) == {
        "stream": "decisions", "count": 0, "first_seq": None, "last_seq": None, "first_prev_hash": None,
        "head_hash": None, "from": None, "to": None}


def test_a_digest_is_signed_with_hmac_sha256_over_its_canonical_json_and_names_the_key():
    import hashlib
    import hmac

    key = b"k" * 32
    assert key_id(key) == "12df00e418b6cd26"
    assert key_id(key) == hashlib.sha256(b"sync_pipeline audit key\x00" + key).hexdigest()[:16]
    signed = sign_digest({"a": 1, "signature": "old"}, key)
    body = {"a": 1, "algorithm": "HMAC-SHA256", "key_id": "12df00e418b6cd26"}
    assert signed == {**body, "signature": "f1e32367d39ebc281d9ec74edc57315e3283f97f25bc6a6486578db6300c8408"}
    assert signed["signature"] == hmac.new(key, canonical_json(body).encode(), hashlib.sha256).hexdigest()
    assert check_digest(signed, key) is None


def test_each_wrong_signature_is_told_apart():
    key = b"k" * 32
    signed = sign_digest(digest_of("decisions", chain(2)), key)
    assert check_digest({**signed, "algorithm": "MD5"}, key) == (
        "unknown signature algorithm 'MD5' (expected HMAC-SHA256)")
    assert check_digest({k: v for k, v in signed.items() if k != "algorithm"}, key) == (
        "unknown signature algorithm None (expected HMAC-SHA256)")
    assert check_digest(signed, b"other") == (
        f"signed with key 12df00e418b6cd26, but the key given is {key_id(b'other')}: "
        "use the key the export was signed with")
    altered = "the signature does not match the digest: the digest (or the signature) was altered"
    assert check_digest({**signed, "count": 3}, key) == altered
    assert check_digest({**signed, "signature": signed["signature"][:-1] + "0"}, key) == altered
    assert check_digest({k: v for k, v in signed.items() if k != "signature"}, key) == altered



def test_broken_links_are_reported_in_sequence_order_then_in_reading_order():
    def rewritten(ev: dict, **kw) -> dict:
        ev = {**ev, **kw}
        return {**ev, "hash": event_hash(ev)}

    evs = chain(5, ids=["e1", "e2", "z3", "e4", "a5"])
    evs[1], evs[3] = rewritten(evs[1], detail="{}"), rewritten(evs[3], detail="{}")
    assert [(p.seq, p.event_id, p.kind) for p in verify_chain("decisions", evs)] == [
        (3, "z3", "broken_link"), (5, "a5", "broken_link")]
    evs = chain(2)
    twice = [evs[0], evs[1], rewritten(evs[1], event_id="z", prev_hash="1" * 64),
             rewritten(evs[1], event_id="a", prev_hash="2" * 64)]  # seq 2 read three times, two rewritten
    assert [(p.event_id, p.kind) for p in verify_chain("decisions", twice) if p.kind == "broken_link"] == [
        ("z", "broken_link"), ("a", "broken_link")]
