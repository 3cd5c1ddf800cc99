"""The real client nobody here wrote: python-quickbooks (with Intuit's intuit-oauth), pointed at the QBO sandbox,
refreshes its token, creates and reads a customer, an invoice and a payment, and queries."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from sync_pipeline.sandbox.server import SandboxServer
from sync_pipeline_tests.sandbox.conftest import QBO_REALM, qbo_sandbox

pytest.importorskip("quickbooks", reason="python-quickbooks is a dev dependency: pip install -e '.[dev]'")


def test_python_quickbooks_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from intuitlib.client import AuthClient
    from quickbooks import QuickBooks
    from quickbooks.objects.base import LinkedTxn, Ref
    from quickbooks.objects.customer import Customer
    from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
    from quickbooks.objects.invoice import Invoice
    from quickbooks.objects.item import Item
    from quickbooks.objects.payment import Payment, PaymentLine

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # requests-oauthlib wants https; the sandbox is http
    sb = qbo_sandbox(tmp_path / "qbo.sqlite3", refresh_rotate_after=0.0)
    sb.add_company(QBO_REALM, "SDK Co")
    with SandboxServer(sb) as server:
        sb.base_url = server.url
        refresh = sb.issue_tokens(QBO_REALM)["refresh_token"]
        # intuit-oauth reads its endpoints from a discovery document; any URL is accepted as the environment
        auth = AuthClient(client_id=sb.client_id, client_secret=sb.client_secret, redirect_uri="http://localhost/cb",
                          environment=f"{server.url}/.well-known/openid_configuration")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            qb = QuickBooks(auth_client=auth, refresh_token=refresh, company_id=QBO_REALM, minorversion=75)
        assert qb.refresh_token != refresh  # rotated, and the library kept the new one
        qb.api_url_v3 = f"{server.url}/v3"  # the production base URL, overridden on the instance

        customer = Customer()
        customer.DisplayName = "SDK Customer Ltd"
        customer = customer.save(qb=qb, request_id="sdk-customer-1")
        assert Customer.get(customer.Id, qb=qb).DisplayName == "SDK Customer Ltd"

        income = sb.query_one(QBO_REALM, "select * from Account where Name = 'Services'")
        item = Item()
        item.Name, item.Type, item.UnitPrice = "SDK Consulting", "Service", 150
        item.IncomeAccountRef = Ref()
        item.IncomeAccountRef.value = income["Id"]
        item = item.save(qb=qb)

        line = SalesItemLine()
        line.Amount = 300
        line.SalesItemLineDetail = SalesItemLineDetail()
        line.SalesItemLineDetail.ItemRef = item.to_ref()
        line.SalesItemLineDetail.Qty, line.SalesItemLineDetail.UnitPrice = 2, 150
        invoice = Invoice()
        invoice.CustomerRef = customer.to_ref()
        invoice.Line.append(line)
        invoice = invoice.save(qb=qb, request_id="sdk-invoice-1")
        assert float(invoice.TotalAmt) == 300.0 and invoice.DocNumber == "1001"
        again = Invoice.get(invoice.Id, qb=qb)
        assert float(again.Balance) == 300.0 and again.CustomerRef.value == customer.Id

        payment = Payment()
        payment.CustomerRef = customer.to_ref()
        payment.TotalAmt = 300
        pline = PaymentLine()
        pline.Amount = 300
        link = LinkedTxn()
        link.TxnId, link.TxnType = invoice.Id, "Invoice"
        pline.LinkedTxn.append(link)
        payment.Line.append(pline)
        payment = payment.save(qb=qb, request_id="sdk-payment-1")
        assert float(Payment.get(payment.Id, qb=qb).TotalAmt) == 300.0
        assert float(Invoice.get(invoice.Id, qb=qb).Balance) == 0.0

        found = Invoice.filter(DocNumber="1001", qb=qb)
        assert [i.Id for i in found] == [invoice.Id]
        assert Customer.count("DisplayName = 'SDK Customer Ltd'", qb=qb) == 1
        assert [c.DisplayName for c in Customer.query("SELECT * FROM Customer", qb=qb)] == ["SDK Customer Ltd"]
