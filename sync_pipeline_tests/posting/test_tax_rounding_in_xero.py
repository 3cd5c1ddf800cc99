"""Tax rounding reaches the accounting system: its totals equal our drafted totals to the cent, on each target.

The mapping's ``tax.amounts`` (exclusive | inclusive) is the document's ``LineAmountTypes``; ``tax.rounding``
decides each line's tax: per line (Xero's own calculation) or once per invoice and tax rate, spread over the
lines and sent as each line's ``TaxAmount`` (Xero takes it instead of its calculation). Expected figures are
computed by hand in the comments; 20 % VAT (OUTPUT2) throughout. QuickBooks Online takes no tax per line: the
invoice's TxnTaxDetail carries the tax per rate, so its lines read back with no tax amount. It calculates that tax
once per rate (inclusive: 20/120 of the rate's inclusive amounts); where our billing's tax differs, the connector
sends ours per rate and QuickBooks records the difference (``OverrideDeltaAmount``). Inclusive lines go as
``TaxInclusiveAmt`` (hours x rate) with a net ``Amount``, and read back as posted.
"""

from datetime import date
from decimal import Decimal as D

from sync_pipeline.domain.billing import invoice_headers, invoice_level_tax
from sync_pipeline.domain.periods import Period
from sync_pipeline.sandbox import demo_data
from sync_pipeline_tests.billing.helpers import bill, entity, entry
from sync_pipeline_tests.identity import post_with_approval


def _post(rows, tax, period, target, store):
    ent = entity(xero_tenant_id=demo_data.XERO_TENANT_ID, clients=[{"source_id": "1", "name": "Acme Corp"}],
                 tax=tax)
    b = bill(rows, ent, period=period, today=date(2026, 11, 15))
    posted = post_with_approval(b.drafts, entity=ent, period=period, target=target, store=store, triggered_by="test",
                                today=date(2026, 11, 15))
    assert set(posted["outcome"]) == {"created"}, list(posted["error"])
    ours = invoice_headers(b.drafts)[0]
    [doc] = [d for d in target.documents("invoice", reference_prefix=ours["reference"]).documents
             if d.reference == ours["reference"]]
    return b, ours, doc


def _held(doc) -> tuple:
    """What the target holds, in minor units: (amounts type, subtotal, tax, total, each line's tax or None)."""
    return (doc.line_amount_types, _minor(doc.subtotal), _minor(doc.total_tax), _minor(doc.total),
            [None if li.tax_amount is None else _minor(li.tax_amount) for li in doc.lines])


def _minor(x) -> int:
    return int(D(str(x)) * 100)


def _system(target) -> str:
    return "qbo" if type(target).__name__.startswith("Qbo") else "xero"


def test_exclusive_amounts_with_tax_rounded_once_per_invoice(target, sqlite_store):
    # three 1-hour lines at 10.02, 10.02 and 10.01 (three tasks: three lines)
    rows = [entry(1, task="1", rate="10.02", date="2026-10-05"), entry(2, task="2", rate="10.02", date="2026-10-05"),
            entry(3, task="3", rate="10.01", date="2026-10-05")]
    b, ours, doc = _post(rows, {"amounts": "exclusive", "rounding": "invoice"}, Period(2026, 10), target, sqlite_store)
    # per line the tax would be 2.004 → 2.00, 2.004 → 2.00, 2.002 → 2.00 = 6.00; once per invoice it is
    # 30.05 x 20 % = 6.010 → 6.01. The extra cent goes to the line rounded furthest down (2.004, the first).
    assert list(b.drafts["tax_amount_minor"]) == [201, 200, 200]
    assert invoice_level_tax(b.drafts) == {ours["invoice_key"]: 601}
    assert (ours["subtotal_minor"], ours["total_tax_minor"], ours["total_minor"]) == (3005, 601, 3606)
    # the target holds exactly that: the document's totals, and (Xero) every line's tax
    assert _held(doc) == {"xero": ("Exclusive", 3005, 601, 3606, [201, 200, 200]),
                          "qbo": ("Exclusive", 3005, 601, 3606, [None, None, None])}[_system(target)]


def test_inclusive_amounts_with_tax_rounded_once_per_invoice(target, sqlite_store):
    rows = [entry(11, task="1", rate="10", date="2026-09-07"), entry(12, task="2", rate="10", date="2026-09-07"),
            entry(13, task="3", rate="10", date="2026-09-07")]
    b, ours, doc = _post(rows, {"amounts": "inclusive", "rounding": "invoice"}, Period(2026, 9), target, sqlite_store)
    # 30.00 including VAT: the tax inside is 30 x 20/120 = 5.00 (per line it would be 1.6667 → 1.67, x3 = 5.01);
    # the lines' taxes are 1.66 + 1.67 + 1.67 (the cent comes off the first line), net subtotal 25.00
    assert list(b.drafts["tax_amount_minor"]) == [166, 167, 167]
    assert (ours["line_amount_types"], ours["subtotal_minor"], ours["total_tax_minor"], ours["total_minor"]) == (
        "Inclusive", 2500, 500, 3000)
    assert _held(doc) == {"xero": ("Inclusive", 2500, 500, 3000, [166, 167, 167]),
                          "qbo": ("Inclusive", 2500, 500, 3000, [None, None, None])}[_system(target)]
    assert [li.line_amount for li in doc.lines] == [D("10.00")] * 3


def test_inclusive_amounts_with_tax_rounded_per_line_as_xero_does(target, sqlite_store):
    rows = [entry(21, task="1", rate="10", date="2026-08-10"), entry(22, task="2", rate="10", date="2026-08-10"),
            entry(23, task="3", rate="10", date="2026-08-10")]
    b, ours, doc = _post(rows, {"amounts": "inclusive", "rounding": "line"}, Period(2026, 8), target, sqlite_store)
    # per line 1.67 x 3 = 5.01 inside 30.00: net 24.99
    assert (ours["subtotal_minor"], ours["total_tax_minor"], ours["total_minor"]) == (2499, 501, 3000)
    assert _held(doc) == {"xero": ("Inclusive", 2499, 501, 3000, [167, 167, 167]),
                          "qbo": ("Inclusive", 2499, 501, 3000, [None, None, None])}[_system(target)]
    assert [li.line_amount for li in doc.lines] == [D("10.00")] * 3  # hours x rate, as billed
    if _system(target) == "qbo":
        # QuickBooks rounds inclusive tax once per rate: 30.00 x 20/120 = 5.00, a cent under ours. The connector
        # sends our 5.01 for the rate, QuickBooks keeps it and records the cent; the nets are 10.00 - 1.67 = 8.33
        raw = target.client.read("Invoice", doc.id)
        assert [(str(t["Amount"]), str(t["TaxLineDetail"]["OverrideDeltaAmount"]))
                for t in raw["TxnTaxDetail"]["TaxLine"]] == [("5.01", "0.01")]
        assert [str(li["Amount"]) for li in raw["Line"] if li["DetailType"] == "SalesItemLineDetail"] == [
            "8.33", "8.33", "8.33"]


def test_the_sandbox_refuses_a_line_tax_that_is_not_a_rounding_of_its_calculation(sandboxes, xero):
    # Xero-only: per-line TaxAmount is Xero's (QuickBooks takes tax per invoice)
    from sync_pipeline.connectors.xero import contact_payload, invoice_payload

    contact = xero.create_contacts([contact_payload("Tax Test", "TAX-1", "GBP")], "tax-test-contact")[0]
    line = {"description": "x", "quantity": D("1"), "unit_amount": D("10.00"), "line_amount": D("10.00"),
            "account_code": "200", "tax_type": "OUTPUT2", "tax_amount": D("2.02")}  # calculated: 2.00
    doc = invoice_payload(contact_id=contact["ContactID"], reference="TAX-TEST", currency="GBP", date="2026-10-31",
                          due_date="2026-11-30", status="DRAFT", lines=[line])
    res = xero.create_invoices([doc], "tax-test-invoice")[0]
    assert any("not a rounding of the calculated 2.00" in str(e.get("Message"))
               for e in res.get("ValidationErrors") or []), res


def test_invoice_level_allocation_adds_up_and_stays_within_a_minor_unit_of_each_lines_exact_tax():
    import random

    from sync_pipeline.domain.billing import allocate_invoice_tax

    rng = random.Random(7)
    for amounts in ("exclusive", "inclusive"):
        for ccy, places in (("GBP", 2), ("JPY", 0)):
            rows = [{"invoice_key": f"inv{i % 3}", "currency": ccy, "tax_rate_percent": rng.choice([D(20), D(5)]),
                     "line_amount_minor": rng.randint(-5_000, 500_000), "_sort": (i,)} for i in range(60)]
            for r in rows:
                p, m = r["tax_rate_percent"], D(r["line_amount_minor"])
                r["exact"] = m * p / (100 + p) if amounts == "inclusive" else m * p / 100
                r["tax_amount_minor"] = int(r["exact"].quantize(D(1), rounding="ROUND_HALF_UP"))
            allocate_invoice_tax(rows, amounts)
            for key in ("inv0", "inv1", "inv2"):
                for p in (D(20), D(5)):
                    grp = [r for r in rows if r["invoice_key"] == key and r["tax_rate_percent"] == p]
                    base = D(sum(r["line_amount_minor"] for r in grp))  # the invoice's tax: from its summed amounts
                    total = (base * p / (100 + p) if amounts == "inclusive" else base * p / 100).quantize(
                        D(1), rounding="ROUND_HALF_UP")
                    assert sum(r["tax_amount_minor"] for r in grp) == int(total), (amounts, ccy, key, p)
            assert all(abs(r["tax_amount_minor"] - r["exact"]) < 1 for r in rows), (amounts, ccy, places)
