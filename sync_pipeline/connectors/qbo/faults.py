"""QuickBooks Online ``Fault`` bodies, read and mapped onto our transient / permanent error classes.

Intuit answers an error with ``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type": ...},
"time": ...}``, sometimes with HTTP 200 (the docs: "the response body may contain a Fault element"), and inside a
batch once per item. The fault ``type`` and error ``code`` decide what we do:

| fault | what it means | our class |
|---|---|---|
| HTTP 429, code 3001 ThrottleExceeded | per-realm or batch quota spent; Intuit says wait 60 s | transient (the HTTP layer) |
| HTTP 5xx, ``SystemFault`` | Intuit's side failed | transient |
| ``ValidationFault`` (2000-4999, 6000-6999 business rules) | the document is wrong | permanent, with the message |
| code 5010 Stale Object Error | our ``SyncToken`` is old | :class:`StaleObject`: re-read, retry once |
| code 6140 Duplicate Document Number | the ``DocNumber`` is taken | :class:`DuplicateDocNumber` |
| ``AuthenticationFault`` (HTTP 401, code 3200) | token expired or revoked | refresh once, then :class:`ReconnectRequired` |
| ``AuthorizationFault`` (HTTP 403, code 120/3100) | the connected user may not do this | :class:`ReconnectRequired` |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync_pipeline.connectors.http import AuthError, PermanentError, TransientError

STALE_OBJECT = "5010"
DUPLICATE_DOC_NUMBER = "6140"
THROTTLE_EXCEEDED = "3001"
OBJECT_NOT_FOUND = "610"


@dataclass(frozen=True)
class FaultError:
    code: str
    message: str
    detail: str = ""
    element: str = ""

    def __str__(self) -> str:
        text = self.detail or self.message
        if self.message and self.detail and not self.detail.startswith(self.message):
            text = f"{self.message}: {self.detail}"
        where = f" (field {self.element})" if self.element else ""
        return f"QuickBooks error {self.code}: {text}{where}" if self.code else f"QuickBooks error: {text}{where}"


@dataclass(frozen=True)
class Fault:
    type: str
    errors: tuple[FaultError, ...]

    @property
    def codes(self) -> set[str]:
        return {e.code for e in self.errors}

    def __str__(self) -> str:
        return "; ".join(str(e) for e in self.errors) or f"QuickBooks {self.type or 'fault'} without detail"


def read_fault(body: Any) -> Fault | None:
    """The ``Fault`` of a response or batch item (``{"Fault": {...}}`` or the inner object), or None.

    Read leniently but never guessed at: a code that is not text or a number is kept as its text form, a missing
    message stays empty; an error list that is not a list yields one error saying so.
    """
    if not isinstance(body, dict):
        return None
    f = body.get("Fault", body if "Error" in body and "type" in body else None)
    if not isinstance(f, dict):
        return None
    raw = f.get("Error")
    errors: list[FaultError] = []
    if isinstance(raw, list):
        for e in raw:
            if isinstance(e, dict):
                errors.append(FaultError(code=_text(e.get("code")), message=_text(e.get("Message")),
                                         detail=_text(e.get("Detail")), element=_text(e.get("element"))))
    if not errors:
        errors.append(FaultError(code="", message=f"a Fault of type {_text(f.get('type')) or '?'} without errors"))
    return Fault(type=_text(f.get("type")), errors=tuple(errors))


def _text(v: Any) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else str(v)


class QboFault(PermanentError):
    """A permanent QuickBooks fault: fix the document or the mapping, then replay."""

    def __init__(self, fault: Fault, **kw: Any) -> None:
        super().__init__(str(fault), **kw)
        self.fault = fault


class StaleObject(QboFault):
    """Code 5010: the ``SyncToken`` we sent is not the object's current one (someone edited it meanwhile)."""


class DuplicateDocNumber(QboFault):
    """Code 6140: the ``DocNumber`` is already used by another transaction of this kind."""


class ReconnectRequired(AuthError):
    """The realm's authorisation is gone (refresh refused, or still 401/403 after a refresh): reconnect the app."""


def reconnect_message(realm_id: str, why: str) -> str:
    return (f"QuickBooks company {realm_id}: {why}. Reconnect the app to this company (sign in to QuickBooks and "
            "authorise sync-pipeline again, then store the new refresh token), and re-run")


def classify(fault: Fault, *, status: int | None, system: str, method: str, url: str,
             request_id: str | None = None) -> Exception:
    """The exception a fault raises (transient, stale, duplicate, reconnect or permanent)."""
    kw = {"system": system, "method": method, "url": url, "status": status, "request_id": request_id}
    codes = fault.codes
    if fault.type == "SystemFault" or (status is not None and status >= 500):
        return TransientError(str(fault), maybe_processed=True, **kw)
    if THROTTLE_EXCEEDED in codes or status == 429:
        return TransientError(str(fault), retry_after=60.0, maybe_processed=False, **kw)
    if STALE_OBJECT in codes:
        return StaleObject(fault, **kw)
    if DUPLICATE_DOC_NUMBER in codes:
        return DuplicateDocNumber(fault, **kw)
    if fault.type in ("AuthenticationFault", "AuthorizationFault") or status in (401, 403):
        return ReconnectRequired(str(fault), **kw)
    return QboFault(fault, **kw)


def is_transient(fault: Fault) -> bool:
    """A batch item's fault worth sending again (Intuit's side failed or throttled), never a validation one."""
    return fault.type == "SystemFault" or THROTTLE_EXCEEDED in fault.codes
