"""The QuickBooks Online Accounting API v3 over the shared HTTP layer: one client per realm.

- every call goes to ``/v3/company/{realmId}/...`` with ``minorversion`` pinned (75: Intuit ignores older ones
  since August 2025) and a Bearer token from :class:`~sync_pipeline.connectors.qbo.auth.QboAuth`;
- every write carries ``requestid`` derived from our idempotency key (Intuit replays the first answer for a
  repeated requestid, so a retry after a timeout cannot duplicate); at most 50 characters, 36 for a batch, whose
  item ``bId`` are then at most 10 characters;
- batches of up to 30 operations (``/batch``), each item answering for itself (an entity or a ``Fault``);
- lookups through the query language (``SELECT * FROM Invoice WHERE DocNumber = 'X'``; quotes in values are
  escaped with a backslash, as Intuit documents), paged with ``STARTPOSITION``/``MAXRESULTS`` (1,000 at most);
- pull-back through Change Data Capture (``/cdc``), which looks back 30 days and answers at most 1,000 objects:
  beyond either, :meth:`QboClient.changed_since` falls back to a query on ``MetaData.LastUpdatedTime``. Stamps
  have whole seconds, so a change made in the second of ``since`` carries that second's stamp: the query asks
  ``>=``, and CDC (whose ``changedSince`` Intuit documents only as "changed since" the look-back date, not
  whether that second is included) is asked from one second earlier; what comes again is the caller's to drop;
- documented limits enforced client-side: 500 requests per minute per realm, 10 per second and 10 in flight per
  realm and app, 40 batch requests per minute per realm and app; a 429 pauses everyone sharing the limiter for
  the 60 seconds Intuit asks for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sync_pipeline.connectors.http import AuthError, HttpClient, PermanentError
from sync_pipeline.connectors.limits import CircuitBreaker, RateLimiter, RateLimits, Window
from sync_pipeline.connectors.qbo.auth import QboAuth
from sync_pipeline.connectors.qbo.faults import (
    Fault,
    ReconnectRequired,
    StaleObject,
    classify,
    read_fault,
    reconnect_message,
)
from sync_pipeline.contracts.codec import dumps

API = "/v3/company"
MINOR_VERSION = 75
MAX_BATCH = 30
QUERY_PAGE = 1000
CDC_LOOKBACK = timedelta(days=30)
CDC_MAX_OBJECTS = 1000
#: Intuit: 500 requests / minute / realm, 10 / second and 10 concurrent per realm and app.
QBO_LIMITS = RateLimits(windows=(Window(500, 60.0), Window(10, 1.0)), max_concurrent=10)
#: Intuit: 40 batch requests / minute per realm and app (on top of the general limit).
QBO_BATCH_LIMITS = RateLimits(windows=(Window(40, 60.0),), max_wait=300.0)
#: Intuit: "If you see [429], wait 60 seconds before retrying the request."
THROTTLE_PAUSE = 60.0
SANDBOX_BASE_URL = "https://sandbox-quickbooks.api.intuit.com"
PRODUCTION_BASE_URL = "https://quickbooks.api.intuit.com"

#: namespace of the requestids derived from our idempotency keys (a UUID is 36 characters: fits a batch too)
_REQUEST_NS = uuid.UUID("6f1d7c9e-4b8a-5e2f-9c3d-1a2b3c4d5e6f")


def request_id(idempotency_key: str) -> str:
    """The ``requestid`` of a write: deterministic from our key, so a retry or a re-run replays, never repeats."""
    if not idempotency_key:
        raise ValueError("every QuickBooks write carries a requestid derived from an idempotency key")
    return str(uuid.uuid5(_REQUEST_NS, idempotency_key))


def quote(value: str) -> str:
    """A string literal of the query language: single quotes, an apostrophe escaped with a backslash.

    A backslash in a value is refused: Intuit documents no way to escape it, and a lookup that silently matches
    nothing would create a duplicate."""
    if "\\" in value:
        raise ValueError(f"cannot look up {value!r} in QuickBooks: its query language has no escape for '\\'")
    return "'" + value.replace("'", "\\'") + "'"


def qbo_datetime(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("QuickBooks date-times need an aware datetime")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class BatchItem:
    """One operation of a batch: ``operation`` create/update/delete (or ``query``) on ``entity``."""

    entity: str
    body: dict[str, Any] | str
    operation: str = "create"


class QboClient:
    def __init__(self, base_url: str, auth: QboAuth, *, minor_version: int = MINOR_VERSION, timeout: float = 60.0,
                 max_attempts: int = 5, transport: httpx.BaseTransport | None = None,
                 limiter: RateLimiter | None = None, batch_limiter: RateLimiter | None = None,
                 breaker: CircuitBreaker | None = None) -> None:
        self.auth = auth
        self.realm_id = auth.realm_id
        self.minor_version = minor_version
        self.http = HttpClient(system="qbo", base_url=base_url.rstrip("/"), timeout=timeout,
                               max_attempts=max_attempts, transport=transport, limits=QBO_LIMITS, limiter=limiter,
                               breaker=breaker, throttle_pause=THROTTLE_PAUSE)
        self.batch_limiter = batch_limiter or RateLimiter(QBO_BATCH_LIMITS, name=f"qbo-batch:{self.realm_id}")
        self.batch_calls = 0

    def close(self) -> None:
        self.http.close()
        self.auth.close()

    # -- one call ---------------------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
             content_type: str = "application/json", idempotency_key: str | None = None) -> dict[str, Any]:
        """One API call; a refused access token is refreshed once, a Fault raises its class (``faults``)."""
        url = f"{API}/{self.realm_id}/{path}"
        p = {**(params or {}), "minorversion": self.minor_version}
        if idempotency_key is not None:
            p["requestid"] = request_id(idempotency_key)
        content = None if body is None else (body.encode() if isinstance(body, str) else dumps(body))
        for attempt in (1, 2):
            token = self.auth.bearer()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if content is not None:
                headers["Content-Type"] = content_type
            try:
                answer = self.http.json(method, url, params=p, content=content, headers=headers,
                                        safe=method == "GET" or idempotency_key is not None or path == "query")
            except AuthError as e:
                if e.status == 401 and attempt == 1:
                    self.auth.invalidate(token)
                    continue
                fault = read_fault(e.json())
                why = str(fault) if fault else f"HTTP {e.status}"
                raise ReconnectRequired(reconnect_message(self.realm_id, f"the API refused our access ({why})"),
                                        system="qbo", method=method, url=url, status=e.status,
                                        request_id=e.request_id) from None
            except PermanentError as e:
                fault = read_fault(e.json())
                if fault is None:
                    raise
                raise classify(fault, status=e.status, system="qbo", method=method, url=url,
                               request_id=e.request_id) from None
            if isinstance(answer, dict) and "Fault" in answer:  # a Fault inside HTTP 200
                fault = read_fault(answer)
                assert fault is not None
                raise classify(fault, status=200, system="qbo", method=method, url=url)
            if not isinstance(answer, dict):
                raise PermanentError("QuickBooks answered something other than a JSON object", system="qbo",
                                     method=method, url=url)
            return answer
        raise AssertionError("unreachable")

    # -- reads ------------------------------------------------------------------------------------------------
    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        return self.call("GET", f"{entity.lower()}/{entity_id}")[entity]

    def query(self, statement: str) -> list[dict[str, Any]]:
        """Every row of one ``SELECT``, paged ``MAXRESULTS 1000`` (the statement must not page itself)."""
        words = statement.split()
        entity = words[3] if len(words) > 3 and statement.upper().startswith("SELECT * FROM ") else None
        out: list[dict[str, Any]] = []
        start = 1
        while True:
            answer = self.call("GET", "query",
                               params={"query": f"{statement} STARTPOSITION {start} MAXRESULTS {QUERY_PAGE}"})
            qr = answer.get("QueryResponse") or {}
            rows = qr.get(entity, []) if entity else next((v for v in qr.values() if isinstance(v, list)), [])
            out.extend(rows)
            if len(rows) < QUERY_PAGE:
                return out
            start += QUERY_PAGE

    def query_one(self, statement: str) -> dict[str, Any] | None:
        rows = self.query(statement)
        return rows[0] if rows else None

    def cdc(self, entities: Sequence[str], since: datetime) -> dict[str, list[dict[str, Any]]]:
        """One Change Data Capture call: the changed (and deleted) objects of each entity since ``since``."""
        answer = self.call("GET", "cdc", params={"entities": ",".join(entities), "changedSince": qbo_datetime(since)})
        out: dict[str, list[dict[str, Any]]] = {e: [] for e in entities}
        for block in answer.get("CDCResponse") or []:
            for qr in block.get("QueryResponse") or []:
                for e in entities:
                    if isinstance(qr.get(e), list):
                        out[e].extend(qr[e])
        return out

    def changed_since(self, entity: str, since: datetime | None, *, now: datetime | None = None
                      ) -> Iterator[dict[str, Any]]:
        """Objects of ``entity`` changed at or after ``since``'s second (all when None; some changed a second earlier
        may come too): CDC inside its 30-day window and under its 1,000-object cap, else a query on
        ``MetaData.LastUpdatedTime`` (which cannot see deletions)."""
        now = now or datetime.now(UTC)
        if since is not None and now - since < CDC_LOOKBACK - timedelta(minutes=5):
            changed = self.cdc([entity], since.replace(microsecond=0) - timedelta(seconds=1))[entity]
            if len(changed) < CDC_MAX_OBJECTS:
                yield from changed
                return
        where = f" WHERE MetaData.LastUpdatedTime >= {quote(qbo_datetime(since))}" if since else ""
        yield from self.query(f"SELECT * FROM {entity}{where} ORDERBY MetaData.LastUpdatedTime")

    # -- writes -----------------------------------------------------------------------------------------------
    def create(self, entity: str, body: dict[str, Any], idempotency_key: str,
               params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call("POST", entity.lower(), body=body, idempotency_key=idempotency_key, params=params)[entity]

    def update(self, entity: str, entity_id: str, changes: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """A sparse update; a stale ``SyncToken`` (5010) re-reads the object and tries once more.

        The requestid includes the SyncToken sent: a retry with a new token is a new request to Intuit."""
        current = self.read(entity, entity_id)
        for attempt in (1, 2):
            body = {**changes, "Id": entity_id, "SyncToken": current["SyncToken"], "sparse": True}
            try:
                return self.create(entity, body, f"{idempotency_key}|{current['SyncToken']}")
            except StaleObject:
                if attempt == 2:
                    raise
                current = self.read(entity, entity_id)
        raise AssertionError("unreachable")

    def operation(self, entity: str, entity_id: str, op: str, idempotency_key: str) -> dict[str, Any]:
        """``operation=void`` or ``operation=delete`` on a transaction (needs its current SyncToken)."""
        current = self.read(entity, entity_id)
        body = {"Id": entity_id, "SyncToken": current["SyncToken"]}
        answer = self.call("POST", entity.lower(), params={"operation": op}, body=body,
                           idempotency_key=f"{idempotency_key}|{op}|{current['SyncToken']}")
        return answer.get(entity) or answer

    def batch(self, items: Sequence[BatchItem], idempotency_key: str) -> list[dict[str, Any] | Fault]:
        """One ``/batch`` call of up to 30 operations; per item, in order, the entity or its :class:`Fault`."""
        if not items:
            return []
        if len(items) > MAX_BATCH:
            raise ValueError(f"QuickBooks batches hold at most {MAX_BATCH} operations, got {len(items)}")
        requests = []
        for n, it in enumerate(items, start=1):
            req: dict[str, Any] = {"bId": str(n)}  # with a requestid, a bId may have at most 10 characters
            if it.operation == "query":
                req["Query"] = it.body
            else:
                req["operation"] = it.operation
                req[it.entity] = it.body
            requests.append(req)
        self.batch_limiter.acquire()
        self.batch_calls += 1
        answer = self.call("POST", "batch", body={"BatchItemRequest": requests}, idempotency_key=idempotency_key)
        by_bid = {str(r.get("bId")): r for r in answer.get("BatchItemResponse") or [] if isinstance(r, dict)}
        out: list[dict[str, Any] | Fault] = []
        for n, it in enumerate(items, start=1):
            r = by_bid.get(str(n))
            fault = read_fault(r) if r is not None else None
            if r is None:  # unknown whether it was done: not retried blindly (a replay looks it up first)
                out.append(Fault("Unanswered", (_missing(n),)))
            elif fault is not None:
                out.append(fault)
            elif it.operation == "query":
                out.append(r.get("QueryResponse") or {})
            elif isinstance(r.get(it.entity), dict):
                out.append(r[it.entity])
            else:
                out.append(Fault("ValidationFault", (_missing(n, it.entity),)))
        return out


def _missing(n: int, entity: str | None = None) -> Any:
    from sync_pipeline.connectors.qbo.faults import FaultError

    what = f"no {entity} in the answer to batch item {n}" if entity else f"no answer to batch item {n}"
    return FaultError(code="", message=what)
