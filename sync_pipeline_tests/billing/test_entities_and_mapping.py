"""Cleaned entities (standard names, merge proposals applied only once accepted) and mapping errors."""

from decimal import Decimal as D

import pytest
import yaml

from sync_pipeline.contracts.mapping import MappingError, load_mapping
from sync_pipeline.domain.entities import merge_proposals, standardize_name
from sync_pipeline.services import billing
from sync_pipeline_tests.billing.helpers import bill, entity, entry, raw_frame


def test_names_are_standardized_before_matching():
    assert standardize_name("Acme Corp.") == "acme"
    assert standardize_name("ACME  Corporation Ltd") == "acme"
    assert standardize_name("Müller & Söhne GmbH") == "muller and sohne"
    assert standardize_name("The Company") == "the company"  # nothing but legal words: keep them


def test_duplicates_become_scored_proposals_not_merges():
    records = {"1": "Acme Corp", "7": "ACME Corporation Ltd", "2": "Globex GmbH", "9": "Globex Data"}
    props = merge_proposals(records, threshold=90)
    assert [(p.keep_id, p.duplicate_id, p.score) for p in props] == [("1", "7", 100.0)]
    assert props[0].how_to_accept == "add '7' to aliases of the client with source_id '1' in the mapping"
    # "globex" vs "globex data": token_sort_ratio = 2 x 6 / (6 + 11) = 70.59: proposed only at a lower threshold
    assert [(p.keep_id, p.duplicate_id, p.score) for p in merge_proposals(records, threshold=70)] == [
        ("1", "7", 100.0), ("2", "9", 70.59)]
    # once accepted (an alias in the mapping) the pair is not proposed again
    assert merge_proposals(records, threshold=90, accepted=[("1", "7")]) == []


def test_an_accepted_merge_bills_both_source_ids_as_one_client():
    rows = [entry("a", client="1", client_name="Acme Corp", hours="2"),
            entry("b", client="7", client_name="ACME Corporation Ltd", hours="1")]
    before = billing.merge_proposals(raw_frame(rows), entity())
    assert list(before[["kind", "keep_id", "duplicate_id", "score"]].itertuples(index=False, name=None)) == [
        ("client", "1", "7", 100.0)]
    # not accepted yet: two invoices
    assert sorted(bill(rows, entity()).invoices()) == ["1", "7"]
    # accepted: the mapping lists 7 as an alias of 1 → one invoice for the canonical client, 3 h x 100
    ent = entity(clients=[{"source_id": "1", "name": "Acme Corp", "aliases": ["7"]}])
    b = bill(rows, ent)
    assert sorted(b.invoices()) == ["1"]
    assert b.lines("1") == [(D("3.0000"), D("100.0000"), D("300.00"))]
    assert dict(zip(b.clean["entry_id"], b.clean["source_client_id"], strict=True)) == {"a": "1", "b": "7"}
    assert set(b.clean["client_name"]) == {"Acme Corp"}
    assert billing.merge_proposals(raw_frame(rows), ent).empty


def _load(tmp_path, entity_doc):
    p = tmp_path / "mapping.yaml"
    base = {"key": "acme-uk", "name": "Acme", "timezone": "Europe/London", "base_currency": "GBP",
            "harvest_account_id": "1", "xero_tenant_id": "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"}
    p.write_text(yaml.safe_dump({"version": 2, "entities": [{**base, **entity_doc}]}), encoding="utf-8")
    return load_mapping(p)


@pytest.mark.parametrize("doc, expected", [
    ({"clients": [{"source_id": "1", "currency": "GBX"}]},
     "entities.0.clients.0.currency: unknown currency 'GBX'; use an ISO 4217 code"),
    ({"rate_cards": [{"user": "2", "rate": "100"}]},
     "entities.0.rate_cards.0: a user rate applies on a project: add 'project'"),
    ({"rate_cards": [{"project": "11", "rate": "100"}, {"project": "11", "rate": "110", "valid_from": "2026-10-16"}]},
     "entities.0.rate_cards.1: overlaps rate_cards.0 (project 11 from 2026-10-16 to 9999-12-31): end one card"),
    ({"clients": [{"source_id": "1"}], "projects": [{"source_id": "11", "client": "9"}]},
     "entities.0.projects.0.client: client '9' is not a canonical source_id in clients; use one of ['1']"),
    ({"rounding": {"increment_minute": 15}},
     "entities.0.rounding.increment_minute: unknown key: remove it or check its spelling"),
    ({"projects": [{"source_id": "11", "billing": "fixed_fee", "client": "1"}]},
     "entities.0.projects.0: a fixed_fee project is billed by milestones: add milestones"),
    ({"clients": [{"source_id": "1", "jurisdiction": "DE"}]},
     "entities.0.clients.0.jurisdiction: 'DE' has no entry in tax.codes; add tax.codes.DE"),
    ({"harvest_account_id": None},
     "harvest_account_id: required when source is harvest (the Harvest-Account-Id header of the account); "
     "set it, or set source: redmine or csv"),
    ({"source": "jira"}, "entities.0.source: Input should be 'harvest', 'redmine' or 'csv'"),
])
def test_a_bad_mapping_names_the_key_and_the_fix(tmp_path, doc, expected):
    with pytest.raises(MappingError) as e:
        _load(tmp_path, doc)
    assert expected in str(e.value), str(e.value)


def test_the_example_mapping_loads():
    from sync_pipeline.defs.settings import mapping_path

    m = load_mapping(mapping_path())
    ent = m.entity("acme-uk")
    assert ent.client("2").currency == "EUR" and ent.rate_cards[0].level == "project"
