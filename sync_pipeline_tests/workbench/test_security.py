"""The workbench's redirect and origin rules: only paths of the workbench itself, whatever a request carries."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sync_pipeline.workbench.security import WorkbenchSecurity, is_loopback, local_referer, origin_of, safe_path

SITE = "https://wb.example"


@pytest.mark.parametrize("target", [
    "//evil.example", "//evil.example/exceptions", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
    "/\n/evil.example", " /exceptions", "https://evil.example/", "javascript:alert(1)", "evil.example", "",
    "///evil.example", "/%09/evil.example\\x",
])
def test_next_never_leaves_the_workbench(target):
    assert safe_path(target, "/exceptions") == "/exceptions"


@pytest.mark.parametrize("target", ["/exceptions?status=open&text=acme", "/decisions/12", "/templates#new"])
def test_next_keeps_a_path_of_the_workbench(target):
    assert safe_path(target, "/exceptions") == target


@given(st.text(max_size=40))
@example("/\u3000/evil.example")
@example("/.//evil.example")
def test_whatever_next_says_the_browser_stays_on_the_site(target):
    got = safe_path(target, "/exceptions")
    # resolved as a browser resolves a Location header, it stays on the workbench's own host
    assert urlsplit(urljoin(f"{SITE}/login", got)).netloc == "wb.example"
    assert got == "/exceptions" or got == target


def test_a_referer_from_elsewhere_is_ignored():
    own = {SITE}
    assert local_referer(f"{SITE}/decisions/3?x=1", own, "/exceptions") == "/decisions/3?x=1"
    assert local_referer("https://evil.example/decisions/3", own, "/exceptions") == "/exceptions"
    assert local_referer("http://wb.example/decisions/3", own, "/exceptions") == "/exceptions"  # not https
    assert local_referer("not a url", own, "/exceptions") == "/exceptions"
    assert local_referer(None, own, "/exceptions") == "/exceptions"


def test_origins_and_loopback():
    assert origin_of("HTTPS://WB.example:8443/x?y") == "https://wb.example:8443"
    assert origin_of("null") is None and origin_of("file:///etc/passwd") is None
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.5", "wb.example"))
    assert WorkbenchSecurity().session_cookie == "__Host-workbench"
    assert WorkbenchSecurity(secure_cookies=False).session_cookie == "workbench_session"


def test_cookies_without_secure_only_on_a_loopback_address(monkeypatch):
    from sync_pipeline.workbench.server import security_from_env

    assert security_from_env(insecure_cookies=True, host="127.0.0.1").secure_cookies is False
    assert security_from_env(host="0.0.0.0").secure_cookies is True
    with pytest.raises(ValueError, match="loopback"):
        security_from_env(insecure_cookies=True, host="0.0.0.0")
    monkeypatch.setenv("SYNC_PIPELINE_WORKBENCH_IDLE_MINUTES", "inf")
    with pytest.raises(ValueError, match="SYNC_PIPELINE_WORKBENCH_IDLE_MINUTES"):
        security_from_env()
    monkeypatch.setenv("SYNC_PIPELINE_WORKBENCH_IDLE_MINUTES", "10")
    monkeypatch.setenv("SYNC_PIPELINE_WORKBENCH_ORIGIN", "https://wb.example, https://wb2.example")
    cfg = security_from_env()
    assert cfg.idle_timeout.total_seconds() == 600 and cfg.origins == ("https://wb.example", "https://wb2.example")
