"""The mapping document refuses what would bill nonsense, and every error names the key and says the fix."""

from __future__ import annotations

import pytest
import yaml

from sync_pipeline.contracts.mapping import MappingError, load_mapping

TENANT = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"


def _load(tmp_path, **entity):
    doc = {"key": "acme-uk", "name": "Acme", "timezone": "Europe/London", "base_currency": "GBP",
           "harvest_account_id": "1", "xero_tenant_id": TENANT, **entity}
    p = tmp_path / "mapping.yaml"
    p.write_text(yaml.safe_dump({"version": 2, "entities": [doc]}), encoding="utf-8")
    return load_mapping(p)


def _problems(tmp_path, **entity) -> str:
    with pytest.raises(MappingError) as e:
        _load(tmp_path, **entity)
    return str(e.value)


@pytest.mark.parametrize(("entity", "expected"), [
    ({"rate_cards": [{"rate": "1e30"}]},
     "entities.0.rate_cards.0.rate: 1E+30 is above the highest rate this entity allows (10000 GBP); correct the "
     "rate, or raise rate_limits.max"),
    ({"rate_cards": [{"project": "11", "rate": "250", "currency": "JPY"}, {"rate": "2000000", "currency": "JPY"}]},
     "entities.0.rate_cards.1.rate: 2000000 is above the highest rate this entity allows (1000000 JPY)"),
    ({"clients": [{"source_id": "1", "currency": "GBP"}], "rate_cards": [{"client": "1", "rate": "100",
                                                                           "currency": "USD"}]},
     "entities.0.rate_cards.0.currency: 'USD' is not the currency of client '1' (GBP); use GBP or leave currency "
     "out"),
    ({"clients": [{"source_id": "1", "currency": "EUR"}], "projects": [{"source_id": "11", "client": "1"}],
      "rate_cards": [{"project": "11", "rate": "100", "currency": "GBP"}]},
     "entities.0.rate_cards.0.currency: 'GBP' is not the currency of client '1' (EUR) of project '11'"),
    ({"xero_tenant_id": "t"},
     "entities.0.xero_tenant_id: 't' is not a Xero tenant id (a UUID such as 3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41)"),
    ({"target": "sage"},
     "entities.0.target: Input should be 'xero' or 'qbo' (got 'sage'): use one of them"),
    ({"xero_tenant_id": None},
     "xero_tenant_id: required when target is xero (the organisation's tenantId from GET "
     "https://api.xero.com/connections); set it, or set target: qbo"),
    ({"payment_terms_days": "thirty"},
     "entities.0.payment_terms_days: 'thirty' is not a whole number: write one, e.g. 30"),
    ({"rate_cards": [{"rate": "abc"}]},
     "entities.0.rate_cards.0.rate: 'abc' is not a number: write one, quoted to keep it exact, e.g. '120.50'"),
    ({"require_approval": "perhaps"},
     "entities.0.require_approval: 'perhaps' is not true or false: write true or false"),
    ({"locked_through": "last month"},
     "entities.0.locked_through: 'last month' is not a date: write YYYY-MM-DD, e.g. 2026-10-31"),
    ({"clients": {"source_id": "1"}},
     "entities.0.clients: {'source_id': '1'} is not a list: write one item per line, each starting with '- '"),
    ({"rounding": "15 minutes"},
     "entities.0.rounding: '15 minutes' is not a mapping of keys: write key: value pairs (see docs/mapping.md)"),
    ({"max_hours_per_day": "0"},
     "entities.0.max_hours_per_day: Input should be greater than 0 (got '0'): change the value"),
])
def test_a_bad_mapping_names_the_key_and_says_the_fix(tmp_path, entity, expected):
    problems = _problems(tmp_path, **entity)
    assert expected in problems, problems


def test_rate_limits_are_configurable_and_card_currencies_may_match_their_client(tmp_path):
    m = _load(tmp_path, rate_limits={"max": "50000", "currencies": {"JPY": "9000000"}},
              clients=[{"source_id": "1", "currency": "USD"}], projects=[{"source_id": "11", "client": "1"}],
              rate_cards=[{"rate": "40000"}, {"client": "1", "rate": "150", "currency": "USD"},
                          {"project": "11", "rate": "160"}, {"task": "5", "rate": "8000000", "currency": "JPY"}])
    assert [c.rate for c in m.entity("acme-uk").rate_cards] == [40000, 150, 160, 8000000]
    assert "entities.0.rate_limits.currencies.JPY: Input should be greater than 0 (got '0'): change the value" in \
        _problems(tmp_path, rate_limits={"currencies": {"JPY": "0"}})


def test_the_example_mapping_keeps_to_the_rules():
    from sync_pipeline.defs.settings import mapping_path

    assert load_mapping(mapping_path()).entities


def test_the_accounting_target_defaults_to_xero_and_qbo_needs_no_xero_tenant(tmp_path):
    assert _load(tmp_path).entities[0].target == "xero"
    qbo = _load(tmp_path, target="qbo", xero_tenant_id=None,
                qbo={"realm_id": "9130357992233431", "home_currency": "USD"}).entities[0]
    assert qbo.target == "qbo" and qbo.xero_tenant_id is None and qbo.qbo.tax_model == "global"
    assert "qbo: required when target is qbo" in _problems(tmp_path, target="qbo", xero_tenant_id=None)
    assert "realm_id" in _problems(tmp_path, target="qbo", qbo={"realm_id": "not-digits", "home_currency": "USD"})


def test_a_mapping_read_again_unchanged_is_the_same_validated_object_and_any_edit_is_read(tmp_path):
    """Every step of a run loads the mapping: the same bytes are validated once per process; an edit, even one
    of the same length written in the same instant, is validated afresh (and refused when wrong)."""
    first = _load(tmp_path, name="Acme")
    assert load_mapping(tmp_path / "mapping.yaml") is first
    edited = _load(tmp_path, name="Acme")  # same bytes rewritten: still the same object
    assert edited is first
    renamed = _load(tmp_path, name="Acmf")  # same size, other content
    assert renamed.entities[0].name == "Acmf" and renamed is not first
    assert "timezone" in _problems(tmp_path, timezone="Mars/Olympus")
