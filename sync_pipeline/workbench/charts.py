"""Small charts drawn on the server as inline SVG: no JavaScript, no network, readable without colour.

``line_chart`` draws one line per series over ordered x labels (billing periods); ``stacked_bars`` one bar per
label split into parts (exceptions per team). Every point and bar part carries a ``<title>`` (the browser's
tooltip, read by screen readers) and the chart has a text alternative, so the figures behind a chart are never
only in its shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

PALETTE = ("#1f5fbf", "#c4420b", "#2e7d32", "#7b3fa0", "#8a6d00", "#00838f")  # legible on white, distinct in grey
MARKERS = ("circle", "square", "diamond")
W, H = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 36, 16, 44  # room for the last period label


def _num(v: Decimal | float | int) -> str:
    return f"{float(v):.1f}"


def _scale(lo: Decimal, hi: Decimal) -> tuple[Decimal, Decimal]:
    if lo == hi:
        return (lo - 1, hi + 1) if lo != 0 else (Decimal(0), Decimal(1))
    return min(lo, Decimal(0)) if lo >= 0 else lo, hi


def _fmt(v: Decimal) -> str:
    return f"{v.normalize():f}" if v == v.to_integral() else f"{v:.2f}".rstrip("0").rstrip(".")


def _marker(kind: str, x: float, y: float, color: str, title: str) -> str:
    t = f"<title>{escape(title)}</title>"
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{color}">{t}</rect>'
    if kind == "diamond":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}" '
                f'fill="{color}">{t}</polygon>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}">{t}</circle>'


def line_chart(chart_id: str, title: str, labels: Sequence[str], series: dict[str, dict[str, Decimal | None]],
               unit: str = "") -> Markup:
    """``series``: name → {x label → value or None (a gap)}; x labels in the order given."""
    values = [v for s in series.values() for v in s.values() if v is not None]
    if not labels or not values:
        return Markup(f'<p class="muted" id="{escape(chart_id)}">{escape(title)}: nothing measured yet.</p>')
    lo, hi = _scale(min(values), max(values))
    span_x = max(len(labels) - 1, 1)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def xy(i: int, v: Decimal) -> tuple[float, float]:
        x = LEFT + (plot_w * i / span_x if len(labels) > 1 else plot_w / 2)
        return x, TOP + plot_h - float((v - lo) / (hi - lo)) * plot_h

    parts = [f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{W - RIGHT}" y2="{TOP + plot_h}" stroke="#888"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#888"/>']
    for v in (lo, (lo + hi) / 2, hi):
        _, y = xy(0, v)
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{escape(_fmt(v))}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#e3e6eb"/>')
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            x, _ = xy(i, lo)
            parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" class="tick">'
                         f'{escape(label)}</text>')
    for n, (name, points) in enumerate(sorted(series.items())):
        color, marker = PALETTE[n % len(PALETTE)], MARKERS[n % len(MARKERS)]
        run: list[str] = []
        segments: list[list[str]] = []
        for i, label in enumerate(labels):
            v = points.get(label)
            if v is None:
                if run:
                    segments.append(run)
                run = []
                continue
            x, y = xy(i, v)
            run.append(f"{x:.1f},{y:.1f}")
            parts.append(_marker(marker, x, y, color, f"{name} {label}: {_fmt(v)} {unit}".strip()))
        if run:
            segments.append(run)
        parts += [f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{color}" '
                  f'stroke-width="2" points="{" ".join(seg)}"/>' for seg in segments if len(seg) > 1]
        lx = LEFT + 8 + 130 * n
        parts.append(_marker(marker, lx, H - 10, color, name))
        parts.append(f'<text x="{lx + 8}" y="{H - 6}" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bars(chart_id: str, title: str, labels: Sequence[str], stacks: dict[str, dict[str, int]],
                 order: Sequence[str]) -> Markup:
    """One bar per label (an entity), split into ``order``'s parts (teams); ``stacks``: label → {part → count}."""
    totals = {lb: sum(stacks.get(lb, {}).get(p, 0) for p in order) for lb in labels}
    if not labels:
        return Markup(f'<p class="muted" id="{escape(chart_id)}">{escape(title)}: nothing measured yet.</p>')
    top = max(max(totals.values()), 1)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    slot = plot_w / len(labels)
    bar = min(slot * 0.6, 64)
    parts = [f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{W - RIGHT}" y2="{TOP + plot_h}" stroke="#888"/>',
             f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" class="tick">{top}</text>',
             f'<text x="{LEFT - 6}" y="{TOP + plot_h + 4}" text-anchor="end" class="tick">0</text>']
    for i, label in enumerate(labels):
        x = LEFT + slot * i + (slot - bar) / 2
        y = TOP + plot_h
        for n, part in enumerate(order):
            count = stacks.get(label, {}).get(part, 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            parts.append(f'<rect class="bar" data-part="{escape(part)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[n % len(PALETTE)]}" stroke="#fff">'
                         f'<title>{escape(label)} · {escape(part)}: {count}</title></rect>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" class="tick">'
                     f'{totals[label]}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" class="tick">'
                     f'{escape(label)}</text>')
    for n, part in enumerate(order):
        lx = LEFT + 8 + 150 * n
        parts.append(f'<rect x="{lx - 4}" y="{H - 14}" width="8" height="8" fill="{PALETTE[n % len(PALETTE)]}"/>')
        parts.append(f'<text x="{lx + 8}" y="{H - 6}" class="legend">{escape(part)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
