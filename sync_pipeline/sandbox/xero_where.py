"""Xero ``where`` filter expressions: parsed once, then run as SQL on indexed columns where possible.

Supports what integrations use: ``Field == "x"`` / ``!=``, numeric and ``DateTime(y,m,d)``
comparisons (``< <= > >=``), ``Field.StartsWith("x")``, ``.EndsWith``, ``.Contains``,
``Field.ToLower() == "x"``, ``guid("...")``, dotted fields (``Contact.ContactID``),
``AND`` / ``OR`` / parentheses, ``true``/``false``/``null``.

``plan(text, columns)`` splits the top-level AND terms into SQL over indexed columns (so
``Reference == "x"`` on 100k invoices is an index lookup) and a Python predicate for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op>==|!=|>=|<=|>|<|\(|\)|,|\.|&&|\|\|)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)

Predicate = Callable[[dict[str, Any]], bool]


class WhereError(ValueError):
    pass


# -- AST -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cmp:
    path: tuple[str, ...]
    op: str
    value: Any
    lower: bool = False  # Field.ToLower() == "x"


@dataclass(frozen=True)
class Text:
    path: tuple[str, ...]
    method: str  # startswith | endswith | contains
    arg: str
    lower: bool = False


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    left: Any
    right: Any


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise WhereError(f"cannot parse where clause near {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        assert kind
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def get_path(doc: dict[str, Any], path: list[str] | tuple[str, ...]) -> Any:
    cur: Any = doc
    for p in path:
        if not isinstance(cur, dict):
            return None
        if p in cur:
            cur = cur[p]
            continue
        # field names are case-insensitive in filters
        key = next((k for k in cur if k.lower() == p.lower()), None)
        cur = cur.get(key) if key else None
    return cur


_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def as_date(v: Any) -> date | None:
    """A Xero date value (``/Date(ms+0000)/``, ISO date or datetime) as a date."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        m = _MS_DATE.match(v)
        if m:
            return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC).date()
        try:
            return date.fromisoformat(v[:10])
        except ValueError:
            return None
    return None


class _Parser:
    def __init__(self, toks: list[tuple[str, str]]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        t = self.peek()
        if t is None or (value is not None and t[1].lower() != value.lower()):
            raise WhereError(f"expected {value or 'a token'} in where clause, got {t[1] if t else 'end'}")
        self.i += 1
        return t

    def parse(self) -> Any:
        node = self.or_()
        if self.peek() is not None:
            raise WhereError(f"unexpected {self.peek()[1]!r} in where clause")  # type: ignore[index]
        return node

    def _is(self, *words: str) -> bool:
        t = self.peek()
        return bool(t) and t[1].upper() in words  # type: ignore[index]

    def or_(self) -> Any:
        left = self.and_()
        while self._is("OR", "||"):
            self.take()
            left = BoolOp("or", left, self.and_())
        return left

    def and_(self) -> Any:
        left = self.atom()
        while self._is("AND", "&&"):
            self.take()
            left = BoolOp("and", left, self.atom())
        return left

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind == "num":
            return Decimal(text)
        if kind == "word":
            w = text.lower()
            if w in ("true", "false"):
                return w == "true"
            if w == "null":
                return None
            if w == "guid":
                self.take("(")
                v = self.value()
                self.take(")")
                return str(v).lower()
            if w in ("datetime", "date"):
                self.take("(")
                parts = [int(self.value())]
                while self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                    self.take(",")
                    parts.append(int(self.value()))
                self.take(")")
                try:
                    return date(*parts[:3])
                except (TypeError, ValueError) as e:
                    raise WhereError(f"bad DateTime{tuple(parts)} in where clause: {e}") from None
        raise WhereError(f"expected a value in where clause, got {text!r}")

    def atom(self) -> Any:
        t = self.peek()
        if t and t[1] == "(":
            self.take("(")
            inner = self.or_()
            self.take(")")
            return inner
        kind, name = self.take()
        if kind != "word":
            raise WhereError(f"expected a field name in where clause, got {name!r}")
        path = [name]
        lower = False
        while (t := self.peek()) and t[1] == ".":
            self.take(".")
            part = self.take()[1]
            if part.lower() in ("tolower", "toupper"):
                self.take("(")
                self.take(")")
                lower = True
                continue
            path.append(part)
        method = path[-1].lower()
        if method in ("startswith", "endswith", "contains") and len(path) > 1:
            self.take("(")
            arg = str(self.value())
            self.take(")")
            return Text(tuple(path[:-1]), method, arg, lower)
        op = self.take()[1]
        if op not in ("==", "!=", ">", "<", ">=", "<="):
            raise WhereError(f"unsupported operator {op!r} in where clause")
        return Cmp(tuple(path), op, self.value(), lower)


def parse(text: str) -> Any:
    return _Parser(_tokens(text)).parse()


# -- evaluation in Python -----------------------------------------------------------------------
def _coerce(lhs: Any, rhs: Any) -> tuple[Any, Any]:
    if isinstance(rhs, date):
        return as_date(lhs), rhs
    if isinstance(rhs, Decimal):
        if lhs is None or isinstance(lhs, bool):
            return lhs, rhs
        try:
            return Decimal(str(lhs)), rhs
        except InvalidOperation:
            return None, rhs
    if isinstance(rhs, str) and isinstance(lhs, str) and _is_guid(rhs):
        return lhs.lower(), rhs.lower()
    return lhs, rhs


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _is_guid(v: str) -> bool:
    return bool(_GUID.match(v))


def predicate(node: Any) -> Predicate:
    if isinstance(node, BoolOp):
        a, b = predicate(node.left), predicate(node.right)
        if node.op == "and":
            return lambda d: a(d) and b(d)
        return lambda d: a(d) or b(d)
    if isinstance(node, Text):
        def text_pred(d: dict[str, Any], n: Text = node) -> bool:
            v = get_path(d, n.path)
            if not isinstance(v, str):
                return False
            arg = n.arg
            if n.lower:
                v, arg = v.lower(), arg.lower()
            if n.method == "startswith":
                return v.startswith(arg)
            if n.method == "endswith":
                return v.endswith(arg)
            return arg in v

        return text_pred
    assert isinstance(node, Cmp)

    def cmp_pred(d: dict[str, Any], n: Cmp = node) -> bool:
        raw = get_path(d, n.path)
        if n.lower and isinstance(raw, str):
            raw = raw.lower()
        lhs, r = _coerce(raw, n.value.lower() if n.lower and isinstance(n.value, str) else n.value)
        if n.op == "==":
            return lhs == r
        if n.op == "!=":
            return lhs != r
        if lhs is None or r is None:
            return False
        try:
            return {">": lhs > r, "<": lhs < r, ">=": lhs >= r, "<=": lhs <= r}[n.op]
        except TypeError:
            return False

    return cmp_pred


def compile_where(text: str) -> Predicate:
    return predicate(parse(text))


# -- translation to SQL over indexed columns ------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """An indexed column a where path maps onto. ``kind``: text | guid | date."""

    name: str
    kind: str = "text"


def _sql(node: Any, columns: dict[str, Column]) -> tuple[str, list[Any]] | None:
    if isinstance(node, BoolOp):
        a, b = _sql(node.left, columns), _sql(node.right, columns)
        if a is None or b is None:
            return None
        return f"({a[0]} {node.op.upper()} {b[0]})", a[1] + b[1]
    col = columns.get(".".join(node.path).lower())
    if col is None or node.lower:
        return None
    if isinstance(node, Text):
        if col.kind != "text" or node.method != "startswith":
            return None
        if node.arg == "":
            return f"{col.name} IS NOT NULL", []
        # a prefix as a range keeps the (tenant, column) index usable
        upper = node.arg[:-1] + chr(ord(node.arg[-1]) + 1)
        return f"({col.name} >= ? AND {col.name} < ?)", [node.arg, upper]
    value = node.value
    if value is None:
        if node.op == "==":
            return f"{col.name} IS NULL", []
        if node.op == "!=":
            return f"{col.name} IS NOT NULL", []
        return None
    if col.kind == "date":
        if not isinstance(value, date):
            return None
        value = value.isoformat()
    elif col.kind == "guid":
        if not isinstance(value, str):
            return None
        value = value.lower()
    elif not isinstance(value, str):
        return None
    if node.op == "==":
        return f"{col.name} = ?", [value]
    if node.op == "!=":
        return f"{col.name} IS NOT ?", [value]
    if col.kind == "guid":
        return None
    return f"{col.name} {node.op} ?", [value]


def _conjuncts(node: Any) -> list[Any]:
    if isinstance(node, BoolOp) and node.op == "and":
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


@dataclass
class Plan:
    sql: str
    args: list[Any]
    residual: Predicate | None


def plan(text: str, columns: dict[str, Column]) -> Plan:
    """SQL for the terms that hit indexed columns; a Python predicate for the others (or None)."""
    sql_parts: list[str] = []
    args: list[Any] = []
    rest: list[Any] = []
    for term in _conjuncts(parse(text)):
        got = _sql(term, columns)
        if got is None:
            rest.append(term)
        else:
            sql_parts.append(got[0])
            args.extend(got[1])
    residual = None
    if rest:
        node = rest[0]
        for r in rest[1:]:
            node = BoolOp("and", node, r)
        residual = predicate(node)
    return Plan(" AND ".join(sql_parts), args, residual)
