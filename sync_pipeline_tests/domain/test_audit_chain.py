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
    sign_digest,
    verify_chain,
)


def chain(n: int, stream: str = "decisions") -> list[dict]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        ev = {"stream": stream, "seq": i, "event_id": f"ev{i}", "at": f"2026-12-01T00:00:{i:02d}+00:00",
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
