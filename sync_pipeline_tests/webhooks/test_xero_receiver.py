"""The Xero webhook receiver over HTTP: signatures (intent to receive), durable idempotent storage."""

import json

import httpx
import pytest
import sqlalchemy as sa

from sync_pipeline.domain.tracing import is_trace_id
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
    # the receiver traces the change from its arrival: one trace id per delivery, kept when Xero re-delivers
    assert rows[0].trace_id == rows[1].trace_id and is_trace_id(rows[0].trace_id)
    later = payload([event("inv-3")], seq=3)
    assert post(server, later, sign(later, KEY)).status_code == 200
    assert events.after(rows[1].id)[0].trace_id not in (None, rows[0].trace_id)


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


def _raw_post(server, head: bytes, body: bytes) -> tuple[bytes, float]:
    """Send ``head`` + ``body`` on a socket and stall (never send the rest); the reply and how long it took."""
    import socket
    import time

    host, port = server.httpd.server_address[:2]
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(head + body)
        reply = s.recv(4096)
    return reply, time.monotonic() - started


def test_a_body_that_stalls_short_of_its_content_length_is_cut_off_quickly(tmp_path):
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    app = XeroWebhookApp(EventStore(store), KEY)
    with WebhookServer(app, read_timeout=0.5, body_timeout=1.0) as server:
        head = (b"POST /webhooks/xero HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\nx-xero-signature: x\r\n\r\n")
        reply, took = _raw_post(server, head, b'{"events": [')
        assert reply.startswith(b"HTTP/1.0 408") and took < 5
        assert app.stats["errors"] == 1 and EventStore(store).count() == 0
    store.dispose()


def test_the_default_read_timeouts_are_short():
    from sync_pipeline.webhooks.server import BODY_TIMEOUT, READ_TIMEOUT

    assert READ_TIMEOUT <= 10 and BODY_TIMEOUT <= 20


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON parser's recursion limit
    b'{"events": [{"a": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}]}",  # over the depth limit
    b'{"events": [1, 2]}',
    b'{"events": "x"}',
    b"[]",
    b"\xff\xfe{",
    b'{"events": [{"tenantId": "' + b"t" * 100 + b'", "eventCategory": "INVOICE", "eventType": "UPDATE", '
    b'"resourceId": "r", "eventDateUtc": "2026-10-01T00:00:00"}]}',  # longer than the store's column
    b'{"events": [{"tenantId": {"x": 1}, "eventCategory": "INVOICE", "eventType": "UPDATE", '
    b'"resourceId": "r", "eventDateUtc": "2026-10-01T00:00:00"}]}',
])
def test_a_bad_signed_body_is_a_400_never_a_5xx(receiver, body):
    server, app, events = receiver
    r = post(server, body, sign(body, KEY))
    assert r.status_code == 400, r.status_code
    assert events.count() == 0 and app.stats["errors"] == 1


def test_a_body_over_the_size_limit_is_a_413(tmp_path):
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    with WebhookServer(XeroWebhookApp(EventStore(store), KEY, max_body=1_000)) as server:
        body = payload([event(f"inv-{i}") for i in range(20)])
        assert post(server, body, sign(body, KEY)).status_code == 413
    store.dispose()


def test_during_a_key_rotation_both_keys_are_valid_and_no_third(tmp_path):
    old, new = "old-key-" + "a" * 40, "new-key-" + "b" * 40
    store = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
    app = XeroWebhookApp(EventStore(store), [new, old])
    body = payload([])
    try:
        with WebhookServer(app) as server:
            assert post(server, body, sign(body, new)).status_code == 200
            assert post(server, body, sign(body, old)).status_code == 200  # senders still on the old key
            assert post(server, body, sign(body, "another-key")).status_code == 401
        assert (app.stats["accepted"], app.stats["accepted_previous_key"], app.stats["rejected"]) == (2, 1, 1)
        with pytest.raises(ValueError, match="at most two webhook keys"):
            XeroWebhookApp(EventStore(store), [new, old, "third"])
        single = XeroWebhookApp(EventStore(store), [new, ""])  # XERO_WEBHOOK_KEY_PREVIOUS unset
        assert single.webhook_keys == (new,)
    finally:
        store.dispose()
