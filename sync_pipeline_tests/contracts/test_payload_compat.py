"""Payload contracts: every stored example of every version is still readable by every version's consumer."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from sync_pipeline.contracts import payloads
from sync_pipeline.contracts.payloads import TranslationError, model_for, translate

EXAMPLES = Path(__file__).with_name("payload_examples")


def _examples():
    for p in sorted(EXAMPLES.glob("*.json")):
        kind, v = p.stem.rsplit(".v", 1)
        yield pytest.param(kind, int(v), json.loads(p.read_text()), id=p.stem)


def test_every_versioned_kind_has_an_example_per_version():
    have = {(k, v) for k, v, _ in (p.values for p in _examples())}
    for kind in payloads.kinds():
        if len(payloads.versions(kind)) > 1:
            assert {(kind, v) for v in payloads.versions(kind)} <= have, f"store an example of each version of {kind}"


@pytest.mark.parametrize("kind,version,doc", list(_examples()))
def test_examples_validate_and_translate_to_every_version(kind, version, doc):
    model = model_for(kind, version).model_validate(doc)
    for target in payloads.versions(kind):
        out = translate(kind, model, target=target)
        assert out.__payload_version__ == target
        back = translate(kind, out, target=version)
        common = set(model_for(kind, min(version, target)).model_fields)
        # whatever both versions can hold survives the trip there and back (lossy steps refuse, see below)
        assert back.model_dump(include=common) == model.model_dump(include=common), \
            f"{kind} v{version} → v{target} → v{version} must keep the shared fields"
        if target > version:
            assert back == model, f"{kind} v{version} → v{target} → v{version} must round-trip exactly"


def test_invoice_v1_v2_money_is_exact_in_minor_units():
    v1 = json.loads((EXAMPLES / "accounting.invoice.v1.json").read_text())
    v2 = translate("accounting.invoice", v1, source=1, target=2)
    assert v2.lines[0].line_amount_minor == 60500 and v2.lines[0].source_entry_ids == ["1001", "1002"]
    jpy = translate("accounting.invoice", json.loads((EXAMPLES / "accounting.invoice.v2.json").read_text()),
                    source=2, target=1)
    assert jpy.lines[0].line_amount == Decimal("44000")  # JPY has no minor unit


def test_lossy_translations_refuse_instead_of_dropping():
    v2 = json.loads((EXAMPLES / "accounting.invoice.v2.json").read_text())
    v2["lines"][0]["tracking"] = [{"category": "Region", "option": "EMEA"}]
    with pytest.raises(TranslationError, match="tracking"):
        translate("accounting.invoice", v2, source=2, target=1)
    te = json.loads((EXAMPLES / "source.time_entry.v2.json").read_text())
    te["custom_fields"]["sprint"] = "42"
    with pytest.raises(TranslationError, match="sprint"):
        translate("source.time_entry", te, source=2, target=1)
    v1 = json.loads((EXAMPLES / "accounting.invoice.v1.json").read_text())
    v1["lines"][0]["line_amount"] = "605.005"
    with pytest.raises(TranslationError, match="more decimals than GBP"):
        translate("accounting.invoice", v1, source=1, target=2)


def test_floats_are_refused_in_payloads():
    v1 = json.loads((EXAMPLES / "source.time_entry.v1.json").read_text())
    with pytest.raises(ValueError, match="never a binary float"):
        model_for("source.time_entry", 1).model_validate({**v1, "hours": 2.5})


def test_time_entry_v3_holds_every_column_the_harvest_connector_reads():
    """v3 is the ``raw_time_entries`` row: whatever the connector flattens and the warehouse stores fits in it."""
    from sync_pipeline.connectors.harvest import flatten_time_entry
    from sync_pipeline.contracts.warehouse import APPROVAL_STATUSES, RawTimeEntry

    v3 = model_for("source.time_entry", 3)
    assert set(RawTimeEntry.to_schema().columns) <= set(v3.model_fields)
    doc = {"id": 1004, "spent_date": "2026-10-14", "hours": Decimal("3.25"), "billable": True,
           "billable_rate": Decimal("100"), "cost_rate": None, "is_closed": True, "is_billed": True, "notes": "x",
           "updated_at": "2026-10-15T09:30:00Z", "user": {"id": 2, "name": "Bob Baker"},
           "client": {"id": 1, "name": "Acme Corp", "currency": "GBP"}, "project": {"id": 11, "name": "W"},
           "task": {"id": 1, "name": "Dev"}, "x_started_at": "2026-10-14T23:15:00-04:00",
           "x_timezone": "America/New_York", "approval_status": "approved",
           "x_approved_by": {"id": 3, "name": "Carol Chen"}, "x_approved_at": "2026-10-16T09:00:00Z",
           "invoice": {"id": 7, "number": "H-7"}}
    row = flatten_time_entry(doc, "2026-11-01T00:00:00+00:00")
    assert set(row) <= set(v3.model_fields)
    entry = v3.model_validate(row)
    assert (entry.started_at, entry.timezone, entry.approval_status, entry.approved_by, entry.billed_elsewhere) == (
        "2026-10-14T23:15:00-04:00", "America/New_York", "approved", row["approved_by"], "Harvest invoice H-7")
    assert set(v3.model_fields["approval_status"].annotation.__args__[0].__args__) == set(APPROVAL_STATUSES)


def test_time_entry_v3_to_v2_refuses_billed_elsewhere_and_drops_the_rest():
    v3 = json.loads((EXAMPLES / "source.time_entry.v3.json").read_text())
    v2 = translate("source.time_entry", v3, source=3, target=2)
    assert not {"started_at", "approval_status", "approved_by", "billed_elsewhere"} & set(v2.model_dump())
    assert (v2.spent_date, v2.is_closed, v2.seconds) == ("2026-10-14", True, 11700)
    back = translate("source.time_entry", v2, target=3)
    assert back.approval_status is None and back.started_at is None  # v2 → v3 adds them empty
    with pytest.raises(TranslationError, match="billed_elsewhere.*bill the entry again"):
        translate("source.time_entry", {**v3, "billed_elsewhere": "Harvest invoice H-7"}, source=3, target=1)


def test_time_entry_v3_instants_need_their_offset_and_statuses_are_harvests():
    v3 = json.loads((EXAMPLES / "source.time_entry.v3.json").read_text())
    with pytest.raises(ValueError, match="no UTC offset"):
        model_for("source.time_entry", 3).model_validate({**v3, "started_at": "2026-10-14T23:15:00"})
    with pytest.raises(ValueError, match="approval_status"):
        model_for("source.time_entry", 3).model_validate({**v3, "approval_status": "rejected"})
