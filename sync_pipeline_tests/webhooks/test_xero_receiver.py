"""The Xero webhook receiver over HTTP: signatures (intent to receive), durable idempotent storage."""

import json

import httpx
import pytest
import sqlalchemy as sa

from sync_pipeline.store.events import EventStore
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.webhooks.server import WebhookServer
from sync_pipeline.webhooks.xero import XeroWebhookApp, sign
from sync_pipeline_tests.store.test_events import event

KEY = "OSd0eLlVIY9ZhViEqlDUh4+6n6M+Lo+eDaEJheJ6OCCgWwIz2D3JIAU6jPMipHRbgKTLz2uJ+xiACXGDBLrgdA=="


@pytest.fixture
def receiver(tmp_path):
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    app = XeroWebhookApp(EventStore(store), KEY)
    with WebhookServer(app) as server:
        yield server, app, EventStore(store)
    store.dispose()


def payload(events, seq=1):
    return json.dumps({"events": events, "firstEventSequence": seq, "lastEventSequence": seq + max(0, len(events) - 1),
                       "entropy": "S0m3r4Nd0mt3xt"}, separators=(",", ":")).encode()


def post(server, body, signature):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["x-xero-signature"] = signature
    return httpx.post(f"{server.url}/webhooks/xero", content=body, headers=headers)


def test_intent_to_receive_accepts_the_right_signature_and_rejects_others(receiver):
    server, app, events = receiver
    body = payload([])
    ok = post(server, body, sign(body, KEY))
    assert ok.status_code == 200 and ok.content == b"" and "set-cookie" not in ok.headers
    assert post(server, body, sign(body, "another-key")).status_code == 401
    assert post(server, body, None).status_code == 401
    assert post(server, body + b" ", sign(body, KEY)).status_code == 401  # body altered after signing
    assert app.stats["rejected"] == 3 and events.count() == 0


def test_events_are_stored_once_however_often_delivered(receiver):
    server, app, events = receiver
    body = payload([event("inv-1"), event("inv-2", category="CONTACT", kind="CREATE")])
    assert post(server, body, sign(body, KEY)).status_code == 200
    assert post(server, body, sign(body, KEY)).status_code == 200  # Xero re-delivers
    rows = events.after(0)
    assert [(r.resource_id, r.category, r.deliveries) for r in rows] == [("inv-1", "INVOICE", 2),
                                                                          ("inv-2", "CONTACT", 2)]
    assert (app.stats["events_new"], app.stats["events_duplicate"]) == (2, 2)


def test_a_forged_delivery_stores_nothing(receiver):
    server, _, events = receiver
    body = payload([event("inv-9")])
    assert post(server, body, sign(payload([]), KEY)).status_code == 401
    assert events.count() == 0


def test_malformed_signed_delivery_is_a_400_and_store_failure_a_503(receiver, tmp_path):
    server, app, _ = receiver
    body = b'{"events": [{"resourceId": "x"}]}'
    assert post(server, body, sign(body, KEY)).status_code == 400
    # a store that cannot commit must not acknowledge: Xero delivers again later
    broken = OperationalStore(f"sqlite:///{tmp_path / 'broken.sqlite3'}")
    with broken.engine.begin() as c:
        c.execute(sa.text("DROP TABLE webhook_events"))
    app.events = EventStore(broken)
    good = payload([event("inv-3")])
    assert post(server, good, sign(good, KEY)).status_code == 503


def test_other_paths_and_methods(receiver):
    server, _, _ = receiver
    assert httpx.get(f"{server.url}/webhooks/xero").status_code == 405
    assert httpx.post(f"{server.url}/nope", content=b"{}").status_code == 404
    assert httpx.get(f"{server.url}/healthz").json()["ok"] is True


def test_an_empty_key_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match="XERO_WEBHOOK_KEY"):
        XeroWebhookApp(EventStore(OperationalStore(f"sqlite:///{tmp_path / 'x.sqlite3'}")), "")
