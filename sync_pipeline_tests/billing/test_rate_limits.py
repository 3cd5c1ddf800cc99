"""Rates above the entity's rate_limits are never billed: a rate card above it is refused when the mapping loads
(contracts/test_mapping.py); a project system's own rate above it quarantines its entry alone, with the reason."""

from __future__ import annotations

from decimal import Decimal as D

from sync_pipeline_tests.billing.helpers import bill, entity, entry


def test_a_source_rate_above_the_limit_quarantines_its_entry_alone():
    b = bill([entry("huge", rate="1000000000"), entry("ok", rate="150")], entity(rate_limits={"max": "5000"}))
    assert b.disposition("huge") == (
        "quarantined", "rate 1000000000.000000 GBP (source_system) is above the entity's rate_limits (5000 GBP): "
                       "correct the rate in the project system, or raise rate_limits in the mapping")
    assert b.disposition("ok") == ("billable", None)
    assert b.lines("1") == [(D("1.0000"), D("150.0000"), D("150.00"))]
    # JPY has no minor unit: its limit is 100 x max
    yen = bill([entry("y1", rate="400000", currency="JPY"), entry("y2", rate="600000", currency="JPY")],
               entity(key="acme-jp", base_currency="JPY", rate_limits={"max": "5000"}))
    assert yen.disposition("y1") == ("billable", None) and yen.disposition("y2")[0] == "quarantined"
