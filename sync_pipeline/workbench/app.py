"""The accountants' workbench: a small web app over the cash-matching exceptions.

Starlette (already in the stack through Dagster's webserver) with server-rendered Jinja2 pages and
plain HTML forms: filter the exceptions, select rows and accept or reject their proposals in bulk,
comment with a history, create rule templates and apply them across bank accounts. Decisions go
through ``services.cash_review`` into the matching log; accepted matches are settled at once when the
app has a settler (the accounting system configured), else by the next ``cash_settlement`` run.
Sign-in with a users file and roles (``workbench.auth``); every write checks the role.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from sync_pipeline.domain.cash_matching import CashPolicy
from sync_pipeline.domain.money import from_minor
from sync_pipeline.services import cash_review
from sync_pipeline.store import matching_log as ml
from sync_pipeline.workbench.auth import User, UserStore
from sync_pipeline.workbench.templates import TEMPLATES

FILTER_KEYS = ("entity", "status", "outcome", "account", "text", "min", "max")


def money(minor: Any, ccy: str | None) -> str:
    if minor is None or ccy is None:
        return ""
    try:
        return f"{from_minor(int(minor), ccy):,} {ccy}"
    except Exception:
        return f"{minor} (minor units) {ccy}"


def create_app(log: ml.MatchingLog, users: UserStore, *, policy_for: Callable[[str], CashPolicy],
               settler: Callable[[str], cash_review.Settler | None] | None = None,
               secret_key: str | None = None) -> Starlette:
    """``policy_for(entity)`` gives an entity's policy; ``settler(entity)`` a settler or None."""
    env = Environment(loader=DictLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["money"] = lambda minor, ccy: money(minor, ccy)
    env.filters["pct"] = lambda p: "" if p is None else f"{float(p):.3f}"

    def user_of(request: Request) -> User | None:
        name = request.session.get("user")
        role = users.role_of(name) if name else None
        return User(name, role) if name and role else None

    def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        flash = request.session.pop("flash", None)
        html = env.get_template(name).render(user=user_of(request), flash=flash, **ctx)
        return HTMLResponse(html, status_code=status_code)

    def need(request: Request, permission: str) -> User | Response:
        u = user_of(request)
        if u is None:
            return RedirectResponse(f"/login?{urlencode({'next': str(request.url.path)})}", status_code=303)
        if not u.may(permission):
            return render(request, "forbidden.html", status_code=403, permission=permission)
        return u

    def back(request: Request, fallback: str, message: str) -> RedirectResponse:
        request.session["flash"] = message
        return RedirectResponse(request.headers.get("referer") or fallback, status_code=303)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return render(request, "login.html", next=request.query_params.get("next", "/exceptions"))
        form = await request.form()
        u = users.authenticate(str(form.get("username", "")), str(form.get("password", "")))
        if u is None:
            return render(request, "login.html", status_code=401, error="Unknown user or wrong password.",
                          next=form.get("next", "/exceptions"))
        request.session["user"] = u.name
        nxt = str(form.get("next") or "/exceptions")
        return RedirectResponse(nxt if nxt.startswith("/") else "/exceptions", status_code=303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def home(request: Request) -> Response:
        return RedirectResponse("/exceptions", status_code=303)

    async def exceptions(request: Request) -> Response:
        u = need(request, "view")
        if isinstance(u, Response):
            return u
        q = request.query_params
        f = {k: q.get(k, "") for k in FILTER_KEYS}
        f["status"] = f["status"] or "open"

        def minor(v: str) -> int | None:
            try:
                return int(round(float(v) * 100)) if v else None
            except ValueError:
                return None

        rows = log.decisions(entity=f["entity"] or None, statuses=None if f["status"] == "all" else [f["status"]],
                             outcomes=[f["outcome"]] if f["outcome"] else None, account=f["account"] or None,
                             text=f["text"] or None, min_amount_minor=minor(f["min"]), max_amount_minor=minor(f["max"]),
                             limit=500)
        accounts = sorted({r["account"] for r in log.decisions(statuses=[ml.OPEN], limit=100_000) if r["account"]})
        return render(request, "exceptions.html", rows=rows, f=f, counts=log.counts(f["entity"] or None),
                      accounts=accounts, templates=log.templates())

    async def detail(request: Request) -> Response:
        u = need(request, "view")
        if isinstance(u, Response):
            return u
        d = log.decision(int(request.path_params["id"]))
        if d is None:
            return render(request, "forbidden.html", status_code=404, permission="see a decision that does not exist")
        return render(request, "decision.html", d=d, history=log.history(d["decision_id"]),
                      same_line=log.by_line(d["line_id"]))

    async def bulk_action(request: Request) -> Response:
        u = need(request, "decide")
        if isinstance(u, Response):
            return u
        form = await request.form()
        ids = [int(x) for x in form.getlist("ids")]
        action = str(form.get("action", ""))
        if not ids:
            return back(request, "/exceptions", "Select at least one row first.")
        by_entity: dict[str, list[int]] = {}
        for i in ids:
            d = log.decision(i)
            if d is not None:
                by_entity.setdefault(d["entity"], []).append(i)
        done, errors, settled = [], {}, 0
        for entity, its in by_entity.items():
            res = cash_review.bulk(log, its, action, actor=u.name, role=u.role, policy=policy_for(entity),
                                   comment_text=str(form.get("comment") or "") or None,
                                   settler=settler(entity) if settler else None)
            done += res["done"]
            errors.update(res["errors"])
            settled += (res["settlement"] or {}).get("settled", 0)
        msg = f"{action}ed {len(done)} decision(s)" + (f", {settled} settled in the accounting system" if settled else "")
        if errors:
            msg += "; not done: " + "; ".join(f"#{k}: {v}" for k, v in errors.items())
        return back(request, "/exceptions", msg)

    async def decide_one(request: Request) -> Response:
        u = need(request, "decide")
        if isinstance(u, Response):
            return u
        i = int(request.path_params["id"])
        form = await request.form()
        d = log.decision(i)
        if d is None:
            return back(request, "/exceptions", f"No decision {i}.")
        try:
            if form.get("action") == "accept":
                cash_review.accept(log, i, actor=u.name, role=u.role, policy=policy_for(d["entity"]),
                                   invoice_id=str(form.get("invoice_id") or "") or None,
                                   comment=str(form.get("comment") or "") or None)
                s = settler(d["entity"]) if settler else None
                res = s([i], u.name, u.role) if s else None
                msg = "Accepted" + (" and settled in the accounting system" if res and res.get("settled") else
                                    "; the next cash_settlement run applies it")
            else:
                cash_review.reject(log, i, actor=u.name, role=u.role, comment=str(form.get("comment") or "") or None)
                msg = "Rejected; this pairing will not be proposed again"
        except cash_review.ReviewError as e:
            msg = f"Not done: {e}"
        return back(request, f"/decisions/{i}", msg)

    async def add_comment(request: Request) -> Response:
        u = need(request, "comment")
        if isinstance(u, Response):
            return u
        i = int(request.path_params["id"])
        form = await request.form()
        try:
            cash_review.comment(log, i, actor=u.name, role=u.role, text=str(form.get("text") or ""))
            msg = "Comment added"
        except cash_review.ReviewError as e:
            msg = f"Not added: {e}"
        return back(request, f"/decisions/{i}", msg)

    async def templates(request: Request) -> Response:
        u = need(request, "view")
        if isinstance(u, Response):
            return u
        if request.method == "POST":
            u = need(request, "create_template")
            if isinstance(u, Response):
                return u
            form = await request.form()
            kind = str(form.get("kind"))
            params: dict[str, Any] = ({"payer_contains": str(form.get("payer_contains") or ""),
                                       "contact_id": str(form.get("contact_id") or "")} if kind == "payer_alias" else
                                      {"max_amount": str(form.get("max_amount") or ""),
                                       "account": str(form.get("writeoff_account") or "") or None})
            try:
                tid = cash_review.create_template(log, str(form.get("name") or kind), kind, params, actor=u.name)
                msg = f"Template #{tid} created"
            except cash_review.ReviewError as e:
                msg = f"Not created: {e}"
            return back(request, "/templates", msg)
        open_rows = log.decisions(statuses=[ml.OPEN], limit=100_000)
        accounts = sorted({r["account"] for r in open_rows if r["account"]})
        contacts = sorted({(c["contact_id"], c.get("contact_name") or "") for r in open_rows for c in r["candidates"]
                           if c.get("contact_id")}, key=lambda c: (c[1], c[0]))
        return render(request, "templates.html", templates=log.templates(), accounts=accounts, contacts=contacts)

    async def apply(request: Request) -> Response:
        u = need(request, "apply_template")
        if isinstance(u, Response):
            return u
        form = await request.form()
        tid = int(request.path_params["id"])
        accounts = [str(a) for a in form.getlist("accounts")]
        try:
            res = cash_review.apply_template(log, tid, accounts, actor=u.name, role=u.role, policy_for=policy_for,
                                             settler_for=settler)
            settled, failed = ((res["settlement"] or {}).get(k, 0) for k in ("settled", "failed"))
            msg = (f"Template #{tid} accepted {len(res['accepted'])} decision(s) across {', '.join(accounts)}"
                   + (f", {settled} settled in the accounting system" if settled else "")
                   + (f", {failed} refused by the accounting system (status failed: see each decision's history)"
                      if failed else ""))
            if res["skipped"]:
                shown = list(res["skipped"].items())[:10]
                msg += (f"; {len(res['skipped'])} left for a person: " + "; ".join(f"#{k}: {v}" for k, v in shown)
                        + ("; …" if len(res["skipped"]) > len(shown) else ""))
        except cash_review.ReviewError as e:
            msg = f"Not applied: {e}"
        return back(request, "/templates", msg)

    routes = [
        Route("/", home), Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"]),
        Route("/exceptions", exceptions), Route("/decisions/bulk", bulk_action, methods=["POST"]),
        Route("/decisions/{id:int}", detail), Route("/decisions/{id:int}/decide", decide_one, methods=["POST"]),
        Route("/decisions/{id:int}/comment", add_comment, methods=["POST"]),
        Route("/templates", templates, methods=["GET", "POST"]),
        Route("/templates/{id:int}/apply", apply, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[
        Middleware(SessionMiddleware, secret_key=secret_key or secrets.token_hex(32), same_site="strict",
                   session_cookie="workbench_session")])
