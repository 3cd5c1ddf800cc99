"""Batch operations and change data capture.

``POST /batch`` ``{"BatchItemRequest": [{"bId": "1", "operation": "create", "Invoice": {...}},
{"bId": "2", "Query": "select * from Customer"}, {"bId": "3", "operation": "update", "optionsData": "void",
"Payment": {...}}]}`` → ``{"BatchItemResponse": [{"bId": "1", "Invoice": {...}}, {"bId": "2",
"QueryResponse": {...}}, {"bId": "3", "Fault": {"type": "ValidationFault", "Error": [...]}}], "time": ...}``.
At most 30 items (Intuit's documented maximum); items run one after the other, each on its own (a failed item
changes nothing and does not stop the others), and, as Intuit's batch guide says, an item does not see what
earlier items of the same batch created (an invoice for a customer created in the same batch is refused:
2500) — ``QboSandbox(batch_isolation=False)`` lifts that. A batch is one request for the per-minute limits and one of
the 40 batch requests a minute. With ``requestid`` a ``bId`` is at most 10 characters (Intuit).

``GET /cdc?entities=Invoice,Payment&changedSince=2026-12-01T00:00:00-08:00`` →
``{"CDCResponse": [{"QueryResponse": [{"Invoice": [...], "startPosition": 1, "maxResults": n,
"totalCount": n}, ...]}], "time": ...}``: every document of those entities changed since then, in full;
deleted ones as ``{"domain": "QBO", "status": "Deleted", "Id": ..., "MetaData": {"LastUpdatedTime"}}``.
Within the last 30 days only; at most 1000 objects in one answer (Intuit).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sync_pipeline.contracts.codec import loads
from sync_pipeline.sandbox.qbo_faults import QboFault, qbo_time, required, validation
from sync_pipeline.sandbox.server import Request, Response

BATCH_BID_MAX_WITH_REQUESTID = 10
CDC_MAX_OBJECTS = 1000
CDC_ENTITIES = {"Customer", "Item", "Invoice", "CreditMemo", "Payment", "Deposit", "Account", "Term"}
CDC_UNSUPPORTED = {"JournalCode", "TaxAgency", "TimeActivity", "TaxCode", "TaxRate"}  # documented exceptions
BATCH_OPERATIONS = {"create", "update", "delete"}


class BatchMixin:
    """Needs the QboSandbox core."""

    def _batch(self, req: Request) -> Response:
        realm = req.params["realm"]
        try:
            body = loads(req.body)
        except ValueError:
            body = None
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise required("BatchItemRequest")
        if len(items) > self.batch_max_items:
            raise validation(f"The batch has {len(items)} BatchItemRequest items; the maximum is "
                             f"{self.batch_max_items}", "BatchItemRequest")
        seen: set[str] = set()
        for it in items:
            bid = str(it.get("bId") or "")
            if not bid:
                raise required("bId")
            if bid in seen:
                raise validation(f"Duplicate bId {bid!r} in the batch", "bId")
            if req.arg("requestid") and len(bid) > BATCH_BID_MAX_WITH_REQUESTID:
                raise validation(f"bId {bid!r} is longer than {BATCH_BID_MAX_WITH_REQUESTID} characters, the "
                                 f"limit when the batch has a requestid", "bId")
            seen.add(bid)
        self._batch_hidden.ids = set()
        try:
            out = []
            for it in items:
                answer = self._batch_item(realm, it)
                out.append(answer)
                created = next((k for k in answer if k not in ("bId", "Fault", "QueryResponse")), None)
                if self.batch_isolation and created and it.get("operation") == "create":
                    self._batch_hidden.ids.add((created, str(answer[created]["Id"])))
        finally:
            self._batch_hidden.ids = set()
        return Response(200, {"BatchItemResponse": out, "time": qbo_time()})

    def _batch_item(self, realm: str, it: dict[str, Any]) -> dict[str, Any]:
        bid = str(it["bId"])
        try:
            if "Query" in it:
                return {"bId": bid, "QueryResponse": self.run_query(realm, it.get("Query"))}
            entities = [k for k in it if k not in ("bId", "operation", "optionsData")]
            if len(entities) != 1 or not isinstance(it[entities[0]], dict):
                raise required("the entity of the BatchItemRequest")
            entity = entities[0]
            operation = str(it.get("operation") or "")
            if operation not in BATCH_OPERATIONS:
                raise validation(f"operation must be create, update or delete, got {operation!r}", "operation")
            if entity not in self._writable():
                raise QboFault(400, [{"Message": "Unsupported Operation", "Detail": f"Operation {operation} for "
                                      f"{entity} is not supported.", "code": "500", "element": ""}])
            params = {"operation": operation if operation != "create" else "",
                      "include": "void" if it.get("optionsData") == "void" else ""}
            if operation == "update" and params["include"] == "void" and entity == "Invoice":
                params = {"operation": "void", "include": ""}
            body = dict(it[entity])
            if operation == "create" and body.get("Id"):
                raise validation("Id must not be given for create", "Id")
            with self.store.tx() as c:
                result = self.apply_write(entity, realm, body, params, c)
            return {"bId": bid, entity: self.public(result)}
        except QboFault as f:
            return {"bId": bid, "Fault": f.batch_fault()}

    @staticmethod
    def _writable() -> set[str]:
        from sync_pipeline.sandbox.qbo_entities import FIELDS, READ_ONLY

        return set(FIELDS) - READ_ONLY

    # -- change data capture ---------------------------------------------------------------------------------
    def _cdc(self, req: Request) -> Response:
        realm = req.params["realm"]
        names = [n.strip() for n in (req.arg("entities") or "").split(",") if n.strip()]
        if not names:
            raise required("entities")
        since_raw = req.arg("changedSince")
        if not since_raw:
            raise required("changedSince")
        since = self._changed_since(since_raw)
        entities = []
        for n in names:
            entity = next((e for e in CDC_ENTITIES | CDC_UNSUPPORTED if e.lower() == n.lower()), None)
            if entity is None or entity in CDC_UNSUPPORTED:
                raise validation(f"Change data capture is not supported for entity {n!r}", "entities")
            entities.append(entity)
        stamp = since.astimezone(UTC).isoformat(timespec="microseconds")
        responses, budget = [], CDC_MAX_OBJECTS
        for entity in entities:
            changed = self.store.query(entity, realm, "_updated > ?", [stamp], order="_updated", limit=budget)
            budget -= len(changed)
            docs = [self._cdc_doc(entity, realm, d) for d in changed]
            block: dict[str, Any] = {"startPosition": 1, "maxResults": len(docs), "totalCount": len(docs)}
            if docs:
                block = {entity: docs, **block}
            responses.append(block)
        return Response(200, {"CDCResponse": [{"QueryResponse": responses}], "time": qbo_time()})

    def _cdc_doc(self, entity: str, realm: str, doc: dict[str, Any]) -> dict[str, Any]:
        if doc.get("_deleted"):
            return {"domain": "QBO", "status": "Deleted", "Id": doc["Id"],
                    "MetaData": {"LastUpdatedTime": doc["MetaData"]["LastUpdatedTime"]}}
        return self.public(self.present(entity, realm, doc))

    def _changed_since(self, raw: str) -> datetime:
        from sync_pipeline.sandbox.qbo_query import _instant

        since = _instant(raw)
        if since is None:
            try:
                since = _instant(datetime.fromisoformat(raw[:10]).date().isoformat() + "T00:00:00")
            except ValueError:
                since = None
        if since is None:
            raise validation(f"changedSince is not a date-time: {raw!r}", "changedSince")
        oldest = datetime.now(UTC) - timedelta(days=self.cdc_lookback_days)
        if since < oldest:
            raise validation(f"changedSince {raw} is more than {self.cdc_lookback_days} days ago; change data "
                             f"capture looks back {self.cdc_lookback_days} days at most", "changedSince")
        return since
