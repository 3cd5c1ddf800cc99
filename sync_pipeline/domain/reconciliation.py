"""Sync reconciliation: what the accounting system holds vs what the source says was billable.

Two views of one partition (entity × period), compared in integer minor units:

- per document (keyed by our reference): missing (drafted, not in the accounting system),
  extra (in the accounting system under our reference prefix, not drafted), mismatch (currency,
  contact, subtotal or a line differs) or match, with a detail line saying what differs;
- per dimension — client, project, tax code, account and currency — counts and net totals on
  both sides, per currency (totals in different currencies are never added).

Target lines are paired with the draft lines of the same document by content, not by position (the
accounting system may return a document's lines in another order after an update): first lines with the
same amount, tax code and account, then the rest in order. A target line takes the project of its draft
line (accounting systems' lines carry no project); unpaired target lines fall under ``(unattributed)``.
A row ``breaches`` when its difference is above the tolerance, or when a document is missing,
extra or in another currency: those are what the blocking asset check fails on. A document the accounting system
returned but that could not be read (``unreadable``: key -> what is wrong) is a breaching ``mismatch`` with that
detail, never "missing": posting it again would bill twice.

The accounting system's invoices come as neutral documents (``accounting.document`` v2, read duck-typed here:
``reference``, ``number``, ``status``, ``currency``, ``subtotal``, ``contact_number``, ``contact_name``, and
``lines`` with ``line_amount``, ``tax_type``, ``account_code``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from sync_pipeline.domain.money import from_minor, to_minor

LEVELS = ("document", "currency", "client", "project", "tax_code", "account")
COLUMNS = ["entity", "period", "level", "key", "currency", "source_count", "target_count", "source_minor",
           "target_minor", "diff_minor", "status", "breach", "detail"]
UNATTRIBUTED = "(unattributed)"
DEAD_STATUSES = ("VOIDED", "DELETED")


@dataclass
class _Line:
    currency: str
    amount_minor: int
    client: str
    project: str
    tax_code: str
    account: str


@dataclass
class _Doc:
    currency: str | None = None
    client: str | None = None
    subtotal_minor: int = 0
    lines: list[_Line] = field(default_factory=list)


def _source_docs(drafts: pd.DataFrame) -> dict[str, _Doc]:
    docs: dict[str, _Doc] = {}
    if drafts is None or not len(drafts):
        return docs
    for ref, grp in drafts.sort_values(["reference", "line_no"]).groupby("reference", sort=True):
        d = _Doc(currency=str(grp["currency"].iloc[0]), client=str(grp["client_id"].iloc[0]))
        for r in grp.itertuples(index=False):
            amt = int(r.line_amount_minor)
            d.subtotal_minor += amt
            d.lines.append(_Line(str(r.currency), amt, str(r.client_id), str(r.project_id), str(r.tax_type),
                                 str(r.account_code)))
        docs[str(ref)] = d
    return docs


def client_of_contact(number: str | None, name: str | None = None) -> str:
    """The source client id behind an accounting contact (``HARVEST-12`` → ``12``), else its name."""
    number = str(number or "")
    if "-" in number:
        return number.split("-", 1)[1]
    return number or str(name or UNATTRIBUTED)


def _target_docs(target_invoices: Iterable[Any], source: dict[str, _Doc]) -> dict[str, _Doc]:
    docs: dict[str, _Doc] = {}
    for inv in target_invoices:
        if inv.status in DEAD_STATUSES:
            continue
        ccy = str(inv.currency)
        ref = inv.reference or f"(no reference) {inv.number}"
        client = client_of_contact(inv.contact_number, inv.contact_name)
        d = docs.setdefault(ref, _Doc(currency=ccy, client=client))
        d.subtotal_minor += to_minor(inv.subtotal or 0, ccy)
        lines = [_Line(ccy, to_minor(li.line_amount or 0, ccy), client, UNATTRIBUTED,
                       str(li.tax_type or UNATTRIBUTED), str(li.account_code or UNATTRIBUTED))
                 for li in inv.lines]
        src_lines = source[ref].lines if ref in source else []
        d.lines.extend(_align(src_lines, lines))
    return docs


def _content(line: _Line) -> tuple[int, str, str]:
    return line.amount_minor, line.tax_code, line.account


def _align(src: list[_Line], tgt: list[_Line]) -> list[_Line]:
    """The target lines reordered to pair with ``src`` (same content first, the rest in order), each taking
    the project of the source line it pairs with; target lines beyond the source's count come last."""
    paired: list[_Line | None] = [None] * len(src)
    left = list(range(len(tgt)))
    for i, s_line in enumerate(src):
        for k, j in enumerate(left):
            if _content(tgt[j]) == _content(s_line):
                paired[i] = tgt[j]
                del left[k]
                break
    for i in range(len(src)):
        if paired[i] is None and left:
            paired[i] = tgt[left.pop(0)]
    out = [replace(t, project=src[i].project) for i, t in enumerate(paired) if t is not None]
    return out + [tgt[j] for j in left]


def _fmt(minor: int, ccy: str | None) -> str:
    try:
        return str(from_minor(int(minor), ccy or ""))
    except Exception:  # unknown currency: show minor units rather than guess an exponent
        return f"{minor} minor units"


def _document_detail(s: _Doc, t: _Doc) -> list[str]:
    out: list[str] = []
    if s.currency != t.currency:
        out.append(f"currency {s.currency} in the source, {t.currency} in the accounting system")
    if s.client != t.client:
        out.append(f"client {s.client} in the source, contact of client {t.client} in the accounting system")
    if s.subtotal_minor != t.subtotal_minor:
        out.append(f"subtotal {_fmt(s.subtotal_minor, s.currency)} in the source, "
                   f"{_fmt(t.subtotal_minor, t.currency)} in the accounting system")
    if len(s.lines) != len(t.lines):
        out.append(f"{len(s.lines)} line(s) in the source, {len(t.lines)} in the accounting system")
    for n, (a, b) in enumerate(zip(s.lines, t.lines, strict=False), start=1):
        if (a.amount_minor, a.tax_code, a.account) != (b.amount_minor, b.tax_code, b.account):
            out.append(f"line {n}: {_fmt(a.amount_minor, a.currency)} {a.tax_code} {a.account} in the source, "
                       f"{_fmt(b.amount_minor, b.currency)} {b.tax_code} {b.account} in the accounting system")
    return out


def _within_tolerance(s: _Doc, t: _Doc, tolerance_minor: int) -> bool:
    """Only amounts differ, each line and the subtotal by at most the tolerance."""
    if (s.currency, s.client, len(s.lines)) != (t.currency, t.client, len(t.lines)):
        return False
    if abs(s.subtotal_minor - t.subtotal_minor) > tolerance_minor:
        return False
    return all((a.tax_code, a.account) == (b.tax_code, b.account) and abs(a.amount_minor - b.amount_minor)
               <= tolerance_minor for a, b in zip(s.lines, t.lines, strict=True))


def reconcile_documents(entity: str, period: str, drafts: pd.DataFrame, target_invoices: list[Any],
                        *, tolerance_minor: int = 0, unreadable: dict[str, str] | None = None) -> pd.DataFrame:
    """Compare drafted invoices (by reference) to the accounting system's live invoices (by reference).

    ``tolerance_minor`` is the absolute difference (in minor units of the row's currency) a total may
    differ by before the row breaches; missing, extra and currency-changed documents always breach.
    ``unreadable``: documents the accounting system holds that did not read strictly (key -> detail naming the
    document, field and problem); each is a breaching ``mismatch`` row, whatever the drafts say.
    """
    unreadable = unreadable or {}
    source = _source_docs(drafts)
    target = _target_docs(target_invoices, source)
    rows: list[dict[str, Any]] = []
    for ref in sorted(set(source) | set(target) | set(unreadable)):
        s, t = source.get(ref), target.get(ref)
        s_amt = s.subtotal_minor if s else 0
        t_amt = t.subtotal_minor if t else 0
        if ref in unreadable:
            status, detail, breach = "mismatch", unreadable[ref], True
        elif t is None:
            status, detail, breach = "missing", "drafted but not in the accounting system (voided, deleted or never " \
                                               "posted): post it again or void the draft", True
        elif s is None:
            status, detail, breach = "extra", "in the accounting system under our reference but not drafted for " \
                                              "this period: void it or find its source", True
        else:
            diffs = _document_detail(s, t)
            status = "match" if not diffs else "mismatch"
            detail = "; ".join(diffs)
            breach = status == "mismatch" and not _within_tolerance(s, t, tolerance_minor)
        rows.append({"entity": entity, "period": period, "level": "document", "key": ref,
                     "currency": (s.currency if s else None) or (t.currency if t else None) or "",
                     "source_count": len(s.lines) if s else 0, "target_count": len(t.lines) if t else 0,
                     "source_minor": s_amt, "target_minor": t_amt, "diff_minor": t_amt - s_amt, "status": status,
                     "breach": bool(breach), "detail": detail})

    # dimension totals: (level, key, currency) -> [source_count, target_count, source_minor, target_minor]
    agg: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for side, docs in ((0, source), (1, target)):
        for doc in docs.values():
            ccy = doc.currency or ""
            for level, key in (("currency", ccy), ("client", doc.client or UNATTRIBUTED)):
                a = agg[(level, key, ccy)]
                a[side] += 1
                a[2 + side] += doc.subtotal_minor
            for li in doc.lines:
                for level, key in (("project", li.project), ("tax_code", li.tax_code), ("account", li.account)):
                    a = agg[(level, key, li.currency)]
                    a[side] += 1
                    a[2 + side] += li.amount_minor
    order = {lv: i for i, lv in enumerate(LEVELS)}
    for (level, key, ccy), (sc, tc, sm, tm) in sorted(agg.items(), key=lambda kv: (order[kv[0][0]], kv[0][1:])):
        ok = sc == tc and sm == tm
        rows.append({"entity": entity, "period": period, "level": level, "key": key, "currency": ccy,
                     "source_count": sc, "target_count": tc, "source_minor": sm, "target_minor": tm,
                     "diff_minor": tm - sm, "status": "match" if ok else "mismatch",
                     "breach": abs(tm - sm) > tolerance_minor or sc != tc,
                     "detail": "" if ok else f"{sc} vs {tc} {'document' if level in ('currency', 'client') else 'line'}"
                                             f"(s), {_fmt(sm, ccy)} vs {_fmt(tm, ccy)}"})
    return pd.DataFrame(rows, columns=COLUMNS)
