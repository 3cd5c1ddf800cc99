"""Strict reading of source records: a typed record, or a quarantine entry naming the record, field and problem.

Every connector that reads records from the outside world validates each one against a pydantic schema in
strict mode (:func:`strict_record`) with the field types below. Nothing is coerced: a JSON string is never a
boolean (``"false"`` is not true), a boolean is never a number (``true`` is not 1 h), a number is never read
from a string (no locale guessing: ``"1,5"`` is neither 1.5 nor 15), a binary float is refused (JSON numbers
are decoded as Decimal), and a number the warehouse could not hold exactly (too many digits before or after
the point) is refused rather than rounded. A record that fails becomes a :class:`Rejected` naming the record (its
source id, or its position in the stream when the id itself is bad), each bad field, the value as received
(truncated; free text redacted) and the problem. One record's failure never touches another's reading.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, TypeAdapter, ValidationError, with_config
from pydantic_core import PydanticCustomError

from sync_pipeline.domain.money import MINOR_UNITS

MAX_VALUE_CHARS = 60
REDACTED_FIELDS = frozenset({"notes", "comments", "name", "user.name", "description"})  # free text / personal


def json_kind(v: Any) -> str:
    """What a value is in JSON terms, for a problem a person reads ("the string 'false'", "a boolean")."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, str):
        return f"the string {shown(v)}"
    if isinstance(v, float):
        return f"the binary float {v!r}"
    if isinstance(v, int | Decimal):
        return f"the number {shown(v)}"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list | tuple):
        return "an array"
    return f"a {type(v).__name__}"


def shown(v: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A value as a quarantine row shows it: its repr, cut to ``limit`` characters."""
    if v is None or isinstance(v, bool):
        return "null" if v is None else str(v).lower()
    s = repr(v) if not isinstance(v, Decimal) else str(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _fail(kind: str, message: str, v: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message + ", got {got}", {"got": json_kind(v)})


# ---- field types -------------------------------------------------------------------------------------------

def decimal_type(integer_digits: int, places: int) -> Any:
    """A JSON number (int or Decimal, never a bool, string or float) that fits DECIMAL(integer_digits +
    places, places) exactly: at most ``integer_digits`` digits before the point and ``places`` after it."""

    def check(v: Any) -> Decimal:
        if isinstance(v, bool) or not isinstance(v, int | Decimal):
            raise _fail("number", "expected a JSON number", v)
        d = Decimal(v)
        if not d.is_finite():
            raise _fail("number", "expected a finite number", v)
        sign, digits, exp = d.as_tuple()
        assert isinstance(exp, int)
        n = list(digits)
        while exp < 0 and len(n) > 1 and n[-1] == 0:  # 1.500 has one decimal place, not three
            n.pop()
            exp += 1
        if exp < -places:
            raise _fail("number", f"expected at most {places} decimal places", v)
        if d != 0 and d.adjusted() >= integer_digits:
            raise _fail("number", f"expected less than 10^{integer_digits} in magnitude", v)
        return d

    return Annotated[Decimal, BeforeValidator(check)]


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits: \d would take other scripts' digits


def _iso_date(v: Any) -> str:
    if not isinstance(v, str) or not _ISO_DATE.fullmatch(v):
        raise _fail("date", "expected a date YYYY-MM-DD", v)
    try:
        date.fromisoformat(v)
    except ValueError:
        raise _fail("date", "expected a calendar date YYYY-MM-DD", v) from None
    return v


def _instant(v: Any) -> str:
    if not isinstance(v, str):
        raise _fail("instant", "expected an ISO-8601 instant with its UTC offset", v)
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise _fail("instant", "expected an ISO-8601 instant with its UTC offset", v) from None
    if dt.tzinfo is None:
        raise _fail("instant", "expected an instant with its UTC offset (or Z)", v)
    return v


# ids, strings and booleans are pydantic-core's own strict types (no Python call per field: records/s matter);
# their messages are completed with what was received in :func:`problems_of`
Id = Annotated[int, Strict(), Field(gt=0, lt=2**63)]
Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]
IsoDate = Annotated[str, BeforeValidator(_iso_date)]
Instant = Annotated[str, BeforeValidator(_instant)]


def one_of(*allowed: str) -> Any:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v not in allowed:
            raise _fail("enum", f"expected one of {', '.join(allowed)}", v)
        return v

    return Annotated[str, BeforeValidator(check)]


def _currency(v: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", v):
        raise PydanticCustomError("currency", "expected an ISO 4217 code (three capital letters), got {got}",
                                  {"got": json_kind(v)})
    return v


Currency = Annotated[str, Strict(), AfterValidator(_currency)]


STRICT = ConfigDict(strict=True, extra="ignore")


def strict_record(cls: T) -> T:
    """A source record's schema: a ``TypedDict`` read by pydantic in strict mode. Unknown fields are ignored (APIs
    add fields); known ones are read by the field types above (a nested record is an object or null, nothing
    else). TypedDicts rather than models: a record validates straight into the dict the connector maps, at about a
    third of a model's cost (records/s matter: ``sync-pipeline bench fuzz``)."""
    return with_config(STRICT)(cls)


# ---- the verdict on one record -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    field: str  # dotted path in the source record: "hours", "client.currency"
    value: str  # the value as received, truncated ("<redacted, 12 chars>" for free text)
    problem: str


@dataclass(frozen=True)
class Rejected:
    """A source record that does not read strictly. ``record`` names it: its id, or ``position N`` (1-based, in
    the order the source sent them) when the id itself is bad. ``row``: the warehouse row that still carries
    the entry's identity, with every field it could read and the problems in ``source_problem``, so the entry
    is classified quarantined downstream (None when the id is bad: no identity to carry)."""

    source: str
    record: str
    problems: tuple[Problem, ...]
    row: dict[str, Any] | None = None
    position: int | None = None

    def at(self, position: int) -> Rejected:
        record = self.record if self.row is not None else f"position {position}"
        return replace(self, position=position, record=record)

    @property
    def summary(self) -> str:
        return "; ".join(f"{p.field}: {p.problem}" for p in self.problems)


def describe(field_path: str, value: Any) -> str:
    if field_path in REDACTED_FIELDS or field_path.rsplit(".", 1)[-1] in REDACTED_FIELDS:
        if isinstance(value, str):
            return f"<redacted: a string of {len(value)} characters>"
        kind = "a boolean" if isinstance(value, bool) else "a number" if isinstance(value, int | float | Decimal) \
            else json_kind(value) if isinstance(value, dict | list | type(None)) else f"a {type(value).__name__}"
        return f"<redacted: {kind}>"
    return shown(value)


OWN_MESSAGES = frozenset({"number", "id", "string", "boolean", "date", "instant", "enum", "currency"})
_EXPECTED = {"int_type": "expected a positive integer id", "int_parsing": "expected a positive integer id",
             "greater_than": "expected a positive integer id", "less_than": "expected an id below 2^63",
             "string_type": "expected a string", "bool_type": "expected a JSON boolean true or false",
             "list_type": "expected an array", "model_type": "expected an object or null",
             "dict_type": "expected an object or null"}


def _expected(e: Any) -> str:
    return _EXPECTED.get(e["type"]) or e["msg"][0].lower() + e["msg"][1:]


def problems_of(err: ValidationError) -> tuple[Problem, ...]:
    out = []
    for e in err.errors(include_url=False):
        path = ".".join(str(p) for p in e["loc"])
        if e["type"] == "missing":
            out.append(Problem(path, "(absent)", "is missing"))
        elif e["type"] in OWN_MESSAGES:  # already says what it got
            out.append(Problem(path, describe(path, e["input"]), e["msg"]))
        else:
            out.append(Problem(path, describe(path, e["input"]), f"{_expected(e)}, got {json_kind(e['input'])}"))
    return tuple(out)


T = TypeVar("T")


@dataclass
class Reading:
    """What a strict reader yields for a stream: typed rows and rejected records, counted."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def validate(schema: TypeAdapter[Any], doc: Any) -> dict[str, Any] | tuple[Problem, ...]:
    """``doc`` read by ``schema``, or its problems (a record that is not even an object is one problem)."""
    if not isinstance(doc, dict):
        return (Problem("(record)", describe("(record)", doc), f"expected an object, got {json_kind(doc)}"),)
    try:
        return schema.validate_python(doc)
    except ValidationError as err:
        return problems_of(err)


def record_id(doc: Any, key: str = "id") -> str | None:
    """The record's id as text when it is a positive integer (the only ids the sources give), else None."""
    v = doc.get(key) if isinstance(doc, dict) else None
    return str(v) if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63 else None


def quarantine_frame_rows(rejected: list[Rejected]) -> list[dict[str, Any]]:
    """One row per problem: source, record, row (position), field, value, problem."""
    return [{"source": r.source, "record": r.record, "row": r.position, "field": p.field, "value": p.value,
             "problem": p.problem} for r in rejected for p in r.problems]


QUARANTINE_COLUMNS = ["source", "record", "row", "field", "value", "problem"]


def rejected_row(source: str, id_col: str, rid: str, doc: dict[str, Any], extracted_at: str,
                 problems: tuple[Problem, ...], updated_key: str = "updated_at", **flags: bool) -> dict[str, Any]:
    """The warehouse row of an entry whose record does not read: its identity, when it was updated (as the
    source says, when that is text) and its problems; every other column empty and every flag false (the
    problems, not the flags, decide its disposition: quarantined)."""
    updated = doc.get(updated_key)
    return {"source": source, id_col: rid, "updated_at": updated if isinstance(updated, str) else "",
            "extracted_at": extracted_at, "source_problem": "; ".join(f"{p.field}: {p.problem}" for p in problems),
            "billable": False, "is_closed": False, **flags}


def read_strictly(schema: TypeAdapter[Any], doc: Any, source: str, id_col: str, extracted_at: str, *,
                  updated_key: str = "updated_at", **flags: bool) -> dict[str, Any] | Rejected:
    """``doc`` as the typed dict ``schema`` reads, or a :class:`Rejected` naming it (with the row that keeps its
    identity when its id reads)."""
    m = validate(schema, doc)
    if not isinstance(m, tuple):
        return m
    rid = record_id(doc)
    row = rejected_row(source, id_col, rid, doc, extracted_at, m, updated_key, **flags) if rid else None
    return Rejected(source, rid or "position ?", m, row)


# ---- documents an accounting system sends back (connectors/xero/records.py, connectors/qbo/records.py) ------

def _known_currency(v: Any) -> str:
    if not isinstance(v, str) or v not in MINOR_UNITS:
        raise PydanticCustomError("currency", "expected a known ISO 4217 currency code, got {got}",
                                  {"got": json_kind(v)})
    return v


KnownCurrency = Annotated[str, AfterValidator(_known_currency)]  # one whose minor unit we know


def finer_than_currency(amounts: list[tuple[str, Any]], currency: str) -> tuple[Problem, ...]:
    """The ``(field, amount)`` pairs finer than ``currency``'s minor unit (12.345 GBP): refused, never rounded."""
    places = MINOR_UNITS[currency]
    return tuple(Problem(f, shown(v), f"expected an amount in whole {currency} minor units ({places} decimals), "
                                      f"got the number {v}")
                 for f, v in amounts if isinstance(v, Decimal) and v != v.quantize(Decimal(1).scaleb(-places)))


def matching_id(doc: Any, key: str, pattern: re.Pattern[str]) -> str | None:
    """The document's id under ``key`` when it is a string of the system's shape, else None."""
    v = doc.get(key) if isinstance(doc, dict) else None
    return v if isinstance(v, str) and pattern.fullmatch(v) else None


def read_document(schema: TypeAdapter[Any], doc: Any, *, source: str, rid: str | None, position: int,
                  check: Callable[[dict[str, Any]], tuple[Problem, ...]] | None = None
                  ) -> dict[str, Any] | Rejected:
    """``doc`` as ``schema`` reads it, then ``check`` (problems the schema cannot see, such as amounts finer than
    the document's currency); or a :class:`Rejected` naming it by ``rid``, or ``position N`` when its id is bad."""
    m = validate(schema, doc)
    if not isinstance(m, tuple) and check is not None:
        m = check(m) or m
    if isinstance(m, tuple):
        return Rejected(source, rid or f"position {position}", m, None, position)
    return m
