"""What each field of an API source record may be, as the sources document it (an oracle written independently of
``connectors.strict``), and hypothesis strategies of pages of good records with arbitrary JSON in a few fields.
Shared by the property tests at the source boundaries."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from sync_pipeline.services.extract import read_pages

# ---- what each field may be, as the sources document it (the oracle; independent of connectors.strict) --------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_id(v: Any) -> bool:
    return _is_int(v) and 0 < v < 2**63


def is_number(v: Any, integer_digits: int, places: int = 6) -> bool:
    if not (_is_int(v) or isinstance(v, Decimal)):
        return False
    d = Decimal(v)
    if not d.is_finite() or (d != 0 and d.adjusted() >= integer_digits):
        return False
    return d == d.quantize(Decimal(1).scaleb(-places))


def is_date(v: Any) -> bool:
    if not isinstance(v, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


def is_instant(v: Any) -> bool:
    try:
        return isinstance(v, str) and datetime.fromisoformat(v.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def optional(check):
    return lambda v: v is None or check(v)


def is_str(v: Any) -> bool:
    return isinstance(v, str)


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def is_ref(**more):
    """An object with an integer id, an optional string name, and ``more`` optional keys."""
    keys = {"name": optional(is_str), **more}
    return lambda v: isinstance(v, dict) and "id" in v and is_id(v["id"]) and all(
        k not in v or check(v[k]) for k, check in keys.items())


def is_obj(**keys):
    return lambda v: isinstance(v, dict) and all(k not in v or check(v[k]) for k, check in keys.items())


APPROVAL = ("unsubmitted", "submitted", "approved")
COMMON = {
    "id": is_id, "spent_date": is_date, "billable": is_bool, "is_closed": is_bool, "is_billed": is_bool,
    "notes": optional(is_str), "updated_at": is_instant, "approval_status": optional(lambda v: v in APPROVAL),
    "user": optional(is_ref()), "client": optional(is_ref(currency=optional(
        lambda v: isinstance(v, str) and re.fullmatch(r"[A-Z]{3}", v) is not None))),
    "project": optional(is_ref(code=optional(is_str))), "invoice": optional(is_obj(id=optional(is_id),
                                                                                     number=optional(is_str))),
    "x_approved_by": optional(is_ref()), "x_approved_at": optional(is_instant),
}
HARVEST_TIME = {**COMMON, "task": optional(is_ref()), "hours": lambda v: is_number(v, 6),
                "billable_rate": optional(lambda v: is_number(v, 12)), "cost_rate": optional(lambda v: is_number(v, 12)),
                "external_reference": optional(is_obj(id=optional(is_str), group_id=optional(is_str),
                                                      service=optional(is_str))),
                "x_started_at": optional(is_instant), "x_timezone": optional(is_str)}
HARVEST_EXPENSE = {**COMMON, "expense_category": optional(is_ref()), "units": optional(lambda v: is_number(v, 6)),
                   "total_cost": lambda v: is_number(v, 12), "x_markup_percent": optional(lambda v: is_number(v, 5, 4)),
                   "receipt": optional(is_obj(url=optional(is_str)))}
REQUIRED_HARVEST = {"id", "spent_date", "billable", "updated_at"}


def is_custom_fields(v: Any) -> bool:
    if not isinstance(v, list):
        return False
    for cf in v:
        if not (isinstance(cf, dict) and isinstance(cf.get("name"), str) and ("id" not in cf or optional(is_id)(cf["id"]))):
            return False
        if cf["name"].lower() == "billable" and cf.get("value") not in (None, "1", "0", ""):
            return False
    return True


REDMINE = {"id": is_id, "project": optional(is_ref()), "issue": optional(lambda v: is_obj()(v) and is_id(v.get("id"))),
           "user": optional(is_ref()), "activity": optional(is_ref()), "hours": lambda v: is_number(v, 6),
           "comments": optional(is_str), "spent_on": is_date, "created_on": optional(is_instant),
           "updated_on": is_instant, "custom_fields": optional(is_custom_fields)}
REQUIRED_REDMINE = {"id", "hours", "spent_on", "updated_on"}

# ---- generated records ----------------------------------------------------------------------------------------
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.decimals(allow_nan=True, allow_infinity=True) | st.floats() | st.text(max_size=12)
           | st.sampled_from(["false", "true", "1", "0", "1,5", "2026-01-05", "2026-02-30", "2026-01-05T10:00:00Z",
                              "2026-01-05T10:00:00", "GBP", "gbp", "approved", "APPROVED", "", "١٫٥", "1e400"])
           | st.sampled_from([Decimal("1e-7"), Decimal("1e6"), Decimal("999999.999999"), Decimal("-0"), 2**63]))
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(
    st.sampled_from(["id", "name", "currency", "code", "number", "group_id", "url", "value", "x"]), c, max_size=3),
    max_leaves=6)
ABSENT = object()  # the field is taken out
NUMBER_EDGES = [Decimal("1e6"), Decimal("999999.999999"), Decimal("-999999.999999"), Decimal("1e12"),
                Decimal("999999999999.999999"), Decimal("-1e12"), Decimal("1e-7"), Decimal("0.000001"),
                Decimal("1.0000001"), Decimal("99999.9999"), Decimal("1e5"), Decimal("0.00001"), 10**6, 10**12 - 1,
                True, "1.5"]
BOOL_EDGES = ["true", "false", "1", "0", 1, 0, "yes", "", None, True, False]
EDGES_OF = {**{f: NUMBER_EDGES for f in ("hours", "units", "total_cost", "billable_rate", "cost_rate",
                                         "x_markup_percent")},
            **{f: BOOL_EDGES for f in ("billable", "is_closed", "is_billed")}}
# the edges of every documented range, on both sides, drawn as often as anything else
edges = st.sampled_from([Decimal("1e6"), Decimal("999999.999999"), Decimal("-999999.999999"), Decimal("1e12"),
                         Decimal("999999999999.999999"), Decimal("1e-7"), Decimal("0.000001"), Decimal("99999.9999"),
                         Decimal("1e5"), Decimal("0.00001"), Decimal("NaN"), Decimal("-Infinity"), 2**63, 2**63 - 1, 0,
                         -1, 1, True, False, None, "false", "1", "0", "2026-02-28", "2026-02-29",
                         "2026-01-05T10:00:00+01:00", {"id": 1}, {"id": 0}, {"id": True}, [], [{"name": "billable"}],
                         [{"name": "Billable", "value": "1"}], [{"name": "billable", "value": "yes"}]])


def pages_of(good, fields: list[str], max_records: int = 8):
    """A page: good records, some with 1-3 fields set to arbitrary JSON (or removed), and now and then a record
    that is not an object at all."""
    change = st.sampled_from(fields).flatmap(
        lambda f: st.tuples(st.just(f), st.one_of(json_values, edges, st.sampled_from(EDGES_OF.get(f, [None])),
                                                  st.just(ABSENT))))
    record = st.tuples(st.integers(0, 10_000), st.lists(change, max_size=3, unique_by=lambda c: c[0]))

    def build(specs):
        docs, changes = [], []
        for i, (n, ch) in enumerate(specs):
            doc = good(n * 8 + i)  # distinct ids on one page
            for f, v in ch:
                if v is ABSENT:
                    doc.pop(f, None)
                else:
                    doc[f] = v
            docs.append(doc)
            changes.append(dict(ch))
        return docs, changes

    return st.lists(record, min_size=1, max_size=max_records).map(build)


def check_page(docs, changes, reader, spec: dict, required: set[str], id_of, *, exact: dict[str, str]):
    """The properties, for one page read by ``reader``."""
    read = read_pages([docs], reader, "2026-02-01T00:00:00Z")  # never raises
    assert read.inputs == len(docs)
    rows = {r[id_of]: r for r in read.rows}
    rejected = {r.position: r for r in read.rejected}
    for position, (doc, changed) in enumerate(zip(docs, changes, strict=True), start=1):
        bad = [f for f, v in changed.items() if (f in required if v is ABSENT else not spec[f](v))]
        if position in rejected:
            r = rejected[position]
            assert r.problems and all(p.field and p.problem and p.value for p in r.problems)
            assert r.record == (str(doc["id"]) if "id" not in bad else f"position {position}")
            assert bad, f"rejected for fields the source documents as allowed: {r.summary}"
            assert {p.field.split(".")[0] for p in r.problems} <= set(bad)
            if r.row is not None:  # keeps its identity, nothing else, and says why
                assert r.row["source_problem"] and r.row["billable"] is False
        else:
            assert not bad, f"typed although {bad} are not what the source documents"
            row = rows[str(doc["id"])]
            for field, column in exact.items():  # read exactly as sent (a JSON integer is the same Decimal)
                want, got = doc.get(field), row[column]
                if _is_int(want) or isinstance(want, Decimal):
                    assert isinstance(got, Decimal) and got == want, (field, want, got)
                elif want is None:
                    assert got in (None, False), (field, want, got)  # absent: empty, or not set
                else:
                    assert got == want and type(got) is type(want), (field, want, got)
            assert row.get("source_problem") is None
    good = [d for d, c in zip(docs, changes, strict=True) if not c]
    assert all(str(d["id"]) in rows for d in good)  # every good neighbour typed


