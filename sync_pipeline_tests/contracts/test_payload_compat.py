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
