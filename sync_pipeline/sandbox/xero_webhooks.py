"""Xero webhooks, sender side: INVOICE, CONTACT and CREDITNOTE events to subscriber URLs.

As ``shared/contracts/xero/xero-webhooks.yaml`` describes: a POST whose JSON body holds ``events``
(``resourceUrl``, ``resourceId``, ``eventDateUtc``, ``eventType`` CREATE/UPDATE, ``eventCategory``,
``tenantId``, ``tenantType``; credit notes add ``data`` with ``Type`` and ``Status``),
``firstEventSequence``, ``lastEventSequence`` and ``entropy``, signed with
``x-xero-signature: base64(HMAC-SHA256(webhook key, raw body))``.

Like Xero:
- a new subscription must pass the *intent to receive* check before it gets events: the sandbox
  sends empty ``events`` payloads, some correctly signed (the receiver must answer 200) and some
  not (the receiver must answer 401); anything else marks the subscription ``FAILED``.
  (Real Xero numbers those payloads 0; the sandbox uses 1, the spec's minimum.)
- deliveries are batched, retried with backoff while the receiver fails, and numbered with a
  per-subscription sequence. Events are kept in the sandbox's SQLite file, so a restart delivers
  what was pending.

Fault injection (rules in the sandbox's fault plan, ``path`` matched against the subscriber URL):
``duplicate`` delivers a batch twice (same body, same signature); ``out_of_order`` holds a batch
back and delivers it after the next one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
import string
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from sync_pipeline.contracts.codec import dumps, loads
from sync_pipeline.sandbox.server import WEBHOOK_FAULT_KINDS

if TYPE_CHECKING:
    from sync_pipeline.sandbox.xero import Event, XeroSandbox

CATEGORIES = ("INVOICE", "CONTACT", "CREDITNOTE")
RESOURCE_PATH = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}


def sign(key: str, body: bytes) -> str:
    """The ``x-xero-signature`` of a raw body."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _entropy(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(20))


@dataclass
class Subscription:
    id: str
    url: str
    key: str
    categories: tuple[str, ...]
    status: str  # PENDING | OK | FAILED
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "key": self.key, "categories": list(self.categories),
                "status": self.status, "detail": self.detail}


class WebhookSender:
    """Delivers the events of a XeroSandbox to its subscribers, in a background thread."""

    def __init__(self, sandbox: XeroSandbox, *, batch_size: int = 50, batch_delay: float = 0.05,
                 retry_base: float = 0.2, retry_max: float = 30.0, max_attempts: int = 20,
                 timeout: float = 5.0, hold_seconds: float = 1.0, seed: int = 0) -> None:
        self.sb = sandbox
        self.batch_size = batch_size
        self.batch_delay = batch_delay
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.hold_seconds = hold_seconds  # an out-of-order batch waits at most this long for a successor
        self.base_url = ""  # where resourceUrl points (set by whoever serves the sandbox)
        self._rng = random.Random(seed)
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._held: dict[str, tuple[float, bytes]] = {}
        self._busy = False
        # the latest deliveries (subscription, HTTP status, why, raw body), for tests and the admin API
        self.delivered: deque[dict[str, Any]] = deque(maxlen=2000)
        with self.sb.store.tx() as c:
            c.execute("CREATE TABLE IF NOT EXISTS webhook_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                      "sub TEXT NOT NULL, event TEXT NOT NULL, sequence INTEGER NOT NULL, "
                      "attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0, "
                      "state TEXT NOT NULL DEFAULT 'pending')")
            c.execute("CREATE INDEX IF NOT EXISTS ix_webhook_outbox_pending ON webhook_outbox (state, sub, seq)")
        self._subs = {s.id: s for s in self._load()}
        if any(s.status == "OK" for s in self._subs.values()):
            self.start()

    # -- subscriptions -------------------------------------------------------------------------
    def _load(self) -> list[Subscription]:
        rows = self.sb.store._conn().execute("SELECT v FROM kv WHERE ns = 'webhooks' ORDER BY k").fetchall()
        out = []
        for (v,) in rows:
            d = loads(v)
            out.append(Subscription(d["id"], d["url"], d["key"], tuple(d["categories"]), d["status"],
                                    d.get("detail", "")))
        return out

    def _persist(self, sub: Subscription) -> None:
        self.sb.store.kv_put("webhooks", sub.id, sub.as_dict())

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs.values())

    def subscribe(self, url: str, key: str | None = None, categories: tuple[str, ...] | list[str] = CATEGORIES,
                  *, verify: bool = True) -> Subscription:
        """Add a subscriber; with ``verify`` run the intent-to-receive check now (else it stays PENDING)."""
        cats = tuple(c.upper() for c in categories)
        bad = [c for c in cats if c not in CATEGORIES]
        if bad:
            raise ValueError(f"unknown webhook categories {bad}; choose from {', '.join(CATEGORIES)}")
        # Xero's webhook keys are 88 characters of base64
        sub = Subscription(str(uuid.uuid4()), url, key or base64.b64encode(secrets.token_bytes(66)).decode(),
                           cats, "PENDING")
        self._subs[sub.id] = sub
        self._persist(sub)
        if verify:
            self.verify(sub.id)
        return sub

    def unsubscribe(self, sub_id: str) -> bool:
        sub = self._subs.pop(sub_id, None)
        if sub is None:
            return False
        with self.sb.store.tx() as c:
            c.execute("DELETE FROM kv WHERE ns = 'webhooks' AND k = ?", (sub_id,))
            c.execute("DELETE FROM webhook_outbox WHERE sub = ?", (sub_id,))
        return True

    def verify(self, sub_id: str, rounds: int = 4) -> Subscription:
        """Intent to receive: empty payloads, correctly and wrongly signed, in a random order."""
        sub = self._subs[sub_id]
        plan = [True, False] * (rounds // 2)
        self._rng.shuffle(plan)
        problems = []
        with httpx.Client(timeout=self.timeout) as http:
            for good in plan:
                body = dumps({"events": [], "firstEventSequence": 1, "lastEventSequence": 1,
                              "entropy": _entropy(self._rng)})
                signature = sign(sub.key, body) if good else sign(sub.key + "-wrong", body)
                try:
                    r = http.post(sub.url, content=body, headers={"Content-Type": "application/json",
                                                                  "x-xero-signature": signature})
                    got = r.status_code
                except httpx.HTTPError as e:
                    problems.append(f"{type(e).__name__}: {e}")
                    continue
                want = 200 if good else 401
                if got != want:
                    problems.append(f"a {'correctly' if good else 'wrongly'} signed payload got {got}, expected {want}")
        sub.status = "FAILED" if problems else "OK"
        sub.detail = "; ".join(problems) if problems else "intent to receive verified"
        self._persist(sub)
        if sub.status == "OK":
            self.start()
        return sub

    # -- events --------------------------------------------------------------------------------
    def publish(self, events: list[Event]) -> None:
        """Queue committed changes for every verified subscriber of their category."""
        live = [s for s in self._subs.values() if s.status == "OK"]
        if not live or not events:
            return
        with self.sb.store.tx() as c:
            for sub in live:
                for ev in events:
                    if ev.category not in sub.categories:
                        continue
                    sequence = self.sb.store.next_value(f"webhook-seq:{sub.id}", c)
                    item: dict[str, Any] = {
                        "resourceUrl": f"{self.base_url}/api.xro/2.0/{RESOURCE_PATH[ev.category]}/{ev.resource_id}",
                        "resourceId": ev.resource_id,
                        "eventDateUtc": ev.at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ev.at.microsecond // 1000:03d}",
                        "eventType": ev.type,
                        "eventCategory": ev.category,
                        "tenantId": ev.tenant,
                        "tenantType": "ORGANISATION",
                    }
                    if ev.data:
                        item["data"] = ev.data
                    c.execute("INSERT INTO webhook_outbox (sub, event, sequence) VALUES (?, ?, ?)",
                              (sub.id, dumps(item).decode(), sequence))
        with self._cv:
            self._cv.notify_all()

    def pending(self) -> int:
        return self.sb.store._conn().execute(
            "SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'").fetchone()[0] + len(self._held)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending (True) or the timeout passes (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.pending() == 0 and not self._busy:  # nothing queued and no delivery (or duplicate) in flight
                return True
            with self._cv:
                self._cv.notify_all()
            time.sleep(0.02)
        return self.pending() == 0

    # -- delivery loop -------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-xero-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        with self._cv:
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as http:
            while not self._stopping:
                worked = False
                self._busy = True
                try:
                    for sub in [s for s in self._subs.values() if s.status == "OK"]:
                        worked |= self._deliver_one(http, sub)
                finally:
                    self._busy = False
                if not worked:
                    with self._cv:
                        self._cv.wait(timeout=self.batch_delay if self._held else 0.25)
                elif self.batch_delay:
                    time.sleep(self.batch_delay)  # let a burst of writes gather into one batch

    def _deliver_one(self, http: httpx.Client, sub: Subscription) -> bool:
        held = self._held.get(sub.id)
        conn = self.sb.store._conn()
        rows = conn.execute("SELECT seq, event, sequence, attempts FROM webhook_outbox WHERE state = 'pending' "
                            "AND sub = ? AND next_at <= ? ORDER BY seq LIMIT ?",
                            (sub.id, time.time(), self.batch_size)).fetchall()
        if not rows:
            if held and time.monotonic() - held[0] >= self.hold_seconds:  # nothing came after it: send it late
                self._held.pop(sub.id)
                self._post(http, sub, held[1], "held")
                return True
            return False
        body = dumps({"events": [loads(r[1]) for r in rows], "firstEventSequence": rows[0][2],
                      "lastEventSequence": rows[-1][2], "entropy": _entropy(self._rng)})
        ids = [r[0] for r in rows]
        fault = self.sb.faults.pick("POST", sub.url, kinds=WEBHOOK_FAULT_KINDS)
        if fault is not None and fault.kind == "out_of_order" and held is None:
            self._held[sub.id] = (time.monotonic(), body)
            self._mark(ids, "held")
            return True
        ok = self._post(http, sub, body, "event")
        if ok:
            self._mark(ids, "delivered")
            if fault is not None and fault.kind == "duplicate":
                self._post(http, sub, body, "duplicate")
            if held is not None:  # the batch held back arrives after its successor
                self._held.pop(sub.id, None)
                self._post(http, sub, held[1], "held")
        else:
            attempts = rows[0][3] + 1
            if attempts >= self.max_attempts:
                self._mark(ids, "failed")
            else:
                delay = min(self.retry_max, self.retry_base * (2 ** (attempts - 1)))
                with self.sb.store.tx() as c:
                    c.executemany("UPDATE webhook_outbox SET attempts = ?, next_at = ? WHERE seq = ?",
                                  [(attempts, time.time() + delay, i) for i in ids])
        return True

    def _mark(self, ids: list[int], state: str) -> None:
        with self.sb.store.tx() as c:
            c.executemany("UPDATE webhook_outbox SET state = ? WHERE seq = ?", [(state, i) for i in ids])

    def _post(self, http: httpx.Client, sub: Subscription, body: bytes, why: str) -> bool:
        try:
            r = http.post(sub.url, content=body, headers={"Content-Type": "application/json",
                                                          "x-xero-signature": sign(sub.key, body)})
            status = r.status_code
        except httpx.HTTPError as e:
            status = 0
            why = f"{why}: {type(e).__name__}"
        self.delivered.append({"subscription": sub.id, "status": status, "why": why, "body": body})
        return 200 <= status < 300
