# ruff: noqa: E501  (HTML templates: long lines read better than split tags)
"""The workbench's sync-reconciliation exceptions: documents missing from, extra in or differing in the accounting
system (``services.sync_exceptions``), listed beside the cash exceptions with what differs, and resolved — re-post,
accept, explain — by a signed-in person whose role may (``workbench.resolve_sync``); each resolution is recorded
with the person, role, time and comment, in the audit trail too (``store.sync_resolutions``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sync_pipeline.services import sync_exceptions as se
from sync_pipeline.services.dead_letters import PostingEnv
from sync_pipeline.store.sync_resolutions import RESOLUTIONS, SyncResolutions
from sync_pipeline.store.warehouse import Warehouse

STATES = ("open", "resolved", "all")

_SUMMARY = """{% if sync_rows is not none %}<h2 id="sync-heading">Sync exceptions
 <span class="muted">({{ sync_rows|length }} open{% if sync_rows|length > 10 %}, first 10 shown{% endif %})</span></h2>
<table id="sync-summary"><thead><tr><th>Entity</th><th>Period</th><th>Document</th><th>Status</th><th>What differs</th></tr></thead><tbody>
{% for r in sync_rows[:10] %}<tr data-doc="{{ r.document }}"><td>{{ r.entity }}</td><td>{{ r.period }}</td><td>{{ r.document }}</td>
 <td class="status">{{ r.status }}</td><td>{{ r.detail or r.meaning }}</td></tr>
{% else %}<tr><td colspan="5" class="muted" id="no-sync">Every reconciled period matches the accounting system.</td></tr>{% endfor %}
</tbody></table>{% if sync_rows %}<p><a href="/sync-exceptions" id="to-sync">Review and resolve sync exceptions →</a></p>{% endif %}
<h2>Cash exceptions</h2>{% endif %}"""

_PAGE = """{% extends "base.html" %}{% block main %}
<h1>Sync exceptions</h1>
<p class="muted">The last reconciliation of each period against the accounting system: documents <strong>missing</strong> there,
 <strong>extra</strong> there under our reference, or whose version there <strong>differs</strong> (a <em>mismatch</em>).
 Amounts are net (before tax), as drafted and as the accounting system holds them.</p>
<form method="get" action="/sync-exceptions" id="sync-filters"><fieldset><legend>Filter</legend>
 <label>Entity <select name="entity" id="s-entity"><option value="">any</option>
  {% for e in entities %}<option {% if f.entity == e %}selected{% endif %}>{{ e }}</option>{% endfor %}</select></label>
 <label>State <select name="state" id="s-state">{% for s in states %}<option {% if f.state == s %}selected{% endif %}>{{ s }}</option>{% endfor %}</select></label>
 <button id="s-apply">Filter</button></fieldset></form>
<table id="sync-rows"><thead><tr><th>Entity</th><th>Period</th><th>Document</th><th>Status</th><th class="num">Ours (net)</th>
 <th class="num">Accounting system (net)</th><th class="num">Difference</th><th>What differs</th><th>Resolution</th></tr></thead><tbody>
{% for r in rows %}<tr data-doc="{{ r.document }}" data-entity="{{ r.entity }}" data-period="{{ r.period }}">
 <td>{{ r.entity }}</td><td>{{ r.period }}</td><td><code>{{ r.document }}</code></td>
 <td class="status">{{ r.status }}{% if r.breach %} <span class="badge">breach</span>{% endif %}</td>
 <td class="num">{{ r.source_minor|money(r.currency) }}</td><td class="num">{{ r.target_minor|money(r.currency) }}</td>
 <td class="num">{{ r.diff_minor|money(r.currency) }}</td>
 <td>{{ r.detail or r.meaning }}<br><span class="muted">{{ r.meaning }}</span></td>
 <td>{% if r.resolution %}<span class="state">{{ r.state }}</span> by <strong>{{ r.resolution.decided_by }}</strong> ({{ r.resolution.role }})
   at {{ r.resolution.decided_at }}: “{{ r.resolution.comment }}”
   {% if r.resolution.outcome == "posted" %}<br><span class="outcome">posted{% if r.resolution.document_number %} as <strong>{{ r.resolution.document_number }}</strong>{% endif %} (run {{ r.resolution.run_id }})</span>{% endif %}
  {% else %}{% if r.earlier %}<span class="muted">{{ r.earlier.resolution }} by {{ r.earlier.decided_by }} applied to an earlier difference</span><br>{% endif %}
  {% if r.attempt %}<span class="attempt">re-post by <strong>{{ r.attempt.decided_by }}</strong> at {{ r.attempt.decided_at }}: not posted ({{ r.attempt.outcome|replace("_", " ") }}): {{ r.attempt.error }}</span><br>{% endif %}
  {% if user.may("resolve_sync") %}<form method="post" action="/sync-exceptions/resolve" class="resolve">{{ csrf_field }}
   <input type="hidden" name="entity" value="{{ r.entity }}"><input type="hidden" name="period" value="{{ r.period }}">
   <input type="hidden" name="document" value="{{ r.document }}">
   <input name="comment" size="24" placeholder="why (required)" aria-label="comment">
   {% if r.status != "extra" %}<button name="resolution" value="repost">Re-post</button>{% endif %}
   <button name="resolution" value="accept">Accept</button>
   <button name="resolution" value="explain">Explain</button></form>
  {% else %}<span class="muted">open; your role may not resolve it</span>{% endif %}{% endif %}</td>
</tr>{% else %}<tr><td colspan="9" class="muted" id="sync-empty">No sync exception matches the filter.</td></tr>{% endfor %}
</tbody></table>
<p class="muted">Re-post: our version should be there; the period's plan is posted again at once, as you, under the usual
 approval (four eyes or the entity's auto-approval policy), kill switch and limits; the number written or why nothing was
 is shown here and kept in the audit trail. Accept: the accounting system's version stands. Explain: neither, the comment
 says why. A resolution holds while the difference stays the same; a re-post that did not post leaves the exception open.</p>
{% endblock %}"""

TEMPLATES = {"sync_summary.html": _SUMMARY, "sync_exceptions.html": _PAGE}


@dataclass(frozen=True)
class Pages:
    """What the app lends its pages: the permission check, rendering, redirect-with-message, the access log."""

    need: Callable[[Request, str], Awaitable[Any]]
    render: Callable[..., Response]
    back: Callable[[Request, str, str], Response]
    viewed: Callable[..., None]


def open_rows(warehouse: Warehouse | None, resolutions: SyncResolutions, entity: str | None) -> list[dict] | None:
    """The open sync exceptions for the cash exceptions page (None when no warehouse is configured)."""
    return None if warehouse is None else se.exceptions(warehouse, resolutions, entity=entity or None)


def routes(pages: Pages, warehouse: Warehouse | None, resolutions: SyncResolutions,
           posting: PostingEnv | None = None) -> list[Route]:
    """``posting``: where a re-post posts (the accounting system, mapping, store); without it, re-posts are refused
    with the reason."""

    async def listing(request: Request) -> Response:
        u = await pages.need(request, "view")
        if isinstance(u, Response):
            return u
        q = request.query_params
        f = {"entity": q.get("entity", ""), "state": q.get("state", "open")}
        if f["state"] not in STATES:
            f["state"] = "open"
        wh_entities = warehouse.entities(se.ASSET) if warehouse is not None else []
        rows = se.exceptions(warehouse, resolutions, entity=f["entity"] or None, state=f["state"]) \
            if warehouse is not None and (not f["entity"] or f["entity"] in wh_entities) else []
        pages.viewed(request, u, entity=f["entity"] or None, rows=len(rows))
        return pages.render(request, "sync_exceptions.html", rows=rows, f=f, states=STATES, entities=wh_entities)

    async def resolve(request: Request) -> Response:
        u = await pages.need(request, "resolve_sync")
        if isinstance(u, Response):
            return u
        form = await request.form()
        entity, period = str(form.get("entity") or "")[:64], str(form.get("period") or "")[:7]
        document, resolution = str(form.get("document") or "")[:255], str(form.get("resolution") or "")
        comment = str(form.get("comment") or "").strip()[:2000]
        if warehouse is None:
            return pages.back(request, "/sync-exceptions", "Not recorded: the workbench has no warehouse configured.")
        if resolution not in RESOLUTIONS:
            return pages.back(request, "/sync-exceptions", f"Not recorded: {resolution[:40]!r} is not one of "
                              f"{', '.join(RESOLUTIONS)}.")
        try:
            if resolution == "repost":
                done = await run_in_threadpool(se.repost, posting, warehouse, resolutions, entity, period, document,
                                               comment=comment, actor=u.name, role=u.role)
                msg = f"{document} ({entity} {period}): re-post by {u.name}: {done.message}"
            else:
                res, effect = se.resolve(warehouse, resolutions, entity, period, document, resolution=resolution,
                                         comment=comment, actor=u.name, role=u.role)
                msg = f"{document} ({entity} {period}): {res.resolution} recorded by {res.decided_by}; {effect}"
        except se.ResolutionError as e:
            msg = f"Not recorded: {e}"
        return pages.back(request, "/sync-exceptions", msg)

    return [Route("/sync-exceptions", listing), Route("/sync-exceptions/resolve", resolve, methods=["POST"])]
