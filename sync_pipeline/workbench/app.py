"""The accountants' workbench: a small web app over the cash-matching exceptions.

Starlette (already in the stack through Dagster's webserver) with server-rendered Jinja2 pages and
plain HTML forms: filter the exceptions, select rows and accept or reject their proposals in bulk,
comment with a history, create rule templates and apply them across bank accounts, and review the invoice
plans awaiting four-eyes approval (approve or reject them: ``store.approvals``). Decisions go
through ``services.cash_review`` into the matching log; accepted matches are settled at once when the
app has a settler (the accounting system configured), else by the next ``cash_settlement`` run.

People sign in against the project's identities (``workbench.auth``: ``authenticate(name, password)``);
sessions live server-side (``store.sessions``) and end at sign-out, on a new password, and after the
idle and absolute timeouts; every write checks the role, the CSRF token and the origin
(``workbench.security``).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from sync_pipeline.domain.cash_matching import CashPolicy
from sync_pipeline.domain.money import from_minor
from sync_pipeline.services import cash_review
from sync_pipeline.services.dead_letters import PostingEnv
from sync_pipeline.store import audit
from sync_pipeline.store import matching_log as ml
from sync_pipeline.store.approvals import ApprovalError, PlanApprovals
from sync_pipeline.store.sessions import Session, Sessions
from sync_pipeline.store.sync_resolutions import SyncResolutions
from sync_pipeline.store.warehouse import Warehouse
from sync_pipeline.workbench import sync_pages
from sync_pipeline.workbench.auth import User, UserStore
from sync_pipeline.workbench.health import HealthSource
from sync_pipeline.workbench.health import page as health_page
from sync_pipeline.workbench.health_page import HEALTH_STATIC, HEALTH_TEMPLATES
from sync_pipeline.workbench.security import (
    Hardened,
    WorkbenchSecurity,
    allowed_origins,
    local_referer,
    safe_path,
)
from sync_pipeline.workbench.templates import STATIC, TEMPLATES

FILTER_KEYS = ("entity", "status", "outcome", "account", "text", "min", "max")
_AMOUNT = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,2})?")
_ID = re.compile(r"[0-9]{1,15}")
MAX_ID = 2**53  # larger ids exist nowhere (and overflow the store's integers)


class BadRequest(ValueError):
    """A parameter the workbench cannot use: answered with 400 and the message."""


def money(minor: Any, ccy: str | None) -> str:
    if minor is None or ccy is None:
        return ""
    try:
        return f"{from_minor(int(minor), ccy):,} {ccy}"
    except Exception:
        return f"{minor} (minor units) {ccy}"


def amount_param(label: str, value: str) -> int | None:
    """A filter amount (``120.50``) in minor units, or None when empty."""
    v = value.strip()
    if not v:
        return None
    if not _AMOUNT.fullmatch(v):
        raise BadRequest(f"{label}: {v[:40]!r} is not an amount such as 120.50 (digits, at most two decimals)")
    return int(Decimal(v) * 100)


def id_param(label: str, value: Any) -> int:
    v = str(value).strip()
    if not _ID.fullmatch(v) or int(v) > MAX_ID:
        raise BadRequest(f"{label}: {v[:40]!r} is not a decision number")
    return int(v)


def create_app(log: ml.MatchingLog, users: UserStore, *, policy_for: Callable[[str], CashPolicy],
               settler: Callable[[str], cash_review.Settler | None] | None = None,
               security: WorkbenchSecurity | None = None, sessions: Sessions | None = None,
               warehouse: Warehouse | None = None, health: HealthSource | None = None,
               posting: PostingEnv | None = None) -> Starlette:
    """``policy_for(entity)`` gives an entity's policy; ``settler(entity)`` a settler or None; ``warehouse`` the
    sync reconciliations' (their exceptions are listed beside the cash exceptions; none without it); ``health``
    where the billing-health page reads its KPIs (without it, the page says so); ``posting`` where a sync
    exception's re-post posts (without it, re-posts are refused with the reason)."""
    cfg = security or WorkbenchSecurity()
    sessions = sessions or Sessions(log.store, idle=cfg.idle_timeout, absolute=cfg.absolute_timeout,
                                    window=cfg.failure_window)

    def signed(actor: str, action: str, **detail: Any) -> None:
        """Sign-ins, failures and sign-outs: the access stream of the audit trail."""
        audit.append(log.store, actor=actor, action=action, detail=detail, stream=audit.ACCESS)

    def viewed(request: Request, u: User, *, entity: str | None = None, **detail: Any) -> None:
        """A page of financial data seen by ``u``: who, when, which page with its filters."""
        query = f"?{request.url.query}" if request.url.query else ""
        audit.record_access(log.store, actor=u.name, what="workbench_page", subject=request.url.path + query,
                            entity=entity, detail=detail)
    resolutions = SyncResolutions(log.store)
    env = Environment(loader=DictLoader({**TEMPLATES, **sync_pages.TEMPLATES, **HEALTH_TEMPLATES}),
                      autoescape=select_autoescape(["html"]))
    env.filters["money"] = lambda minor, ccy: money(minor, ccy)
    env.filters["pct"] = lambda p: "" if p is None else f"{float(p):.3f}"

    def stamp(name: str) -> str | None:
        return users.session_stamp(name)

    def session_of(request: Request) -> Session | None:
        """The request's live session (looked up once per request)."""
        try:
            return request.state.session
        except AttributeError:
            request.state.session = sessions.get(request.cookies.get(cfg.session_cookie), stamp=stamp)
            return request.state.session

    def user_of(request: Request) -> User | None:
        s = session_of(request)
        role = users.role_of(s.user) if s else None
        return User(s.user, role) if s and role else None

    def csrf_field(token: str) -> Markup:
        return Markup(f'<input type="hidden" name="csrf" value="{escape(token)}">')

    def render(request: Request, name: str, status_code: int = 200, *, csrf: str | None = None,
               **ctx: Any) -> HTMLResponse:
        s = session_of(request)
        flash = sessions.pop_flash(s) if s else None
        token = csrf or (s.csrf if s else "")
        html = env.get_template(name).render(user=user_of(request), flash=flash, csrf_field=csrf_field(token), **ctx)
        return HTMLResponse(html, status_code=status_code)

    def problem(request: Request, status_code: int, heading: str, message: str) -> HTMLResponse:
        return render(request, "problem.html", status_code=status_code, heading=heading, message=message)

    async def need(request: Request, permission: str) -> User | Response:
        """The signed-in user when they may; for a POST also a valid CSRF token. Otherwise the response."""
        u = user_of(request)
        if u is None:
            return RedirectResponse(f"/login?{urlencode({'next': str(request.url.path)})}", status_code=303)
        if not u.may(permission):
            return render(request, "forbidden.html", status_code=403, permission=permission)
        if request.method == "POST":
            form = await request.form()
            s = session_of(request)
            if s is None or not hmac.compare_digest(str(form.get("csrf") or ""), s.csrf):
                return problem(request, 403, "Refused", "The form's security token is missing or stale (the page "
                               "was open too long, or the request came from elsewhere). Reload the page and try again.")
        return u

    def back(request: Request, fallback: str, message: str) -> RedirectResponse:
        s = session_of(request)
        if s:
            sessions.flash(s, message)
        origins = allowed_origins(request.scope, cfg)
        return RedirectResponse(local_referer(request.headers.get("referer"), origins, fallback), status_code=303)

    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=cfg.secure_cookies, httponly=True,
                            samesite="strict")

    async def login(request: Request) -> Response:
        nxt = safe_path(request.query_params.get("next"), "/exceptions")
        if request.method == "GET":
            token = request.cookies.get(cfg.login_cookie) or secrets.token_urlsafe(32)
            response = render(request, "login.html", next=nxt, csrf=token)
            set_cookie(response, cfg.login_cookie, token, 3600)
            return response
        form = await request.form()
        nxt = safe_path(str(form.get("next") or ""), "/exceptions")
        name, password = str(form.get("username", ""))[:128], str(form.get("password", ""))
        expected = request.cookies.get(cfg.login_cookie) or ""
        if not expected or not hmac.compare_digest(str(form.get("csrf") or ""), expected):
            return problem(request, 403, "Refused", "The sign-in form's security token is missing or stale: open "
                           "the sign-in page again.")
        client = request.client.host if request.client else "unknown"
        keys = (f"user:{name.lower()}", f"client:{client}")
        wait = max(sessions.retry_after(keys[0], cfg.max_failures_per_user),
                   sessions.retry_after(keys[1], cfg.max_failures_per_client))
        if wait:
            signed(name or "(blank)", "workbench_login_throttled", client=client, retry_after_s=wait)
            response = render(request, "login.html", status_code=429, next=nxt, csrf=expected,
                              error=f"Too many failed sign-ins. Try again in {(wait + 59) // 60} minute(s).")
            response.headers["retry-after"] = str(wait)
            return response
        u = users.authenticate(name, password)
        if u is None:
            sessions.failed(*keys)
            signed(name or "(blank)", "workbench_login_failed", client=client)
            return render(request, "login.html", status_code=401, error="Unknown user or wrong password.",
                          next=nxt, csrf=expected)
        sessions.forget_failures(keys[0])
        sessions.end(request.cookies.get(cfg.session_cookie), "signed in again")  # no session fixation
        token, _ = sessions.start(u.name, stamp=stamp(u.name), client=client)
        signed(u.name, "workbench_login", client=client)
        response = RedirectResponse(nxt, status_code=303)
        set_cookie(response, cfg.session_cookie, token, int(cfg.absolute_timeout.total_seconds()))
        response.delete_cookie(cfg.login_cookie, path="/", secure=cfg.secure_cookies, httponly=True,
                               samesite="strict")
        return response

    async def logout(request: Request) -> Response:
        s = session_of(request)
        if s is not None:
            form = await request.form()
            if not hmac.compare_digest(str(form.get("csrf") or ""), s.csrf):
                return problem(request, 403, "Refused", "The form's security token is missing or stale.")
            sessions.end(request.cookies.get(cfg.session_cookie), "signed out")
            signed(s.user, "workbench_logout")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(cfg.session_cookie, path="/", secure=cfg.secure_cookies, httponly=True,
                               samesite="strict")
        return response

    async def home(request: Request) -> Response:
        return RedirectResponse("/exceptions", status_code=303)

    async def static(request: Request) -> Response:
        found = STATIC.get(request.path_params["name"]) or HEALTH_STATIC.get(request.path_params["name"])
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(found[1], media_type=found[0])

    async def exceptions(request: Request) -> Response:
        u = await need(request, "view")
        if isinstance(u, Response):
            return u
        q = request.query_params
        f = {k: q.get(k, "") for k in FILTER_KEYS}
        f["status"] = f["status"] or "open"
        lo, hi = amount_param("Amount from", f["min"]), amount_param("Amount to", f["max"])
        rows = log.decisions(entity=f["entity"] or None, statuses=None if f["status"] == "all" else [f["status"]],
                             outcomes=[f["outcome"]] if f["outcome"] else None, account=f["account"] or None,
                             text=f["text"] or None, min_amount_minor=lo, max_amount_minor=hi, limit=500)
        accounts = sorted({r["account"] for r in log.decisions(statuses=[ml.OPEN], limit=100_000) if r["account"]})
        viewed(request, u, entity=f["entity"] or None, rows=len(rows))
        return render(request, "exceptions.html", rows=rows, f=f, counts=log.counts(f["entity"] or None),
                      accounts=accounts, templates=log.templates(),
                      sync_rows=sync_pages.open_rows(warehouse, resolutions, f["entity"]))

    async def detail(request: Request) -> Response:
        u = await need(request, "view")
        if isinstance(u, Response):
            return u
        d = log.decision(id_param("decision", request.path_params["id"]))
        if d is None:
            return render(request, "forbidden.html", status_code=404, permission="see a decision that does not exist")
        viewed(request, u, entity=d["entity"], decision_id=d["decision_id"])
        return render(request, "decision.html", d=d, history=log.history(d["decision_id"]),
                      same_line=log.by_line(d["line_id"]))

    async def bulk_action(request: Request) -> Response:
        u = await need(request, "decide")
        if isinstance(u, Response):
            return u
        form = await request.form()
        ids = [id_param("ids", x) for x in form.getlist("ids")]
        action = str(form.get("action", ""))
        if action not in ("accept", "reject"):
            raise BadRequest(f"action: {action[:40]!r} is neither accept nor reject")
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
        u = await need(request, "decide")
        if isinstance(u, Response):
            return u
        i = id_param("decision", request.path_params["id"])
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
        u = await need(request, "comment")
        if isinstance(u, Response):
            return u
        i = id_param("decision", request.path_params["id"])
        form = await request.form()
        try:
            cash_review.comment(log, i, actor=u.name, role=u.role, text=str(form.get("text") or ""))
            msg = "Comment added"
        except cash_review.ReviewError as e:
            msg = f"Not added: {e}"
        return back(request, f"/decisions/{i}", msg)

    async def templates(request: Request) -> Response:
        u = await need(request, "view")
        if isinstance(u, Response):
            return u
        if request.method == "POST":
            u = await need(request, "create_template")
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
        viewed(request, u, templates=len(log.templates()))
        return render(request, "templates.html", templates=log.templates(), accounts=accounts, contacts=contacts)

    async def apply(request: Request) -> Response:
        u = await need(request, "apply_template")
        if isinstance(u, Response):
            return u
        form = await request.form()
        tid = id_param("template", request.path_params["id"])
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

    approvals = PlanApprovals(log.store)

    async def plans(request: Request) -> Response:
        u = await need(request, "plans")
        if isinstance(u, Response):
            return u
        rows = approvals.awaiting()
        viewed(request, u, plans=len(rows))
        return render(request, "plans.html", plans=rows)

    async def plan_page(request: Request) -> Response:
        u = await need(request, "plans")
        if isinstance(u, Response):
            return u
        p = approvals.get(id_param("plan", request.path_params["id"]))
        if p is None:
            return render(request, "forbidden.html", status_code=404, permission="see a plan that does not exist")
        viewed(request, u, entity=p.entity, period=p.period, plan_hash=p.plan_hash, status=p.status)
        return render(request, "plan.html", p=p, c=p.content)

    async def decide_plan(request: Request) -> Response:
        """Approve or reject the plan shown, bound to the hash the page showed (``PlanApprovals.decide``, as
        ``sync-pipeline posting approve/reject``: nobody decides a plan they triggered)."""
        u = await need(request, "decide_plan")
        if isinstance(u, Response):
            return u
        i = id_param("plan", request.path_params["id"])
        form = await request.form()
        action, shown = str(form.get("action") or ""), str(form.get("plan_hash") or "")
        comment = str(form.get("comment") or "").strip()[:2000] or None
        if action not in ("approve", "reject"):
            raise BadRequest(f"action: {action[:40]!r} is neither approve nor reject")
        p = approvals.get(i)
        if p is None:
            return back(request, "/plans", f"No plan {i}.")
        if action == "reject" and not comment:
            return back(request, f"/plans/{i}", "Not rejected: say why in the comment (the trigger reads it).")
        try:
            if not hmac.compare_digest(shown, p.plan_hash):
                raise ApprovalError(f"the page showed plan {shown[:12] or '(none)'}, but plan #{i} is "
                                    f"{p.plan_hash[:12]}: reload the page and review it again")
            d = approvals.decide(p.entity, p.period, shown, by=u.name, approve=action == "approve", comment=comment)
            msg = (f"Plan {d.plan_hash[:12]} of {d.entity} {d.period} {d.status} by {d.decided_by}"
                   + ("; the next posting run posts it while its content is unchanged" if d.status == "approved"
                      else ""))
        except ApprovalError as e:
            msg = f"Not done: {e}"
            if p.status == "superseded":
                msg += ". A newer plan replaced it: review that one under Plans"
        return back(request, f"/plans/{i}", msg)

    async def billing_health(request: Request) -> Response:
        """The KPIs over time and the open exceptions (``workbench.health``: every role that may view)."""
        u = await need(request, "health")
        if isinstance(u, Response):
            return u
        if health is None:
            return problem(request, 503, "Billing health is not configured",
                           "This workbench was started without the warehouse; start it with `sync-pipeline workbench`.")
        ctx = health_page(health, log, request.query_params.get("entity") or None)
        viewed(request, u, entity=ctx["entity"] or None, periods=len(ctx["periods"]))
        return render(request, "health.html", **ctx)

    async def bad_request(request: Request, exc: Exception) -> Response:
        return problem(request, 400, "Cannot use that request", str(exc))

    routes = [
        Route("/", home), Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"]),
        Route("/static/{name}", static),
        Route("/exceptions", exceptions), Route("/decisions/bulk", bulk_action, methods=["POST"]),
        Route("/decisions/{id:int}", detail), Route("/decisions/{id:int}/decide", decide_one, methods=["POST"]),
        Route("/decisions/{id:int}/comment", add_comment, methods=["POST"]),
        Route("/templates", templates, methods=["GET", "POST"]),
        Route("/templates/{id:int}/apply", apply, methods=["POST"]),
        Route("/plans", plans), Route("/plans/{id:int}", plan_page),
        Route("/plans/{id:int}/decide", decide_plan, methods=["POST"]),
        Route("/health", billing_health),
    ]
    routes += sync_pages.routes(sync_pages.Pages(need=need, render=render, back=back, viewed=viewed), warehouse,
                                resolutions, posting)
    return Starlette(routes=routes, middleware=[Middleware(Hardened, config=cfg)],
                     exception_handlers={BadRequest: bad_request})
