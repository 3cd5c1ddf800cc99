"""The Harvest sandbox's invoices and payments refuse what Harvest refuses."""

from __future__ import annotations

import pytest

from sync_pipeline.connectors.harvest import HarvestClient
from sync_pipeline.connectors.http import PermanentError
from sync_pipeline.sandbox import demo_data


@pytest.fixture
def harvest(sandboxes):
    c = HarvestClient(sandboxes.harvest_server.url, sandboxes.harvest.token, demo_data.HARVEST_ACCOUNT_ID,
                      max_attempts=1)
    yield c
    c.close()


def _refused(call, *args) -> str:
    with pytest.raises(PermanentError) as e:
        call(*args)
    assert e.value.status == 422
    return e.value.json()["message"]


def test_numbers_are_unique_and_payments_cannot_exceed_what_is_due(harvest):
    inv = harvest.create_invoice({"client_id": 1, "number": "X-1", "currency": "GBP",
                                  "line_items": [{"quantity": "2", "unit_price": "50.00"}]})
    assert _refused(harvest.create_invoice, {"client_id": 1, "number": "X-1"}) == "Number has already been taken"
    assert "is not a client" in _refused(harvest.create_invoice, {"client_id": 999, "number": "X-2"})
    assert _refused(harvest.create_invoice_payment, inv["id"], {"amount": "100.01", "paid_date": "2026-11-01"}) \
        == "amount: 100.01 is more than the 100.00 due"
    pay = harvest.create_invoice_payment(inv["id"], {"amount": "100.00", "paid_date": "2026-11-01"})
    [paid] = [i for page in harvest.invoices() for i in page if i["number"] == "X-1"]
    assert (paid["state"], str(paid["due_amount"])) == ("paid", "0.00")
    harvest.delete_invoice_payment(inv["id"], pay["id"])
    assert harvest.invoice_payments(inv["id"]) == []
