"""The QuickBooks Online query language, the subset Intuit documents ("Query operations and syntax").

    SELECT * | count(*) FROM Entity
        [WHERE Property Operator Value [AND ...]]
        [ORDERBY Property [ASC|DESC][, ...]]
        [STARTPOSITION n] [MAXRESULTS n]

Operators ``=``, ``<``, ``>``, ``<=``, ``>=``, ``IN (v, ...)``, ``LIKE`` (only ``%`` as wildcard). Values are
``'quoted'`` (a backslash escapes the next character: ``'O\\'Brien'``), bare numbers, ``true``/``false``.
Keywords in any case; the entity name is case sensitive, as documented. Not supported, as documented: ``OR``,
projections, ``GROUP BY``, ``JOIN`` — a parse error (4000). A property the entity cannot be filtered or
sorted on is 4001. ``STARTPOSITION`` is 1-based; ``MAXRESULTS`` defaults to 100 and is capped at 1000.

Pure: ``parse`` reads text into a ``Query``; ``run`` applies it to documents. Errors are ``QboFault``s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sync_pipeline.sandbox.qbo_faults import PACIFIC, QboFault, query_invalid, query_parse

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 1000

_META = {"metadata.createtime", "metadata.lastupdatedtime"}
# What each entity can be filtered and sorted on (lower case): the "filterable"/"sortable" attributes of
# Intuit's entity reference, limited to the entities the sandbox serves.
FILTERABLE: dict[str, set[str]] = {
    "Customer": {"id", "displayname", "givenname", "familyname", "companyname", "fullyqualifiedname",
                 "primaryemailaddr", "active", "balance", "printoncheckname", *_META},
    "Item": {"id", "name", "active", "type", "sku", "fullyqualifiedname", *_META},
    "Invoice": {"id", "docnumber", "txndate", "duedate", "customerref", "balance", "totalamt", *_META},
    "CreditMemo": {"id", "docnumber", "txndate", "customerref", "balance", "totalamt", *_META},
    "Payment": {"id", "txndate", "customerref", "totalamt", *_META},
    "Deposit": {"id", "txndate", "totalamt", *_META},
    "Account": {"id", "name", "accounttype", "accountsubtype", "classification", "active", "acctnum",
                "fullyqualifiedname", *_META},
    "TaxCode": {"id", "name", "active", *_META},
    "TaxRate": {"id", "name", "active", *_META},
    "Term": {"id", "name", "active", *_META},
    "CompanyInfo": {"id", *_META},
    "Preferences": {"id", *_META},
}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:\\.|[^'\\])*')
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|!=|<>|[=<>(),*])
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True)
class Token:
    kind: str  # str, num, ident, op, end
    text: str
    col: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "ident" else ""


@dataclass(frozen=True)
class Cond:
    prop: str  # as written (dotted)
    op: str  # =, <, >, <=, >=, in, like
    values: tuple[Any, ...]


@dataclass
class Query:
    entity: str
    count: bool = False
    where: list[Cond] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted[1:-1], flags=re.DOTALL)


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            ch = text[pos]
            raise query_parse(f"Invalid content. Lexical error at line 1, column {pos + 1}.  Encountered: "
                              f"\"{ch}\" ({ord(ch)}), after : \"\"")
        kind = m.lastgroup or "ws"
        if kind != "ws":
            out.append(Token(kind, m.group(), pos + 1))
        pos = m.end()
    out.append(Token("end", "<EOF>", len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        t = self.toks[self.i]
        if t.kind != "end":
            self.i += 1
        return t

    def fail(self, expecting: str) -> QboFault:
        t = self.peek()
        return query_parse(f"Encountered \" {t.text} \"\" at line 1, column {t.col}.\nWas expecting:\n    "
                           f"{expecting} ...")

    def keyword(self, *words: str) -> str:
        t = self.peek()
        if t.word in words:
            self.take()
            return t.word
        raise self.fail(" | ".join(f'"{w}"' for w in words))

    def maybe(self, word: str) -> bool:
        if self.peek().word == word:
            self.take()
            return True
        return False

    def op(self, symbol: str) -> None:
        t = self.peek()
        if t.kind == "op" and t.text == symbol:
            self.take()
            return
        raise self.fail(f'"{symbol}"')

    def integer(self) -> int:
        t = self.take()
        if t.kind != "num" or not re.fullmatch(r"\d+", t.text):
            self.i -= 1 if t.kind != "end" else 0
            raise self.fail("<INTEGER>")
        return int(t.text)

    def value(self) -> Any:
        t = self.take()
        if t.kind == "str":
            return _unescape(t.text)
        if t.kind == "num":
            return Decimal(t.text)
        if t.word in ("true", "false"):
            return t.word == "true"
        if t.kind != "end":
            self.i -= 1
        raise self.fail("<STRING> | <NUMBER> | \"true\" | \"false\"")

    def parse(self) -> Query:
        self.keyword("select")
        count = False
        t = self.peek()
        if t.kind == "op" and t.text == "*":
            self.take()
        elif t.word == "count":
            self.take()
            self.op("(")
            self.op("*")
            self.op(")")
            count = True
        else:
            raise self.fail('"*" | "count"')
        self.keyword("from")
        ent = self.take()
        if ent.kind != "ident" or "." in ent.text:
            raise query_parse(f"Encountered \" {ent.text} \"\" at line 1, column {ent.col}.\nWas expecting:\n"
                              f"    <IDENTIFIER> ...")
        q = Query(ent.text, count=count)
        if self.maybe("where"):
            q.where.append(self.condition())
            while self.maybe("and"):
                q.where.append(self.condition())
            if self.peek().word == "or":
                raise self.fail('<EOF> | "and" | "orderby" | "startposition" | "maxresults"')
        if self.peek().word in ("orderby", "order"):
            if self.take().word == "order":
                self.keyword("by")
            q.order.append(self.order_term())
            while self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                q.order.append(self.order_term())
        if self.maybe("startposition"):
            q.start = self.integer()
        if self.maybe("maxresults"):
            q.max_results = self.integer()
        if self.peek().kind != "end":
            raise self.fail('<EOF> | "and" | "orderby" | "startposition" | "maxresults"')
        return q

    def condition(self) -> Cond:
        prop = self.take()
        if prop.kind != "ident" or prop.word in ("and", "or", "where"):
            if prop.kind != "end":
                self.i -= 1
            raise self.fail("<IDENTIFIER>")
        t = self.peek()
        if t.word == "in":
            self.take()
            self.op("(")
            values = [self.value()]
            while self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                values.append(self.value())
            self.op(")")
            return Cond(prop.text, "in", tuple(values))
        if t.word == "like":
            self.take()
            v = self.value()
            if not isinstance(v, str):
                raise self.fail("<STRING>")
            return Cond(prop.text, "like", (v,))
        if t.kind == "op" and t.text in ("=", "<", ">", "<=", ">="):
            self.take()
            return Cond(prop.text, t.text, (self.value(),))
        raise self.fail('"=" | "<" | ">" | "<=" | ">=" | "in" | "like"')

    def order_term(self) -> tuple[str, bool]:
        t = self.take()
        if t.kind != "ident":
            if t.kind != "end":
                self.i -= 1
            raise self.fail("<IDENTIFIER>")
        desc = False
        if self.peek().word in ("asc", "desc"):
            desc = self.take().word == "desc"
        return t.text, desc


def parse(text: str | None) -> Query:
    """A query, or a 4000 (syntax) / 4001 (entity or property) fault."""
    if text is None or not text.strip():
        raise query_parse("The query provided was empty")
    q = _Parser(text).parse()
    allowed = FILTERABLE.get(q.entity)
    if allowed is None:
        raise query_invalid(f"entity '{q.entity}' is not queryable")
    for prop in [c.prop for c in q.where] + [p for p, _ in q.order]:
        if prop.lower() not in allowed:
            raise query_invalid(f"property '{prop}' is not queryable")
    if q.start < 1:
        q.start = 1
    q.max_results = min(q.max_results, MAX_RESULTS)
    return q


# -- evaluation ---------------------------------------------------------------------------------------------
def _lookup(doc: dict[str, Any], prop: str) -> Any:
    cur: Any = doc
    for part in prop.split("."):
        if not isinstance(cur, dict):
            return None
        key = next((k for k in cur if k.lower() == part.lower()), None)
        cur = cur.get(key) if key is not None else None
    if isinstance(cur, dict) and "value" in cur:  # a reference (CustomerRef): compare its id
        cur = cur["value"]
    if isinstance(cur, dict) and "Address" in cur:  # PrimaryEmailAddr
        cur = cur["Address"]
    return cur


def _instant(v: Any) -> datetime | None:
    if not isinstance(v, str) or not re.match(r"^\d{4}-\d{2}-\d{2}T", v):
        return None
    s = v.replace("Z", "+00:00")
    s = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", s)  # -0700 → -07:00 (Intuit's own examples use both)
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=PACIFIC)


def _comparable(doc_value: Any, query_value: Any) -> tuple[Any, Any] | None:
    if doc_value is None:
        return None
    if isinstance(doc_value, bool) or isinstance(query_value, bool):
        dv = doc_value if isinstance(doc_value, bool) else str(doc_value).lower() == "true"
        qv = query_value if isinstance(query_value, bool) else str(query_value).lower() == "true"
        return dv, qv
    if isinstance(doc_value, (int, Decimal)):
        try:
            return Decimal(doc_value), Decimal(str(query_value))
        except InvalidOperation:
            return None
    if isinstance(doc_value, str) and doc_value.isdigit() and str(query_value).isdigit():
        return int(doc_value), int(str(query_value))  # Ids
    da, qa = _instant(doc_value), _instant(query_value)
    if da is not None and qa is not None:
        return da, qa
    return str(doc_value), str(query_value)


def _like(value: Any, pattern: str) -> bool:
    if value is None:
        return False
    rx = "^" + ".*".join(re.escape(p) for p in pattern.split("%")) + "$"
    return re.match(rx, str(value), re.DOTALL | re.IGNORECASE) is not None


def matches(doc: dict[str, Any], cond: Cond) -> bool:
    v = _lookup(doc, cond.prop)
    if cond.op == "like":
        return _like(v, cond.values[0])
    if cond.op == "in":
        return any((p := _comparable(v, q)) is not None and p[0] == p[1] for q in cond.values)
    pair = _comparable(v, cond.values[0])
    if pair is None:
        return False
    a, b = pair
    try:
        return {"=": a == b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[cond.op]
    except TypeError:
        return False


def _sort_key(v: Any) -> tuple[int, int, Any]:
    if v is None:
        return (1, 0, 0)
    if isinstance(v, bool):
        return (0, 3, str(v))
    if isinstance(v, (int, Decimal)):
        return (0, 0, Decimal(v))
    t = _instant(v)
    if t is not None:
        return (0, 1, Decimal(str(t.timestamp())))
    if isinstance(v, str) and v.isdigit():  # Ids sort numerically
        return (0, 0, Decimal(v))
    return (0, 2, str(v).lower())


def run(q: Query, docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The page of documents the query selects, and how many matched in all."""
    hits = [d for d in docs if all(matches(d, c) for c in q.where)]
    hits.sort(key=lambda d: _sort_key(d.get("Id")))
    for prop, desc in reversed(q.order):
        hits.sort(key=lambda d, p=prop: _sort_key(_lookup(d, p)), reverse=desc)
    return hits[q.start - 1: q.start - 1 + q.max_results], len(hits)


def quote(value: str) -> str:
    """A value as a quoted literal of the language (for tests and clients): backslash before ``'`` and ``\\``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
