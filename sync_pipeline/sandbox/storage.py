"""File-backed document storage for the sandboxes (SQLite), so state survives a restart."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync_pipeline.contracts.codec import dumps, loads


class DocStore:
    """Collections of JSON documents with a few indexed columns each.

    ``indexes`` maps a collection name to the extra columns extracted from each
    document (name → SQLite type) so queries can filter without decoding JSON.
    """

    def __init__(self, path: str | Path, indexes: dict[str, dict[str, str]]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.indexes = indexes
        self._local = threading.local()
        self._write_lock = threading.RLock()
        if self.path != ":memory:":
            self._conn().execute("PRAGMA journal_mode=WAL")
        with self.tx() as c:
            for coll, cols in indexes.items():
                extra = "".join(f", {n} {t}" for n, t in cols.items())
                c.execute(f"CREATE TABLE IF NOT EXISTS {coll} (tenant TEXT NOT NULL, id TEXT NOT NULL, "
                          f"seq INTEGER NOT NULL, doc TEXT NOT NULL{extra}, PRIMARY KEY (tenant, id))")
                for n in cols:
                    c.execute(f"CREATE INDEX IF NOT EXISTS ix_{coll}_{n} ON {coll} (tenant, {n})")
            c.execute("CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL, "
                      "PRIMARY KEY (ns, k))")
            c.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._local.conn = c
        return c

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            c = self._conn()
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def next_value(self, name: str, c: sqlite3.Connection | None = None) -> int:
        def bump(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO counters(name, value) VALUES (?, 1) "
                         "ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,))
            return conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]

        if c is not None:
            return bump(c)
        with self.tx() as conn:
            return bump(conn)

    def put(self, coll: str, tenant: str, doc_id: str, doc: dict[str, Any], c: sqlite3.Connection | None = None) -> None:
        cols = self.indexes[coll]
        names = ["tenant", "id", "seq", "doc", *cols]

        def write(conn: sqlite3.Connection) -> None:
            seq = self.next_value(f"seq:{coll}", conn)
            values = [tenant, doc_id, seq, dumps(doc).decode(), *[_index_value(doc, n) for n in cols]]
            conn.execute(f"INSERT OR REPLACE INTO {coll} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                         values)

        if c is not None:
            write(c)
        else:
            with self.tx() as conn:
                write(conn)

    def put_many(self, coll: str, tenant: str, docs: Iterable[tuple[str, dict[str, Any]]]) -> int:
        n = 0
        with self.tx() as c:
            for doc_id, doc in docs:
                self.put(coll, tenant, doc_id, doc, c)
                n += 1
        return n

    def get(self, coll: str, tenant: str, doc_id: str) -> dict[str, Any] | None:
        row = self._conn().execute(f"SELECT doc FROM {coll} WHERE tenant = ? AND id = ?", (tenant, doc_id)).fetchone()
        return loads(row[0]) if row else None

    def delete(self, coll: str, tenant: str, doc_id: str) -> bool:
        with self.tx() as c:
            return c.execute(f"DELETE FROM {coll} WHERE tenant = ? AND id = ?", (tenant, doc_id)).rowcount > 0

    def query(self, coll: str, tenant: str, where: str = "", args: Iterable[Any] = (), order: str = "seq",
              limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        sql = f"SELECT doc FROM {coll} WHERE tenant = ?" + (f" AND ({where})" if where else "") + f" ORDER BY {order}"
        params: list[Any] = [tenant, *args]
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        return [loads(r[0]) for r in self._conn().execute(sql, params)]

    def count(self, coll: str, tenant: str, where: str = "", args: Iterable[Any] = ()) -> int:
        sql = f"SELECT COUNT(*) FROM {coll} WHERE tenant = ?" + (f" AND ({where})" if where else "")
        return self._conn().execute(sql, [tenant, *args]).fetchone()[0]

    def kv_get(self, ns: str, key: str) -> Any:
        row = self._conn().execute("SELECT v FROM kv WHERE ns = ? AND k = ?", (ns, key)).fetchone()
        return loads(row[0]) if row else None

    def kv_put(self, ns: str, key: str, value: Any, c: sqlite3.Connection | None = None) -> None:
        sql = "INSERT OR REPLACE INTO kv (ns, k, v) VALUES (?, ?, ?)"
        if c is not None:
            c.execute(sql, (ns, key, dumps(value).decode()))
        else:
            with self.tx() as conn:
                conn.execute(sql, (ns, key, dumps(value).decode()))


def _index_value(doc: dict[str, Any], dotted: str) -> Any:
    cur: Any = doc
    for part in dotted.split("__"):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    if isinstance(cur, bool):
        return int(cur)
    if cur is not None and not isinstance(cur, (int, str)):
        return str(cur)
    return cur
