"""Plain HTTP only to this machine: every URL a connector calls is https or loopback, checked per request."""

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_pipeline.connectors.http import HttpClient
from sync_pipeline.connectors.transport import InsecureTransport, is_local_host, require_secure
from sync_pipeline.connectors.xero import XeroClient


@pytest.mark.parametrize("url", ["https://api.harvestapp.com", "https://identity.xero.com/connect/token",
                                 "http://127.0.0.1:8710", "http://localhost:8720/api", "http://[::1]:9000",
                                 "http://127.8.9.10", "http://sandbox.localhost:1"])
def test_https_and_this_machine_pass(url):
    assert require_secure(url) == url


@pytest.mark.parametrize("url, says", [
    ("http://api.harvestapp.com", "plain HTTP to another machine"),
    ("http://10.0.0.5:8710", "plain HTTP to another machine"),
    ("http://localhost.evil.example", "plain HTTP to another machine"),
    ("api.xero.com", "not an https:// URL"),
    ("ftp://files.example", "not an https:// URL"),
    ("https://", "not an https:// URL"),
])
def test_anything_else_is_refused_saying_why(url, says):
    with pytest.raises(InsecureTransport, match=says):
        require_secure(url, "XERO_BASE_URL")


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}\.(com|net|io|example)", fullmatch=True))
def test_no_public_name_counts_as_this_machine(host):
    assert not is_local_host(host)
    with pytest.raises(InsecureTransport):
        require_secure(f"http://{host}/v2")


@given(st.ip_addresses(v=4).filter(lambda ip: not ip.is_loopback))
def test_no_other_address_counts_as_this_machine(ip):
    with pytest.raises(InsecureTransport):
        require_secure(f"http://{ip}:8080/")


def test_the_http_layer_refuses_a_clear_text_request_before_it_is_sent():
    sent = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200, json={}))
    with HttpClient(system="harvest", base_url="http://api.harvestapp.com", transport=transport,
                    max_attempts=1) as http, pytest.raises(InsecureTransport, match="api.harvestapp.com"):
        http.json("GET", "/v2/users/me")
    with HttpClient(system="x", base_url="https://api.example.test", transport=transport, max_attempts=1) as http:
        with pytest.raises(InsecureTransport):  # an absolute URL of one request is checked too
            http.json("GET", "http://elsewhere.example.test/leak")
        assert http.json("GET", "/fine") == {}
    assert [str(r.url) for r in sent] == ["https://api.example.test/fine"]


def test_a_clear_text_token_url_never_receives_the_client_secret():
    sent = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200, json={"access_token": "t"}))
    client = XeroClient("https://api.xero.com", "cid", "very-secret", "tenant",
                        token_url="http://identity.example.test/connect/token", transport=transport, max_attempts=1)
    try:
        with pytest.raises(InsecureTransport, match="identity.example.test"):
            client._bearer()
    finally:
        client.close()
    assert sent == []
