"""Identity keys and references: derived from business facts only, stable across runs, distinct for distinct facts."""

import hashlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sync_pipeline.domain import ids

# fixtures (computed once at import: the assertions on these functions call them inside the tests)
KEY = ids.invoice_key("acme-uk", "42", "2026-10")
REF = ids.invoice_reference("acme-uk", "42", "2026-10")

text = st.text(st.characters(codec="utf-8", exclude_characters="\x1f"), min_size=1, max_size=12)
periods = st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(2000, 2099), st.integers(1, 12))
invoice_facts = st.tuples(text, text, periods, st.sampled_from(["client", "project"]), st.integers(1, 50))


def test_keys_are_stable_across_runs_and_releases():
    # the keys of documents already posted: a change here would post everything again
    assert ids.invoice_key("acme-uk", "42", "2026-10") == "inv_b826931364df165f"
    assert ids.invoice_key("acme-uk", "42", "2026-10", "project", 2) == "inv_1fd68bcabe8190b9"
    assert ids.line_key(["b", "a"]) == "line_f04cdced9736a69d"
    assert ids.revision_key(KEY, 2) == "inv_db9ff373c23eb6d8"
    assert ids.credit_note_key(KEY, 1) == "cn_1a7875a0f165503e"


def test_invoice_key_defaults_are_the_client_grouping_and_first_revision():
    assert KEY == ids.invoice_key("acme-uk", "42", "2026-10", "client", 1)
    assert ids.invoice_key("acme-uk", 42, "2026-10") == KEY  # a numeric client id is its text


@given(invoice_facts, st.integers(0, 4), st.data())
def test_invoice_keys_of_facts_differing_in_one_field_differ(facts, field, data):
    other = list(facts)
    other[field] = data.draw({0: text, 1: text, 2: periods, 3: st.sampled_from(["client", "project"]),
                              4: st.integers(1, 50)}[field])
    assume(other[field] != facts[field])
    assert ids.invoice_key(*facts) != ids.invoice_key(*other)


@given(invoice_facts, invoice_facts)
def test_invoice_keys_are_injective(a, b):
    assert (ids.invoice_key(*a) == ids.invoice_key(*b)) == (a == b)


def test_line_key_names_a_set_of_entries_in_any_order():
    assert ids.line_key(["3", "1", "2"]) == ids.line_key(("1", "2", "3")) == ids.line_key([2, 3, 1])
    assert ids.line_key(["1", "2"]) != ids.line_key(["1", "2", "3"]) != ids.line_key(["12", "3"])
    assert ids.line_key(["1"]).startswith("line_") and len(ids.line_key(["1"])) == len("line_") + 16


@given(st.sets(text, min_size=1, max_size=5), st.sets(text, min_size=1, max_size=5))
def test_line_keys_are_injective_over_entry_sets(a, b):
    assert (ids.line_key(a) == ids.line_key(b)) == (a == b)


def test_revision_one_is_the_base_key_later_revisions_derive_from_it():
    assert ids.revision_key(KEY, 1) == KEY
    assert ids.revision_key(KEY, 2) != ids.revision_key(KEY, 3) != KEY
    assert ids.revision_key(KEY, 2) != ids.revision_key(ids.invoice_key("acme-uk", "43", "2026-10"), 2)
    assert ids.revision_key(KEY, 2).startswith("inv_")
    with pytest.raises(ValueError, match=r"^revision must be >= 1, got 0$"):
        ids.revision_key(KEY, 0)


def test_credit_note_keys_differ_per_invoice_and_per_number():
    other = ids.invoice_key("acme-uk", "42", "2026-11")
    assert ids.credit_note_key(KEY, 1) != ids.credit_note_key(KEY, 2)
    assert ids.credit_note_key(KEY, 1) != ids.credit_note_key(other, 1)
    assert ids.credit_note_key(KEY, 1).startswith("cn_")


def test_references_name_entity_period_client_revision_and_credit_note():
    assert ids.invoice_reference("acme-uk", "42", "2026-10") == "SP-acme-uk-2026-10-C42-R1"
    assert ids.invoice_reference("acme-uk", "42", "2026-10", 3) == "SP-acme-uk-2026-10-C42-R3"
    assert ids.reference_prefix("acme-uk", "2026-10") == "SP-acme-uk-2026-10-"
    assert REF.startswith(ids.reference_prefix("acme-uk", "2026-10"))
    assert ids.revision_reference(REF, 2) == "SP-acme-uk-2026-10-C42-R2"
    assert ids.credit_note_reference(REF, 2) == "SP-acme-uk-2026-10-C42-R1-CN2"
    assert ids.line_reference("line_ab") == "ref line_ab"
    assert ids.contact_number("harvest", "42") == "HARVEST-42"
    assert ids.payload_hash(b"{}") == hashlib.sha256(b"{}").hexdigest()


@pytest.mark.parametrize("ref", ["SP-acme-uk-2026-10-C42-R2", "SP-acme-uk-2026-10-C42-R1-CN1", "nonsense",
                                 "SP-acme-uk-2026-10-C42-R10"])
def test_only_a_first_revision_reference_has_later_revisions(ref):
    with pytest.raises(ValueError, match=rf"^not the reference of a first revision: '{ref}'$"):
        ids.revision_reference(ref, 3)


def test_parse_reference_reads_back_every_part():
    assert ids.parse_reference("SP-acme-uk-2026-10-C42-R3") == {
        "entity": "acme-uk", "period": "2026-10", "client_id": "42", "revision": 3, "credit_note": None}
    assert ids.parse_reference("SP-acme-uk-2026-10-C4-2-R1-CN12") == {
        "entity": "acme-uk", "period": "2026-10", "client_id": "4-2", "revision": 1, "credit_note": 12}


@pytest.mark.parametrize("ref", ["", None, "XX-acme-2026-10-C1-R1", "SP-acme-2026-10-C1", "SP-acme-2026-10-C1-R1x",
                                 "SP-acme-26-10-C1-R1", "sp-acme-2026-10-C1-R1", "INV-0042"])
def test_parse_reference_refuses_what_is_not_ours(ref):
    assert ids.parse_reference(ref) is None


@given(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), st.from_regex(r"[0-9A-Za-z]{1,6}", fullmatch=True),
       periods, st.integers(1, 99), st.none() | st.integers(1, 99))
def test_references_round_trip_through_parse_reference(entity, client, period, revision, credit):
    ref = ids.invoice_reference(entity, client, period, revision)
    if credit:
        ref = ids.credit_note_reference(ref, credit)
    assert ids.parse_reference(ref) == {"entity": entity, "period": period, "client_id": client,
                                        "revision": revision, "credit_note": credit}
