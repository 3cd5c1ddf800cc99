"""Xero ``where`` filter expressions, parsed into Python predicates.

Supports what integrations use: ``Field == "x"`` / ``!=``, numeric and
``DateTime(y,m,d)`` comparisons (``< <= > >=``), ``Field.StartsWith("x")``,
``.EndsWith``, ``.Contains``, ``guid("...")``, dotted fields (``Contact.ContactID``),
``AND`` / ``OR`` / parentheses, ``true``/``false``/``null``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op>==|!=|>=|<=|>|<|\(|\)|,|\.)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


class WhereError(ValueError):
    pass


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


def get_path(doc: dict[str, Any], path: list[str]) -> Any:
    cur: Any = doc
    for p in path:
        if not isinstance(cur, dict):
            return None
        # field names are case-insensitive in filters
        key = next((k for k in cur if k.lower() == p.lower()), None)
        cur = cur.get(key) if key else None
    return cur


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        m = re.match(r"^/Date\((\d+)([+-]\d{4})?\)/$", v)
        if m:
            from datetime import UTC, datetime

            return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC).date()
        m = re.match(r"^(\d{4})-(\d{2})-(\d{2})", v)
        if m and len(v) >= 10:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return Decimal(str(v))
    return v


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

    def parse(self) -> Callable[[dict[str, Any]], bool]:
        pred = self.or_()
        if self.peek() is not None:
            raise WhereError(f"unexpected {self.peek()[1]!r} in where clause")  # type: ignore[index]
        return pred

    def or_(self):
        left = self.and_()
        while (t := self.peek()) and t[0] == "word" and t[1].upper() == "OR":
            self.take()
            right = self.and_()
            left = (lambda a, b: lambda d: a(d) or b(d))(left, right)
        return left

    def and_(self):
        left = self.atom()
        while (t := self.peek()) and t[0] == "word" and t[1].upper() == "AND":
            self.take()
            right = self.atom()
            left = (lambda a, b: lambda d: a(d) and b(d))(left, right)
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
                return date(*parts[:3])
        raise WhereError(f"expected a value in where clause, got {text!r}")

    def atom(self):
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
        while (t := self.peek()) and t[1] == ".":
            self.take(".")
            path.append(self.take()[1])
        method = path[-1].lower()
        if method in ("startswith", "endswith", "contains") and len(path) > 1:
            self.take("(")
            arg = str(self.value())
            self.take(")")
            field = path[:-1]

            def text_pred(d: dict[str, Any], field=field, method=method, arg=arg) -> bool:
                v = get_path(d, field)
                if not isinstance(v, str):
                    return False
                return {"startswith": v.startswith, "endswith": v.endswith,
                        "contains": lambda a: a in v}[method](arg)

            return text_pred
        op = self.take()[1]
        if op not in ("==", "!=", ">", "<", ">=", "<="):
            raise WhereError(f"unsupported operator {op!r} in where clause")
        rhs = self.value()

        def cmp_pred(d: dict[str, Any], path=path, op=op, rhs=rhs) -> bool:
            lhs = _norm(get_path(d, path))
            r = _norm(rhs)
            if isinstance(lhs, str) and isinstance(r, str) and len(r) == 36:
                lhs, r = lhs.lower(), r.lower()
            if op == "==":
                return lhs == r
            if op == "!=":
                return lhs != r
            if lhs is None or r is None:
                return False
            try:
                return {">": lhs > r, "<": lhs < r, ">=": lhs >= r, "<=": lhs <= r}[op]
            except TypeError:
                return False

        return cmp_pred


def compile_where(text: str) -> Callable[[dict[str, Any]], bool]:
    return _Parser(_tokens(text)).parse()
