"""Every Accounting API request the sandbox serves is first checked against Xero's official spec.

The operation is found by method and path in the vendored spec (``contracts/xero/xero_accounting.yaml``);
its query parameters (integers, booleans, GUID lists), its ``Idempotency-Key`` and its JSON body (types,
enums, ``maxLength``, GUID formats, required properties) are checked before any business rule runs. A
request that breaks the spec gets Xero's ``400 ValidationException`` (never a 5xx, never a 200 that
stores the bad value); properties the spec does not declare are dropped from the body, as Xero ignores
them (they are neither stored nor echoed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync_pipeline.contracts import xero_spec
from sync_pipeline.contracts.codec import dumps, loads
from sync_pipeline.sandbox.server import ApiError, Request
from sync_pipeline.sandbox.xero_money import utcnow

IDEMPOTENCY_KEY_MAX = 128  # "128 character max." (the spec's Idempotency-Key description)
NOT_FOUND = "The resource you're looking for cannot be found"  # Xero's plain-text 404 (Xero-OpenAPI#163)


def validation_error(messages: list[str], *, elements: list[dict[str, Any]] | None = None) -> ApiError:
    """Xero's 400: ``ValidationException`` with the messages as one element's ``ValidationErrors``."""
    return ApiError(400, {"ErrorNumber": 10, "Type": "ValidationException",
                          "Message": "A validation exception occurred",
                          "Elements": elements if elements is not None else
                          [{"ValidationErrors": [{"Message": m} for m in messages]}]})


def check_request(req: Request) -> None:
    """Raise Xero's 400 when ``req`` breaks the spec; replace its body by the body without unknown fields."""
    op = xero_spec.find_operation(req.method, req.path)
    if op is None:
        return
    problems: list[str] = []
    for p in op.parameters:
        if p.get("in") == "query":
            raw = req.arg(p["name"])
            if raw is not None and (bad := xero_spec.check_query_value(raw, p.get("schema", {}), p["name"])):
                problems.append(str(bad))
    idem = req.headers.get("idempotency-key")
    if idem is not None and len(idem) > IDEMPOTENCY_KEY_MAX:
        problems.append(f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters")
    if problems:
        raise validation_error(problems)
    if op.body is None or req.method not in ("PUT", "POST"):
        return
    try:
        payload = loads(req.body)
    except ValueError as e:
        raise ApiError(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                             "Message": f"The request body is not valid JSON: {e}"}) from None
    if payload is None:
        raise ApiError(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                             "Message": "The request body is empty"})
    cleaned, found = xero_spec.check(payload, op.body)
    if found:
        raise validation_error([str(f) for f in found[:20]])
    req.body = dumps(cleaned)


def _err(item: dict[str, Any], messages: list[str]) -> dict[str, Any]:
    return {**item, "HasErrors": True, "StatusAttributeString": "ERROR",
            "ValidationErrors": [{"Message": m} for m in messages]}


def _not_found() -> ApiError:
    """Xero's 404: the plain text "The resource you're looking for cannot be found" (not JSON)."""
    return ApiError(404, NOT_FOUND)


def _validation_exception(elements: list[dict[str, Any]], message: str = "A validation exception occurred"):
    return ApiError(400, {"ErrorNumber": 10, "Type": "ValidationException", "Message": message,
                          "Elements": elements})


@dataclass
class Event:
    """A change a webhook subscriber hears about (INVOICE, CONTACT, CREDITNOTE; CREATE or UPDATE)."""

    tenant: str
    category: str
    type: str
    resource_id: str
    at: datetime = field(default_factory=utcnow)
    data: dict[str, Any] | None = None  # CREDITNOTE events carry Type and Status


class _Tx:
    """What one write request changed: documents to store and events to publish after commit."""

    def __init__(self, conn) -> None:
        self.c = conn
        self.events: list[Event] = []


class _Rollback(ApiError):
    """Raised inside a store transaction to undo it and answer with ``error``."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.status, error.body, error.headers)
        self.error = error
