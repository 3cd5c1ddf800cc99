# ruff: noqa: E501  (HTML templates: long lines read better than split tags)
"""The billing-health page's template and stylesheet (registered beside the workbench's own in ``app``)."""

from __future__ import annotations

_HEALTH = """{% extends "base.html" %}{% block title %}Billing health{% endblock %}{% block main %}
<link rel="stylesheet" href="/static/health.css">
<h1>Billing health</h1>
<p class="muted">Measured per entity and closed billing period by the <code>kpis</code> assets in Dagster (<code>billing_health_job</code>); formulas in docs/kpis.md.</p>
<form method="get" action="/health" id="health-filter"><label>Entity <select name="entity" id="h-entity"><option value="">all</option>
 {% for e in entities %}<option {% if entity == e %}selected{% endif %}>{{ e }}</option>{% endfor %}</select></label>
 <button id="apply-entity">Show</button></form>

<h2>Latest period</h2>
<table id="kpi-latest"><thead><tr><th>Entity</th><th>Period</th>{% for k, v in kpis.items() %}<th class="num" data-kpi="{{ k }}">{{ v[0] }}</th>{% endfor %}</tr></thead><tbody>
{% for r in latest %}<tr data-entity="{{ r.entity }}"><td>{{ r.entity }}</td><td>{{ r.period }}</td>{% for k in kpis %}<td class="num" data-kpi="{{ k }}">{{ r[k] }}</td>{% endfor %}</tr>
{% else %}<tr><td colspan="7" class="muted">Nothing measured yet: materialize <code>billing_health_job</code> for a period.</td></tr>{% endfor %}
</tbody></table>

<h2>Over time</h2>
<div class="charts">{% for c in charts %}<figure class="kpi" data-kpi="{{ c.name }}"><figcaption>{{ c.title }} <span class="muted">({{ c.good }})</span></figcaption>{{ c.svg }}</figure>{% endfor %}</div>

<h2>Open exceptions</h2>
<div class="charts"><figure class="kpi"><figcaption>Sync exceptions per team</figcaption>{{ team_chart }}</figure></div>
<table id="team-counts"><thead><tr><th>Entity</th>{% for t in teams %}<th class="num">{{ t }}</th>{% endfor %}</tr></thead><tbody>
{% for e, counts in team_counts|dictsort %}<tr data-entity="{{ e }}"><td>{{ e }}</td>{% for t in teams %}<td class="num">{{ counts[t] }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table>

<h3>Documents that differ from the accounting system</h3>
<table id="sync-exceptions"><thead><tr><th>Entity</th><th>Period</th><th>Document</th><th>Status</th><th class="num">Ours (net)</th><th class="num">Accounting (net)</th><th class="num">Difference</th><th>What differs</th></tr></thead><tbody>
{% for r in sync_rows %}<tr><td>{{ r.entity }}</td><td>{{ r.period }}</td><td>{{ r.document }}</td><td>{{ r.status }}</td><td class="num">{{ r.ours }}</td><td class="num">{{ r.accounting }}</td><td class="num">{{ r.difference }}</td><td>{{ r.detail }}</td></tr>
{% else %}<tr><td colspan="8" class="muted">Every reconciled document matches.</td></tr>{% endfor %}
</tbody></table>

<h3>Bank lines waiting for a decision</h3>
<table id="cash-exceptions"><thead><tr><th>Entity</th><th class="num">Open</th><th class="num">Amount</th><th></th></tr></thead><tbody>
{% for r in cash_counts %}<tr data-entity="{{ r.entity }}"><td>{{ r.entity }}</td><td class="num">{{ r.open }}</td><td class="num">{{ r.amount }}</td><td><a href="/exceptions?entity={{ r.entity }}&amp;status=open">review</a></td></tr>{% endfor %}
</tbody></table>
{% endblock %}"""

HEALTH_TEMPLATES = {"health.html": _HEALTH}

HEALTH_STATIC = {
    "health.css": ("text/css; charset=utf-8", """ .charts{display:flex;flex-wrap:wrap;gap:1rem}
 figure.kpi{margin:0;border:1px solid #dde;padding:.5rem;background:#fff}
 figure.kpi figcaption{font-weight:600;margin-bottom:.3rem}
 svg.chart{max-width:100%;height:auto} svg.chart .tick,svg.chart .legend{font-size:11px;fill:#1d2433}
 #health-filter{margin-bottom:1rem} #kpi-latest td:first-child,#kpi-latest td:nth-child(2){white-space:nowrap}
"""),
}
