"""Whatever JSON a client sends to a QBO sandbox write, the answer is a success or one of QBO's 4xx faults —
never a 5xx (hypothesis drives bodies built around the fields the sandbox reads)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_pipeline.sandbox.qbo_faults import QboFault
from sync_pipeline_tests.sandbox.conftest import QBO_REALM

_scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=8),
                    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-1000, max_value=1000))
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.sampled_from(
                                                          ["value", "Amount", "TxnId", "TxnType", "ItemRef", "Qty",
                                                           "UnitPrice", "TaxCodeRef", "DetailType",
                                                           "SalesItemLineDetail", "LinkedTxn", "TxnTaxCodeRef",
                                                           "TotalTax", "name"]), inner, max_size=4)),
                     max_leaves=12)
_ref = st.one_of(_json, st.fixed_dictionaries({"value": st.sampled_from(["1", "2", "TAX", "NON", "x", ""])}))
_line = st.one_of(_json, st.fixed_dictionaries({
    "Amount": st.one_of(_json, st.sampled_from([Decimal(1), Decimal(100)])),
    "DetailType": st.sampled_from(["SalesItemLineDetail", "DescriptionOnly", "Other"]),
    "SalesItemLineDetail": st.one_of(_json, st.fixed_dictionaries({"ItemRef": _ref, "Qty": _json,
                                                                   "UnitPrice": _json, "TaxCodeRef": _ref})),
    "LinkedTxn": st.one_of(_json, st.lists(st.fixed_dictionaries({
        "TxnId": st.one_of(_json, st.just("1")),
        "TxnType": st.one_of(_json, st.sampled_from(["Invoice", "CreditMemo", "Payment"]))}), max_size=2))}))
_body = st.fixed_dictionaries({}, optional={
    "Id": _json, "SyncToken": _json, "sparse": _json, "DisplayName": _json, "Name": _json, "Active": _json,
    "CustomerRef": _ref, "CurrencyRef": _ref, "ExchangeRate": _json, "Line": st.one_of(_json, st.lists(_line,
                                                                                                  max_size=3)),
    "TxnTaxDetail": _json, "DocNumber": _json, "TxnDate": _json, "DueDate": _json, "TotalAmt": _json,
    "IncomeAccountRef": _ref, "DepositToAccountRef": _ref, "SalesTermRef": _ref, "GlobalTaxCalculation": _json,
    "UnitPrice": _json, "Type": _json, "AccountType": _json})


@pytest.fixture(scope="module")
def seeded(qbo_server):
    """A customer, an item, an invoice and a credit memo with id "1", so fuzzed references reach deep."""
    sb, server = qbo_server
    income = sb.query_one(QBO_REALM, "select * from Account where Name = 'Services'")["Id"]
    sb.create("Customer", QBO_REALM, {"DisplayName": "Fuzz Co"})
    sb.create("Item", QBO_REALM, {"Name": "Fuzz Item", "IncomeAccountRef": {"value": income}})
    line = {"Amount": 100, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    sb.create("Invoice", QBO_REALM, {"CustomerRef": {"value": "1"}, "Line": [line]})
    sb.create("CreditMemo", QBO_REALM, {"CustomerRef": {"value": "1"}, "Line": [line]})
    return sb, server


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # examples: the profile (100; 2,000 long)
@given(entity=st.sampled_from(["Customer", "Item", "Invoice", "CreditMemo", "Payment", "Deposit", "Account"]),
       body=_body, operation=st.sampled_from(["", "update", "delete", "void"]))
def test_any_write_is_a_success_or_a_qbo_fault(seeded, entity: str, body: dict[str, Any],
                                                operation: str) -> None:
    sb, _ = seeded
    try:
        got = sb.write(entity, QBO_REALM, body, {"operation": operation, "include": ""})
    except QboFault as f:
        assert 400 <= f.status < 500 and f.errors[0]["code"]
        return
    assert entity in got


@pytest.mark.parametrize("entity, body", [
    ("Invoice", {"CustomerRef": {"value": "1"}, "Line": [{"Amount": 1, "DetailType": "SalesItemLineDetail",
                                                          "SalesItemLineDetail": "abc"}]}),
    ("Invoice", {"CustomerRef": {"value": "1"}, "Line": [{"Amount": 1, "DetailType": "SalesItemLineDetail"}],
                 "TxnTaxDetail": [1]}),
    ("Payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 1, "Line": [{"Amount": 1, "LinkedTxn": {"TxnId": "1"}}]}),
    ("Customer", {"DisplayName": {"a": 1}}),
    ("Deposit", {"DepositToAccountRef": {"value": "5"}, "Line": [{"Amount": 1, "LinkedTxn": "x"}]}),
])
def test_wrong_shapes_are_2010(seeded, entity: str, body: dict[str, Any]) -> None:
    sb, _ = seeded
    with pytest.raises(QboFault) as e:
        sb.write(entity, QBO_REALM, body, {})
    assert e.value.status == 400 and e.value.errors[0]["code"] == "2010"
