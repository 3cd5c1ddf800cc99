# ruff: noqa: E501  (HTML templates: long lines read better than split tags)
"""The workbench's pages (Jinja2, autoescaped), kept in the package so an install needs no data files."""

from __future__ import annotations

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}Cash workbench{% endblock %}</title>
<link rel="stylesheet" href="/static/workbench.css"><script src="/static/workbench.js" defer></script></head><body>
<header><strong>Cash workbench</strong>
 {% if user %}<a href="/exceptions">Exceptions</a><a href="/templates">Rule templates</a><a href="/plans" id="nav-plans">Plans to approve</a><a href="/sync-exceptions" id="nav-sync">Sync exceptions</a><a href="/health" id="nav-health">Billing health</a>
 <span class="who">{{ user.name }} <span class="badge" id="role">{{ user.role }}</span>
 <form class="inline" method="post" action="/logout">{{ csrf_field }}<button id="sign-out">Sign out</button></form></span>{% endif %}
</header><main>
{% if flash %}<div class="flash" id="flash">{{ flash }}</div>{% endif %}
{% block main %}{% endblock %}
</main></body></html>"""

_LOGIN = """{% extends "base.html" %}{% block main %}
<h1>Sign in</h1>
{% if error %}<div class="error" id="login-error">{{ error }}</div>{% endif %}
<form method="post" action="/login">{{ csrf_field }}
 <input type="hidden" name="next" value="{{ next }}">
 <p><label>User <input name="username" id="username" autofocus></label></p>
 <p><label>Password <input name="password" id="password" type="password"></label></p>
 <p><button id="sign-in">Sign in</button></p>
</form>{% endblock %}"""

_PROBLEM = """{% extends "base.html" %}{% block main %}
<h1>{{ heading }}</h1><p id="problem">{{ message }}</p>{% endblock %}"""

_FORBIDDEN = """{% extends "base.html" %}{% block main %}
<h1>Not allowed</h1><p id="forbidden">Your role ({{ user.role if user else "none" }}) may not {{ permission }}.
Ask an admin for a role that may.</p>{% endblock %}"""

_EXCEPTIONS = """{% extends "base.html" %}{% block main %}
<h1>Exceptions</h1>{% include "sync_summary.html" %}
<p class="muted">{% for s, n in counts|dictsort %}{{ s }}: {{ n }}{% if not loop.last %} · {% endif %}{% endfor %}</p>
<form method="get" action="/exceptions" id="filters"><fieldset><legend>Filter</legend>
 <label>Entity <input name="entity" value="{{ f.entity }}" size="10"></label>
 <label>Status <select name="status" id="f-status">
  {% for s in ["open", "to_settle", "settled", "rejected", "failed", "reconciled", "all"] %}
  <option {% if f.status == s %}selected{% endif %}>{{ s }}</option>{% endfor %}</select></label>
 <label>Kind <select name="outcome" id="f-outcome"><option value="">any</option>
  {% for o in ["proposed", "exception"] %}<option {% if f.outcome == o %}selected{% endif %}>{{ o }}</option>{% endfor %}
 </select></label>
 <label>Bank account <select name="account"><option value="">any</option>
  {% for a in accounts %}<option {% if f.account == a %}selected{% endif %}>{{ a }}</option>{% endfor %}</select></label>
 <label>Text <input name="text" id="f-text" value="{{ f.text }}" size="16" placeholder="payer, reference, reason"></label>
 <label>Amount from <input name="min" value="{{ f.min }}" size="7"></label>
 <label>to <input name="max" value="{{ f.max }}" size="7"></label>
 <button id="apply-filter">Filter</button></fieldset></form>

<form method="post" action="/decisions/bulk" id="bulk">{{ csrf_field }}
<fieldset><legend>Selected rows</legend>
 <label>Comment <input name="comment" id="bulk-comment" size="40"></label>
 {% if user.may("decide") %}
 <button name="action" value="accept" id="bulk-accept">Accept proposed matches</button>
 <button name="action" value="reject" id="bulk-reject">Reject</button>
 {% else %}<span class="muted">Your role may not decide.</span>{% endif %}
</fieldset>
<table id="rows"><thead><tr><th><input type="checkbox" id="select-all"></th>
 <th>#</th><th>Date</th><th>Account</th><th>Payer</th><th>Text</th><th class="num">Amount</th><th>Proposal</th>
 <th class="num">Confidence</th><th>Why</th><th>Status</th></tr></thead><tbody>
{% for r in rows %}
<tr data-id="{{ r.decision_id }}" data-line="{{ r.line_id }}">
 <td><input type="checkbox" name="ids" value="{{ r.decision_id }}"></td>
 <td><a href="/decisions/{{ r.decision_id }}">{{ r.decision_id }}</a></td>
 <td>{{ r.line_date }}</td><td>{{ r.account or "" }}</td><td>{{ r.payer_name }}</td><td>{{ r.description }}</td>
 <td class="num">{{ r.line_amount_minor|money(r.line_currency) }}</td>
 <td>{% if r.allocations %}{% for a in r.allocations %}{{ a.invoice_number }} · {{ a.contact_name }}
   ({{ a.applied_minor|money(a.currency) }}){% if not loop.last %}<br>{% endif %}{% endfor %}
   {% elif r.candidates %}<span class="muted">best: {{ r.candidates[0].invoice_number }} · {{ r.candidates[0].contact_name }}</span>
   {% else %}<span class="muted">none</span>{% endif %}</td>
 <td class="num">{{ r.confidence|pct }}</td><td>{{ r.reason }}</td><td class="status">{{ r.status }}</td>
</tr>{% else %}<tr><td colspan="11" class="muted" id="empty">Nothing matches the filter.</td></tr>{% endfor %}
</tbody></table></form>{% endblock %}"""

_DECISION = """{% extends "base.html" %}{% block main %}
<h1>Decision #{{ d.decision_id }} <span class="badge" id="status">{{ d.status }}</span></h1>
<p><strong>{{ d.payer_name }}</strong> paid <strong>{{ d.line_amount_minor|money(d.line_currency) }}</strong>
 on {{ d.line_date }} into {{ d.account }} — “{{ d.description }}” <span class="muted">(line {{ d.line_id }})</span></p>
<p>{{ d.outcome }} by <code>{{ d.rule }}</code>{% if d.model %} ({{ d.model }}){% endif %},
 confidence {{ d.confidence|pct }}: {{ d.reason }}</p>
{% if d.writeoff_minor %}<p>Write-off {{ d.writeoff_minor|money(d.line_currency) }} to account {{ d.writeoff_account }}</p>{% endif %}
{% if d.explanation.weights %}<h2>Why the model scores it so</h2>
<table id="weights"><tr><th>Comparison</th><th>Level</th><th class="num">Match weight (bits)</th></tr>
{% for c, w in d.explanation.weights.items() %}<tr><td>{{ c }}</td><td>{{ w.level }}</td><td class="num">{{ w.weight }}</td></tr>{% endfor %}
<tr><td colspan="2">total (with the prior)</td><td class="num">{{ "%.2f"|format(d.explanation.match_weight) }}</td></tr></table>{% endif %}
<h2>Candidates</h2>
<table id="candidates"><tr><th>Invoice</th><th>Contact</th><th class="num">Due</th><th class="num">Probability</th>
 <th>Weights</th><th></th></tr>
{% for c in d.candidates %}<tr><td>{{ c.invoice_number }}</td><td>{{ c.contact_name }}</td>
 <td class="num">{{ c.remaining_due_minor|money(c.invoice_currency) }}</td><td class="num">{{ c.match_probability|pct }}</td>
 <td class="muted">{% for k, w in (c.weights or {}).items() %}{{ k }}: {{ w.level }} ({{ w.weight }}){% if not loop.last %}; {% endif %}{% endfor %}</td>
 <td>{% if d.status == "open" and user.may("decide") %}<form class="inline" method="post" action="/decisions/{{ d.decision_id }}/decide">{{ csrf_field }}
  <input type="hidden" name="invoice_id" value="{{ c.invoice_id }}"><button name="action" value="accept">Accept this one</button></form>{% endif %}</td>
</tr>{% else %}<tr><td colspan="6" class="muted">No candidate invoices.</td></tr>{% endfor %}</table>
{% if d.status == "open" and user.may("decide") %}
<form method="post" action="/decisions/{{ d.decision_id }}/decide" id="decide">{{ csrf_field }}
 <label>Comment <input name="comment" size="40"></label>
 <button name="action" value="accept" id="accept">Accept the proposal</button>
 <button name="action" value="reject" id="reject">Reject</button></form>{% endif %}
<h2>History</h2>
<ol id="history">{% for e in history %}<li><span class="muted">{{ e.at }}</span> <strong>{{ e.actor }}</strong>
 {% if e.role %}({{ e.role }}){% endif %} {{ e.action }}{% if e.text %}: <span class="text">{{ e.text }}</span>{% endif %}</li>{% endfor %}</ol>
<form method="post" action="/decisions/{{ d.decision_id }}/comment" id="comment-form">{{ csrf_field }}
 <label>Add a comment <input name="text" id="comment-text" size="60"></label> <button id="add-comment">Comment</button></form>
{% if same_line|length > 1 %}<h2>Earlier decisions on this bank line</h2><ul>
{% for o in same_line %}{% if o.decision_id != d.decision_id %}<li><a href="/decisions/{{ o.decision_id }}">#{{ o.decision_id }}</a>
 {{ o.outcome }} / {{ o.status }} — {{ o.reason }}</li>{% endif %}{% endfor %}</ul>{% endif %}
{% endblock %}"""

_TEMPLATES = """{% extends "base.html" %}{% block main %}
<h1>Rule templates</h1>
<table id="template-list"><tr><th>#</th><th>Name</th><th>Kind</th><th>Parameters</th><th>By</th><th>Apply across accounts</th></tr>
{% for t in templates %}<tr><td>{{ t.template_id }}</td><td>{{ t.name }}</td><td>{{ t.kind }}</td><td><code>{{ t.params }}</code></td>
 <td>{{ t.created_by }}</td><td>{% if user.may("apply_template") %}
 <form method="post" action="/templates/{{ t.template_id }}/apply" class="inline" id="apply-{{ t.template_id }}">{{ csrf_field }}
 {% for a in accounts %}<label><input type="checkbox" name="accounts" value="{{ a }}" checked> {{ a }}</label> {% endfor %}
 <button>Apply</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="6" class="muted">No templates yet.</td></tr>{% endfor %}</table>
{% if user.may("create_template") %}<h2>New template</h2>
<form method="post" action="/templates" id="new-alias">{{ csrf_field }}<fieldset><legend>Payer alias: bank payer text belongs to a contact</legend>
 <input type="hidden" name="kind" value="payer_alias"><label>Name <input name="name" id="alias-name"></label>
 <label>Payer text contains <input name="payer_contains" id="alias-payer"></label>
 <label>Contact {% if contacts %}<select name="contact_id" id="alias-contact">{% for cid, cname in contacts %}
  <option value="{{ cid }}">{{ cname }} ({{ cid }})</option>{% endfor %}</select>{% else %}id <input name="contact_id" id="alias-contact">{% endif %}</label>
 <button id="create-alias">Create</button>
 <p class="muted">Applied, it accepts an open decision whose payer contains the text when exactly one candidate invoice of the
 contact is paid in full (within the write-off tolerance); the payer name becomes an alias for later matching runs.</p></fieldset></form>
<form method="post" action="/templates" id="new-writeoff">{{ csrf_field }}<fieldset><legend>Write off small differences on proposed matches</legend>
 <input type="hidden" name="kind" value="writeoff_difference"><label>Name <input name="name" id="writeoff-name"></label>
 <label>Up to (amount) <input name="max_amount" id="writeoff-max" size="6" placeholder="5.00"></label>
 <label>Account <input name="writeoff_account" id="writeoff-account" size="6" value="404"></label>
 <button id="create-writeoff">Create</button>
 <p class="muted">Applied, it accepts a proposal whose difference is at most the amount, writing it off; a larger shortfall
 is never settled as a part payment, and a line that two candidate invoices fit is left for a person.</p></fieldset></form>{% endif %}
{% endblock %}"""

_PLANS = """{% extends "base.html" %}{% block main %}
<h1>Invoice plans awaiting approval</h1>
<p class="muted">Posting writes a plan only once someone other than whoever triggered it approved its exact content (its hash).</p>
<table id="plans"><thead><tr><th>#</th><th>Entity</th><th>Period</th><th>Triggered by</th><th>When</th><th class="num">Documents</th>
 <th>Plan hash</th></tr></thead><tbody>
{% for p in plans %}<tr data-plan="{{ p.id }}"><td><a href="/plans/{{ p.id }}">{{ p.id }}</a></td><td>{{ p.entity }}</td><td>{{ p.period }}</td>
 <td>{{ p.created_by }}</td><td>{{ p.created_at }}</td><td class="num">{{ p.documents }}</td><td><code>{{ p.plan_hash[:16] }}</code></td></tr>
{% else %}<tr><td colspan="7" class="muted" id="no-plans">No plan is waiting for approval.</td></tr>{% endfor %}
</tbody></table>{% endblock %}"""

_PLAN = """{% extends "base.html" %}{% block main %}
<h1>Plan #{{ p.id }}: {{ p.entity }} {{ p.period }} <span class="badge" id="plan-status">{{ p.status }}</span></h1>
<p>Triggered by <strong id="triggered-by">{{ p.created_by }}</strong> at {{ p.created_at }} ·
 hash <code id="plan-hash">{{ p.plan_hash }}</code>{% if p.mapping_hash %} · mapping <code>{{ p.mapping_hash[:12] }}</code>{% endif %}</p>
{% if p.decided_by %}<p id="decision">{{ p.status }} by <strong>{{ p.decided_by }}</strong> at {{ p.decided_at }}{% if p.comment %}: “{{ p.comment }}”{% endif %}</p>{% endif %}
{% if c.guard_breaches %}<div class="error" id="breaches">Over the posting limits: {{ c.guard_breaches|join("; ") }}.
 Approving it approves posting past them.</div>{% endif %}
<h2>Totals per currency</h2>
<table id="totals"><tr><th>Currency</th><th class="num">Invoiced</th><th class="num">Credited</th><th class="num">Net change</th><th class="num">Gross</th></tr>
{% for ccy, t in p.totals|dictsort %}<tr data-ccy="{{ ccy }}"><td>{{ ccy }}</td><td class="num">{{ t.invoiced_minor|money(ccy) }}</td>
 <td class="num">{{ t.credited_minor|money(ccy) }}</td><td class="num">{{ t.net_change_minor|money(ccy) }}</td><td class="num">{{ t.gross_minor|money(ccy) }}</td></tr>{% endfor %}</table>
<h2>Against the accounting system</h2>
<table id="diff"><tr><th>Action</th><th>Document</th><th>Client</th><th>In the accounting system</th><th>Status after</th>
 <th class="num">Amount</th><th class="num">Change</th></tr>
{% for d in c.documents %}<tr data-ref="{{ d.reference }}"><td>{{ d.op|replace("_", " ") }}</td><td>{{ d.kind }} {{ d.reference }}{% if d.revision %} (revision {{ d.revision }}){% endif %}</td>
 <td>{{ d.client_name }}</td><td>{% if d.target_id %}{{ d.target_id }}{% if d.original_reference %} ({{ d.original_reference }}){% endif %}{% else %}<span class="muted">not there yet</span>{% endif %}</td>
 <td>{{ d.status_after or "" }}</td><td class="num">{{ d.amount_minor|money(d.currency) }}</td><td class="num">{{ d.delta_minor|money(d.currency) }}</td></tr>
{% else %}<tr><td colspan="7" class="muted">The plan writes nothing.</td></tr>{% endfor %}</table>
<h2>Documents and lines</h2>
{% for d in c.documents %}<h3>{{ d.reference }} · {{ d.client_name }} · {{ d.currency }}</h3>
<table class="lines"><tr><th>Description</th><th class="num">Quantity</th><th class="num">Unit amount</th><th class="num">Amount</th>
 <th>Account</th><th>Tax</th><th>Item</th></tr>
{% for li in d.lines %}<tr><td>{{ li.description }}</td><td class="num">{{ li.quantity }}</td><td class="num">{{ li.unit_amount }}</td>
 <td class="num">{{ li.amount_minor|money(d.currency) }}</td><td>{{ li.account_code or "" }}</td><td>{{ li.tax_type or "" }}</td><td>{{ li.item_code or "" }}</td></tr>
{% else %}<tr><td colspan="7" class="muted">No lines (the document is voided or credited whole).</td></tr>{% endfor %}</table>{% endfor %}
{% if p.status == "awaiting_approval" %}{% if user.may("decide_plan") %}
<form method="post" action="/plans/{{ p.id }}/decide" id="decide-plan">{{ csrf_field }}<fieldset><legend>Decide</legend>
 <input type="hidden" name="plan_hash" value="{{ p.plan_hash }}">
 <label>Comment <input name="comment" id="plan-comment" size="60" placeholder="required to reject: why"></label>
 <button name="action" value="approve" id="approve-plan">Approve</button>
 <button name="action" value="reject" id="reject-plan">Reject</button>
 <p class="muted">You approve exactly this content (hash {{ p.plan_hash[:12] }}); a plan that changes waits again.
 Whoever triggered the plan may not decide it.</p></fieldset></form>
{% else %}<p class="muted" id="may-not-decide">Your role may not approve or reject plans (an approver does).</p>{% endif %}{% endif %}
{% endblock %}"""

TEMPLATES = {"base.html": _BASE, "login.html": _LOGIN, "forbidden.html": _FORBIDDEN, "problem.html": _PROBLEM,
             "exceptions.html": _EXCEPTIONS, "decision.html": _DECISION, "templates.html": _TEMPLATES,
             "plans.html": _PLANS, "plan.html": _PLAN}

# served from /static/ (the CSP allows no inline style or script)
STATIC = {
    "workbench.css": ("text/css; charset=utf-8", """ body{font-family:system-ui,sans-serif;margin:0;color:#1d2433}
 header{background:#1d2433;color:#fff;padding:.6rem 1rem;display:flex;gap:1.5rem;align-items:center}
 header a{color:#fff;text-decoration:none} header .who{margin-left:auto}
 main{padding:1rem} table{border-collapse:collapse;width:100%;font-size:.9rem}
 th,td{border-bottom:1px solid #dde;padding:.35rem .5rem;text-align:left;vertical-align:top}
 th{background:#f3f4f8} .num{text-align:right;white-space:nowrap} .muted{color:#667}
 .flash{background:#eef6ee;border:1px solid #9c9;padding:.5rem;margin-bottom:1rem}
 .error{background:#fbeeee;border:1px solid #c99;padding:.5rem;margin-bottom:1rem}
 form.inline{display:inline} fieldset{border:1px solid #dde;margin:0 0 1rem 0}
 .badge{display:inline-block;padding:0 .4rem;border-radius:.6rem;background:#e7e9f2;color:#1d2433;font-size:.8rem}
"""),
    "workbench.js": ("text/javascript; charset=utf-8", """document.addEventListener("DOMContentLoaded", () => {
  const all = document.getElementById("select-all");
  if (all) all.addEventListener("click", () => {
    document.querySelectorAll("input[name=ids]").forEach((c) => { c.checked = all.checked; });
  });
});
"""),
}
