"""Xero, one accounting target (``AccountingTarget``): everything that knows Xero's JSON lives in this package.

| module | what it holds |
| --- | --- |
| ``client`` | :class:`XeroClient`: OAuth2, pages, batch writes with ``Idempotency-Key``, Xero payload builders |
| ``outbound`` | what leaves is checked against Xero's official spec first |
| ``records`` | strict reading of what comes back (invoices, credit notes, payments) |
| ``documents`` | Xero JSON ⇄ the neutral payloads (``contracts.payloads.accounting``) |
| ``target`` | :class:`XeroTarget`, the ``AccountingTarget`` the services use |
"""

from sync_pipeline.connectors.xero.client import (
    API,
    MAX_BATCH,
    PAGE_SIZE,
    RESOURCES,
    ItemResult,
    XeroClient,
    bank_transaction_payload,
    contact_payload,
    credit_note_payload,
    if_modified_since,
    invoice_payload,
    parse_xero_date,
    payment_payload,
)
from sync_pipeline.connectors.xero.documents import to_document
from sync_pipeline.connectors.xero.target import CAPABILITIES, LIST_PAGE_SIZE, XeroTarget

__all__ = ["API", "CAPABILITIES", "LIST_PAGE_SIZE", "MAX_BATCH", "PAGE_SIZE", "RESOURCES", "ItemResult", "XeroClient",
           "XeroTarget", "bank_transaction_payload", "contact_payload", "credit_note_payload", "if_modified_since",
           "invoice_payload", "parse_xero_date", "payment_payload", "to_document"]
