"""QuickBooks Online's field names that this package reads or writes: what must never appear outside it
(``sync_pipeline_tests/services/test_provider_neutral.py`` holds the services to it).

Only the compound names (``TotalAmt``, ``CustomerRef``): QuickBooks' one-word fields (``Id``, ``Line``, ``Balance``)
are ordinary words a service may well say.
"""

from __future__ import annotations

import re
from functools import cache
from typing import get_type_hints

COMPOUND = re.compile(r"^[A-Z][a-z0-9]+[A-Z]")

#: written by ``payloads.py`` / ``client.py`` / ``target.py`` and not in the strict readers' schemas
WRITTEN = ("DisplayName", "CompanyName", "CurrencyRef", "ExchangeRate", "DetailType", "SalesItemLineDetail",
           "ItemRef", "UnitPrice", "TaxCodeRef", "TxnTaxDetail", "TxnTaxCodeRef", "GlobalTaxCalculation",
           "PrivateNote", "DocNumber", "DueDate", "TxnDate", "CustomerRef", "DepositToAccountRef", "PaymentRefNum",
           "LinkedTxn", "TxnId", "TxnType", "TotalAmt", "DepositLineDetail", "AccountRef", "PaymentType",
           "AccountBasedExpenseLineDetail", "IncomeAccountRef", "AcctNum", "SyncToken", "MetaData",
           "LastUpdatedTime", "BatchItemRequest", "BatchItemResponse", "QueryResponse", "CDCResponse",
           "RemainingCredit", "UnappliedAmt", "TotalTax", "VendorRef", "TaxInclusiveAmt", "TaxLine",
           "TaxLineDetail", "TaxRateRef", "SalesTaxRateList", "TaxRateDetail")


@cache
def provider_fields() -> frozenset[str]:
    from sync_pipeline.connectors.qbo import records

    names = set(WRITTEN)
    for schema in (records.QboInvoice, records.QboCreditMemo, records.QboPayment, records.QboCustomer):
        names.update(get_type_hints(schema))
    return frozenset(n for n in names if COMPOUND.match(n))
