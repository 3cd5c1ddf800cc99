"""The workbench's protections, tried as an attacker and a careless user would: in Chromium where a browser
matters (forged cross-origin forms, cookies, sign-out, a changed password, the CSP), over plain HTTP elsewhere."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from sync_pipeline.domain.cash_matching import CashPolicy
from sync_pipeline.store import audit
from sync_pipeline.store import matching_log as ml
from sync_pipeline.store.identity import Identities
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.sessions import Sessions, utcnow
from sync_pipeline.workbench.app import create_app
from sync_pipeline.workbench.auth import UserStore
from sync_pipeline.workbench.security import WorkbenchSecurity
from sync_pipeline.workbench.server import BackgroundServer
from sync_pipeline_tests.clock import Clock
from sync_pipeline_tests.reconciliation.browser import Client, login

PEOPLE = {"alice": "accountant", "victor": "viewer", "carol": "accountant", "dave": "accountant", "erin": "viewer"}


def _password(name: str) -> str:
    return f"{name}-secret-1"


class Bench:
    """A workbench over a fresh store with a few open decisions; stopped when the test module ends."""

    def __init__(self, tmp_path, security: WorkbenchSecurity, people: tuple[str, ...] = tuple(PEOPLE),
                 clock=utcnow) -> None:
        self.store = OperationalStore(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
        self.log = ml.MatchingLog(self.store)
        ids = Identities(self.store)
        for name in people:
            ids.add(name, [PEOPLE[name]], by="pytest", password=_password(name))
        self.ids = self.log.record("acme-uk", "2026-03", [{
            "line_id": f"090:s{i}", "outcome": "exception", "rule": "none", "confidence": 0.1,
            "line_amount_minor": 10000 + i, "line_currency": "GBP", "account": "090", "payer_name": f"Payer {i}",
            "description": "payment", "line_date": "2026-03-05", "reason": "no candidate"} for i in range(3)],
            actor="test run")
        sessions = Sessions(self.store, idle=security.idle_timeout, absolute=security.absolute_timeout,
                            window=security.failure_window, clock=clock)
        self.server = BackgroundServer(create_app(self.log, UserStore(self.store), policy_for=lambda e: CashPolicy(),
                                                  security=security, sessions=sessions)).start()
        self.url = self.server.url

    def comments(self, decision_id: int) -> list[str]:
        return [e["text"] for e in self.log.history(decision_id) if e["action"] == "comment"]

    def stop(self) -> None:
        self.server.stop()
        self.store.dispose()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    b = Bench(tmp_path_factory.mktemp("security"), WorkbenchSecurity(max_failures_per_client=1000))
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="module")
def attacker():
    """Another origin on the same machine (same site, other port): pages that post to the workbench."""
    pages: dict[str, str] = {}

    async def page(request):
        return HTMLResponse(pages[request.path_params["name"]])

    server = BackgroundServer(Starlette(routes=[Route("/{name}", page)])).start()
    try:
        yield server.url, pages
    finally:
        server.stop()


def _signed_in_page(browser, bench, user="alice"):
    context = browser.new_context()
    page = context.new_page()
    login(page, bench.url, user, _password(user))
    return context, page


# -- in the browser -------------------------------------------------------------------------------------------
def test_a_forged_cross_origin_form_is_refused_and_nothing_is_stored(bench, browser, attacker):
    target = bench.ids[0]
    origin, pages = attacker
    pages["forged"] = (f'<form id="f" method="post" action="{bench.url}/decisions/{target}/comment">'
                       '<input name="text" value="approved, pay it"><input name="csrf" value="guessed"></form>'
                       '<script>document.getElementById("f").submit()</script>')
    context, page = _signed_in_page(browser, bench)
    with page.expect_response(f"{bench.url}/decisions/{target}/comment") as sent:
        page.goto(f"{origin}/forged")
    assert sent.value.status == 403
    assert "came from another site" in page.inner_text("#refused")
    assert bench.comments(target) == []
    context.close()


def test_a_same_origin_post_needs_the_pages_csrf_token(bench, browser):
    target = bench.ids[1]
    context, page = _signed_in_page(browser, bench)
    page.goto(f"{bench.url}/decisions/{target}")
    post = """async ([url, token]) => (await fetch(url, {method: "POST", redirect: "manual",
        body: new URLSearchParams(token ? {text: "with the token", csrf: token} : {text: "without a token"})})).status"""
    url = f"/decisions/{target}/comment"
    assert page.evaluate(post, [url, None]) == 403
    token = page.get_attribute("#comment-form input[name=csrf]", "value")
    assert page.evaluate(post, [url, token]) == 0  # the 303 to the decision page (an opaque redirect)
    assert bench.comments(target) == ["with the token"]
    context.close()


def test_the_session_cookie_is_secure_httponly_strict_and_bounded(bench, browser):
    context, page = _signed_in_page(browser, bench)
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["__Host-workbench"]
    assert (session["secure"], session["httpOnly"], session["sameSite"], session["path"]) == (True, True, "Strict",
                                                                                              "/")
    assert session["expires"] - time.time() <= 12 * 3600 + 5  # not the old 14 days
    assert "workbench" not in page.evaluate("document.cookie")  # out of reach of scripts
    context.close()


def test_signing_out_revokes_the_session_server_side(bench, browser):
    context, page = _signed_in_page(browser, bench)
    stolen = context.cookies()
    page.click("#sign-out")
    page.wait_for_url(f"{bench.url}/login")
    replay = browser.new_context()
    replay.add_cookies(stolen)  # the cookie as it was before signing out, replayed
    page2 = replay.new_page()
    page2.goto(f"{bench.url}/exceptions")
    assert page2.url.startswith(f"{bench.url}/login")
    replay.close()
    context.close()


def test_a_new_password_ends_the_open_sessions(bench, browser):
    context, page = _signed_in_page(browser, bench, "carol")
    Identities(bench.store).set_password("carol", "carol-new-secret", by="admin")
    page.goto(f"{bench.url}/exceptions")
    assert page.url.startswith(f"{bench.url}/login")
    login(page, bench.url, "carol", "carol-new-secret")
    context.close()


def test_pages_work_under_the_content_security_policy(bench, browser):
    context, page = _signed_in_page(browser, bench)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    for path in ("/exceptions?status=all", f"/decisions/{bench.ids[2]}", "/templates"):
        page.goto(f"{bench.url}{path}")
    page.goto(f"{bench.url}/exceptions")
    page.click("#select-all")  # the script comes from /static, as the policy requires
    assert page.locator("input[name=ids]").count() >= 1
    assert all(page.locator("input[name=ids]").evaluate_all("cs => cs.map(c => c.checked)"))
    assert page.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"
    assert violations == []
    context.close()


def test_the_workbench_cannot_be_framed(bench, browser, attacker):
    origin, pages = attacker
    pages["frame"] = f'<iframe id="wb" src="{bench.url}/login"></iframe>'
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{origin}/frame")
    page.wait_for_timeout(500)
    frame = next((f for f in page.frames if f.url.startswith(bench.url)), None)
    assert frame is None or frame.locator("#sign-in").count() == 0
    context.close()


# -- over HTTP --------------------------------------------------------------------------------------------------
def test_every_response_carries_the_security_headers(bench):
    with Client(bench.url) as c:
        responses = [c.get("/login"), c.get("/static/workbench.css"), c.get("/static/nothing"),
                     c.post("/login", {"username": "x"}, headers={"origin": "https://evil.example"})]
        c.sign_in("alice", _password("alice"))
        responses += [c.get("/exceptions"), c.get(f"/decisions/{bench.ids[0]}")]
    for r in responses:
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], r.url
        assert "'unsafe-inline'" not in r.headers["content-security-policy"]
        assert (r.headers["x-content-type-options"], r.headers["x-frame-options"]) == ("nosniff", "DENY")
        assert r.headers["referrer-policy"] == "same-origin" and r.headers["cache-control"] == "no-store"


def test_redirects_never_leave_the_workbench(bench):
    with Client(bench.url) as c:
        for nxt, lands in [("//evil.example/x", "/exceptions"), ("/\\evil.example", "/exceptions"),
                           ("https://evil.example", "/exceptions"), (f"/decisions/{bench.ids[0]}",
                                                                     f"/decisions/{bench.ids[0]}")]:
            token = c.get(f"/login?next={nxt}")
            assert "evil" not in token.text or nxt.startswith("/decisions")
            r = c.post("/login", {"username": "alice", "password": _password("alice"), "next": nxt},
                       csrf_from="/login")
            assert r.headers["location"] == lands, nxt
        # a write sent back "where it came from": the Referer counts only when it is the workbench itself
        r = c.post(f"/decisions/{bench.ids[0]}/comment", {"text": "noted"}, csrf_from="/exceptions",
                   headers={"referer": "https://evil.example/phish"})
        assert r.headers["location"] == f"/decisions/{bench.ids[0]}"


def test_wrong_passwords_are_throttled_the_same_for_known_and_unknown_users(bench):
    for name in ("dave", "nobody-here"):
        with Client(bench.url) as c:
            statuses = [c.sign_in(name, "guess-1234").status_code for _ in range(8)]
            assert statuses == [401] * 5 + [429] * 3, name
            locked = c.sign_in(name, _password(name))  # even the right password waits
            assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 14 * 60
            assert "Too many failed sign-ins" in locked.text
    events = [e.action for e in audit.events(bench.store, stream=audit.ACCESS, actor="dave")]
    assert events.count("workbench_login_failed") == 5 and "workbench_login_throttled" in events


def test_unknown_users_cost_the_same_as_known_ones(bench):
    def took(name: str) -> float:
        with Client(bench.url) as c:
            c.get("/login")
            t = time.perf_counter()
            assert c.sign_in(name, "not-the-password").status_code == 401
            return time.perf_counter() - t

    known = [took("erin") for _ in range(3)]
    unknown = [took(f"ghost-{i}") for i in range(3)]
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2, (known, unknown)  # both verify an argon2 hash (was: unknown names answered at once)


def test_views_of_financial_data_are_in_the_access_log(bench):
    with Client(bench.url) as c:
        c.sign_in("erin", _password("erin"))
        c.get("/exceptions?status=all&text=payer")
        c.get(f"/decisions/{bench.ids[2]}")
    seen = [(e.action, e.subject, e.entity, e.detail.get("mode")) for e in
            audit.events(bench.store, stream=audit.ACCESS, actor="erin")]
    assert seen[-3:] == [("workbench_login", None, None, None),
                         ("workbench_page", "/exceptions?status=all&text=payer", None, "view"),
                         ("workbench_page", f"/decisions/{bench.ids[2]}", "acme-uk", "view")]
    assert audit.verify(bench.store) == []


@pytest.mark.parametrize("path", ["/exceptions?min=inf", "/exceptions?max=1e400", "/exceptions?min=abc",
                                  "/exceptions?min=NaN", "/exceptions?max=-0x10"])
def test_bad_filter_amounts_are_400(bench, path):
    with Client(bench.url) as c:
        c.sign_in("alice", _password("alice"))
        r = c.get(path)
    assert r.status_code == 400 and "is not an amount such as 120.50" in r.text


def test_bad_ids_are_400_or_404_never_500(bench):
    with Client(bench.url) as c:
        c.sign_in("alice", _password("alice"))
        for ids in (["abc"], ["1e3"], ["99999999999999999999999"], ["-1"]):
            r = c.post("/decisions/bulk", {"ids": ids, "action": "accept"}, csrf_from="/exceptions")
            assert r.status_code == 400 and "is not a decision number" in r.text, ids
        r = c.post("/decisions/bulk", {"ids": [str(bench.ids[0])], "action": "pay-everyone"}, csrf_from="/exceptions")
        assert r.status_code == 400
        assert c.get("/decisions/99999999999999999999999").status_code == 400
        assert c.post("/templates/99999999999999999999999/apply", {"accounts": "090"},
                      csrf_from="/templates").status_code == 400


@settings(max_examples=60, deadline=None)
@given(params=st.dictionaries(st.sampled_from(["entity", "status", "outcome", "account", "text", "min", "max"]),
                              st.text(max_size=24), max_size=4))
def test_no_filter_makes_the_exceptions_page_fail(signed_in_client, params):
    r = signed_in_client.get("/exceptions", params=params)
    assert r.status_code in (200, 400), (params, r.status_code)


@pytest.fixture(scope="module")
def signed_in_client(bench):
    with Client(bench.url) as c:
        c.sign_in("victor", _password("victor"))
        yield c


def test_idle_and_old_sessions_end_and_failures_from_one_client_are_throttled(tmp_path):
    clock = Clock()
    b = Bench(tmp_path, WorkbenchSecurity(idle_timeout=timedelta(minutes=30), absolute_timeout=timedelta(hours=12),
                                          max_failures_per_client=3), people=("alice",), clock=clock)
    try:
        with Client(b.url) as idle, Client(b.url) as busy:
            for c in (idle, busy):
                assert c.sign_in("alice", _password("alice")).status_code == 303
            for _ in range(24):  # a page every 29 minutes keeps a session alive, for 12 hours at most
                clock.advance(minutes=29)
                assert busy.get("/exceptions").status_code == 200
            assert idle.get("/exceptions").headers["location"].startswith("/login")
            clock.advance(minutes=29)
            assert busy.get("/exceptions").headers["location"].startswith("/login")
        with Client(b.url) as c:  # one address trying many names
            assert [c.sign_in(n, "guess-1234").status_code for n in ("u1", "u2", "u3", "u4")] == [401] * 3 + [429]
    finally:
        b.stop()
