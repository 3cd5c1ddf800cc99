"""The v3 client against the fake company: minorversion, requestid, the query language, batches, CDC, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sync_pipeline.connectors.http import RateLimitError, TransientError
from sync_pipeline.connectors.qbo import client as client_mod
from sync_pipeline.connectors.qbo.client import MAX_BATCH, BatchItem, quote, request_id
from sync_pipeline.connectors.qbo.faults import Fault, QboFault, StaleObject
from sync_pipeline_tests.connectors.qbo.conftest import make_client
from sync_pipeline_tests.connectors.qbo.fake_qbo import NOW, FakeQbo, body_of, fault, qs

NOW_DT = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


def _api(fake: FakeQbo) -> list[httpx.Request]:
    return [r for r in fake.requests if "/v3/company/" in r.url.path]


def test_every_call_pins_minorversion_and_every_write_carries_a_deterministic_requestid(client, fake) -> None:
    client.query("SELECT * FROM Account")
    client.create("Customer", {"DisplayName": "Acme [HV-1]"}, "customer-HV-1")
    client.batch([BatchItem("Customer", {"DisplayName": "B [HV-2]"})], "batch-key")
    api = _api(fake)
    assert all(qs(r)["minorversion"] == ["75"] for r in api)
    assert "requestid" not in qs(api[0])
    assert qs(api[1])["requestid"] == [request_id("customer-HV-1")]
    assert len(qs(api[2])["requestid"][0]) <= 36  # Intuit: at most 36 characters for a batch
    assert all(len(i["bId"]) <= 10 for i in body_of(api[2])["BatchItemRequest"])
    assert request_id("k") == request_id("k") != request_id("k2")


def test_a_write_repeated_after_a_lost_answer_is_replayed_not_duplicated(client, fake) -> None:
    lost = []

    def drop_first_answer(request: httpx.Request):
        if request.method == "POST" and request.url.path.endswith("/customer") and not lost:
            lost.append(fake._route("POST", "customer", request.url.params, request.content))  # done, answer lost
            fake.replays[request.url.params["requestid"]] = (200, httpx.Response(200, json=lost[0][1]).content)
            raise httpx.ReadTimeout("answer lost", request=request)
        return None

    fake.scripted.append(drop_first_answer)
    made = client.create("Customer", {"DisplayName": "Acme [HV-1]"}, "customer-HV-1")
    assert len(fake.objects["Customer"]) == 1 and made["Id"] in fake.objects["Customer"]


def test_quotes_in_values_are_escaped_and_a_backslash_is_refused(client, fake) -> None:
    fake.add("Customer", {"DisplayName": "O'Brien & Sons [HV-7]"})
    assert quote("O'Brien") == "'O\\'Brien'"
    rows = client.query(f"SELECT * FROM Customer WHERE DisplayName = {quote(chr(79) + chr(39) + 'Brien & Sons [HV-7]')}")
    assert [r["DisplayName"] for r in rows] == ["O'Brien & Sons [HV-7]"]
    with pytest.raises(ValueError, match="no escape"):
        quote("a\\b")


def test_queries_page_until_a_short_page(client, fake, monkeypatch) -> None:
    monkeypatch.setattr(client_mod, "QUERY_PAGE", 2)
    for n in range(5):
        fake.add("Customer", {"DisplayName": f"C{n}"})
    assert len(client.query("SELECT * FROM Customer")) == 5
    starts = [qs(r)["query"][0].split("STARTPOSITION ")[1] for r in _api(fake)]
    assert starts == ["1 MAXRESULTS 2", "3 MAXRESULTS 2", "5 MAXRESULTS 2"]


def test_a_batch_answers_per_item_in_the_order_sent_whatever_the_answer_order(client, fake) -> None:
    def reversed_answer(request: httpx.Request):
        if not request.url.path.endswith("/batch"):
            return None
        items = body_of(request)["BatchItemRequest"]
        out = [{"bId": items[0]["bId"], "Customer": {"Id": "1", "DisplayName": "A"}},
               {"bId": items[1]["bId"], **fault("6240", "Duplicate Name Exists Error")}]
        return httpx.Response(200, json={"BatchItemResponse": out[::-1], "time": NOW})

    fake.scripted.append(reversed_answer)
    a, b = client.batch([BatchItem("Customer", {"DisplayName": "A"}), BatchItem("Customer", {"DisplayName": "A"})],
                        "k")
    assert a == {"Id": "1", "DisplayName": "A"}
    assert isinstance(b, Fault) and b.codes == {"6240"}


def test_a_batch_is_at_most_thirty_and_counts_against_the_batch_limit(client) -> None:
    with pytest.raises(ValueError, match="at most 30"):
        client.batch([BatchItem("Customer", {})] * (MAX_BATCH + 1), "k")
    client.batch([BatchItem("Customer", {"DisplayName": "x"})], "k")
    assert client.batch_calls == 1 and client.batch_limiter.stats.requests == 1


def test_a_fault_inside_http_200_raises_its_class(client, fake) -> None:
    fake.scripted.append(lambda r: httpx.Response(200, json=fault("2050", "String length is invalid"))
                         if "/v3/" in r.url.path else None)
    with pytest.raises(QboFault, match="2050"):
        client.query("SELECT * FROM Account")


def test_throttling_pauses_everyone_for_the_documented_minute(fake) -> None:
    client = make_client(fake, max_attempts=1)
    client.auth.bearer()
    throttled = fault("3001", "message=ThrottleExceeded; errorCode=003001; statusCode=429")
    fake.scripted.append(lambda r: httpx.Response(429, json=throttled) if "/v3/" in r.url.path else None)
    with pytest.raises(RateLimitError) as e:
        client.query("SELECT * FROM Account")
    assert e.value.retry_after == 60.0
    assert client.http.limiter.stats.server_pauses == 1


def test_a_server_error_is_transient(fake) -> None:
    client = make_client(fake, max_attempts=1)
    fake.scripted.append(lambda r: httpx.Response(503, text="Service Unavailable") if "/v3/" in r.url.path else None)
    with pytest.raises(TransientError):
        client.query("SELECT * FROM Account")


def test_a_stale_synctoken_rereads_and_retries_once_with_a_new_requestid(client, fake) -> None:
    inv = fake.add("Customer", {"DisplayName": "Old"})

    def someone_edits_first(request: httpx.Request):
        if request.method == "POST" and request.url.path.endswith("/customer"):
            inv["SyncToken"] = "7"  # edited in QuickBooks between our read and our write
            return None
        return None

    fake.scripted.append(someone_edits_first)
    out = client.update("Customer", inv["Id"], {"DisplayName": "New"}, "rename")
    assert out["DisplayName"] == "New" and out["SyncToken"] == "8"
    writes = [r for r in _api(fake) if r.method == "POST"]
    assert [body_of(r)["SyncToken"] for r in writes] == ["0", "7"]
    assert qs(writes[0])["requestid"] != qs(writes[1])["requestid"]


def test_a_stale_synctoken_twice_is_permanent(client, fake) -> None:
    inv = fake.add("Customer", {"DisplayName": "Old"})
    for _ in range(2):
        fake.scripted.append(lambda r: httpx.Response(400, json=fault("5010", "Stale Object Error"))
                             if r.method == "POST" and "/v3/" in r.url.path else None)
    with pytest.raises(StaleObject):
        client.update("Customer", inv["Id"], {"DisplayName": "New"}, "rename")


def test_changes_come_from_cdc_inside_its_window_and_from_a_query_beyond(client, fake) -> None:
    fake.add("Invoice", {"CustomerRef": {"value": "1"}, "TxnDate": "2026-11-01", "Line": []})
    assert len(list(client.changed_since("Invoice", NOW_DT - timedelta(days=2), now=NOW_DT))) == 1
    assert _api(fake)[-1].url.path.endswith("/cdc")
    assert qs(_api(fake)[-1])["entities"] == ["Invoice"]
    # stamps have whole seconds: CDC is asked from the second before, the query at or after
    assert len(list(client.changed_since("Invoice", NOW_DT - timedelta(days=2, microseconds=-500), now=NOW_DT))) == 1
    assert qs(_api(fake)[-1])["changedSince"] == ["2026-11-22T17:59:59Z"]
    assert len(list(client.changed_since("Invoice", NOW_DT - timedelta(days=31), now=NOW_DT))) == 1
    last = qs(_api(fake)[-1])["query"][0]
    assert last.startswith("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '2026-10-24T18:00:00Z'")
    list(client.changed_since("Invoice", None, now=NOW_DT))
    assert qs(_api(fake)[-1])["query"][0].startswith("SELECT * FROM Invoice ORDERBY")


def test_a_full_cdc_answer_falls_back_to_the_query(client, fake, monkeypatch) -> None:
    monkeypatch.setattr(client_mod, "CDC_MAX_OBJECTS", 2)
    for n in range(3):
        fake.add("Invoice", {"CustomerRef": {"value": "1"}, "TxnDate": "2026-11-01", "Line": [], "DocNumber": str(n)})
    assert len(list(client.changed_since("Invoice", NOW_DT - timedelta(days=1), now=NOW_DT))) == 3
    assert [r.url.path.rsplit("/", 1)[1] for r in _api(fake)] == ["cdc", "query"]
