"""QuickBooks Online's error shapes: a ``Fault`` with ``Error`` entries and a ``type``.

Every answer of the sandbox that is not a success is one of these (besides the OAuth token endpoint, which
answers RFC 6749 ``{"error": ...}`` like Intuit's). Codes, messages and HTTP statuses are the ones Intuit
documents ("Handling common errors", the error-code list) or shows in its own answers; where Intuit documents
no code for a case the sandbox must refuse, the choice is named in docs/sandbox.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sync_pipeline.sandbox.server import ApiError

PACIFIC = ZoneInfo("America/Los_Angeles")  # QBO stamps ``time`` and MetaData in the data centre's Pacific time


def qbo_time(instant: datetime | None = None) -> str:
    """``2026-12-07T01:02:03.456-08:00``: the ``time`` of every QBO answer."""
    t = (instant or datetime.now(UTC)).astimezone(PACIFIC)
    return t.isoformat(timespec="milliseconds")


def meta_time(instant: datetime) -> str:
    """``2026-12-07T01:02:03-08:00``: MetaData.CreateTime / LastUpdatedTime (seconds, Pacific offset)."""
    return instant.astimezone(PACIFIC).isoformat(timespec="seconds")


def fault_body(errors: list[dict[str, str]], kind: str = "ValidationFault") -> dict[str, Any]:
    return {"Fault": {"Error": errors, "type": kind}, "time": qbo_time()}


def error(message: str, detail: str, code: str, element: str = "") -> dict[str, str]:
    return {"Message": message, "Detail": detail, "code": code, "element": element}


class QboFault(ApiError):
    """A fault to answer with; ``errors`` also serve a batch item's ``Fault``."""

    def __init__(self, status: int, errors: list[dict[str, str]], kind: str = "ValidationFault",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, fault_body(errors, kind), headers)
        self.errors = errors
        self.kind = kind

    def batch_fault(self) -> dict[str, Any]:
        return {"type": self.kind, "Error": self.errors}


# -- the documented faults -------------------------------------------------------------------------------------
def validation(detail: str, element: str = "") -> QboFault:
    """6000: "A business validation error has occurred while processing your request"."""
    return QboFault(400, [error("A business validation error has occurred while processing your request",
                                f"Business Validation Error: {detail}", "6000", element)])


def not_found(entity: str, entity_id: str) -> QboFault:
    """610 Object Not Found (HTTP 400, as Intuit answers it)."""
    return QboFault(400, [error("Object Not Found",
                                f"Object Not Found : Something you're trying to use has been made inactive. Check "
                                f"the fields with accounts, customers, items, vendors or employees. "
                                f"({entity} Id={entity_id})", "610")])


def stale(entity: str, entity_id: str) -> QboFault:
    """5010 Stale Object Error: the SyncToken sent is not the current one."""
    return QboFault(400, [error("Stale Object Error",
                                f"Stale Object Error : You and sync-pipeline sandbox were working on this at the "
                                f"same time. sync-pipeline sandbox finished before you did, so your work was not "
                                f"saved. ({entity} Id={entity_id})", "5010")])


def required(param: str, element: str = "") -> QboFault:
    """2020 Required param missing."""
    return QboFault(400, [error("Required param missing, need to supply the required value for the API",
                                f"Required parameter {param} is missing in the request", "2020",
                                element or param)])


def invalid_reference(ref: str, value: Any) -> QboFault:
    """2500 Invalid Reference Id."""
    return QboFault(400, [error("Invalid Reference Id",
                                f"Invalid Reference Id : {ref} assigned is invalid: {value}", "2500", ref)])


def unsupported_property(entity: str, name: str) -> QboFault:
    """2010 Request has invalid or unsupported property."""
    return QboFault(400, [error("Request has invalid or unsupported property",
                                f"Property Name:Unrecognized field \"{name}\" (class "
                                f"com.intuit.schema.finance.v3.{entity}), not marked as ignorable specified is "
                                f"unsupported or invalid", "2010", name)])


def invalid_value(field: str, detail: str) -> QboFault:
    """2050 (string length) / 2040-style invalid value, reported as Intuit words the length case."""
    return QboFault(400, [error("String length is either shorter or longer than supported by specification",
                                detail, "2050", field)])


def duplicate_name(entity: str, name: str, other_id: str) -> QboFault:
    """6240 Duplicate Name Exists Error."""
    return QboFault(400, [error("Duplicate Name Exists Error",
                                f"The name supplied already exists. : Another {entity.lower()} is already using "
                                f"this name. Please use a different name. Id={other_id}", "6240")])


def duplicate_doc_number(txn_type: str, number: str, other_id: str) -> QboFault:
    """6140 Duplicate Document Number Error (unless ``include=allowduplicatedocnum``)."""
    return QboFault(400, [error("Duplicate Document Number Error",
                                f"Duplicate Document Number Error : You must specify a different number. This "
                                f"number has already been used. DocNumber={number} is assigned to TxnType="
                                f"{txn_type} with TxnId={other_id}", "6140")])


def unsupported_operation(detail: str) -> QboFault:
    """500 Unsupported Operation (a ValidationFault, HTTP 400)."""
    return QboFault(400, [error("Unsupported Operation", f"Operation {detail} is not supported.", "500")])


def query_parse(detail: str) -> QboFault:
    """4000 Error parsing query."""
    return QboFault(400, [error("Error parsing query", f"QueryParserError: {detail}", "4000")])


def query_invalid(detail: str) -> QboFault:
    """4001 Invalid query (a property that cannot be filtered or sorted on, an unknown entity)."""
    return QboFault(400, [error("Invalid query", f"QueryValidationError: {detail}", "4001")])


def authentication(detail: str) -> QboFault:
    """401, code 3200: the bearer token is missing, malformed, unknown or expired."""
    return QboFault(401, [error("message=AuthenticationFailed; errorCode=003200; statusCode=401", detail, "3200")],
                    "AUTHENTICATION")


def authorization(detail: str) -> QboFault:
    """403, code 3100: the token is valid but not for this company (realm)."""
    return QboFault(403, [error("message=AuthorizationFailed; errorCode=003100; statusCode=403", detail, "3100")],
                    "AUTHORIZATION")


def throttled() -> QboFault:
    """429, code 3001 ThrottleExceeded; Intuit documents no Retry-After: wait 60 seconds."""
    return QboFault(429, [error("message=ThrottleExceeded; errorCode=003001; statusCode=429",
                                "The request limit was reached.  Try again later", "3001")], "SERVICE")


def utc_now() -> datetime:
    return datetime.now(UTC)
