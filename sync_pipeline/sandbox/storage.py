"""File-backed document storage for the sandboxes (SQLite), so state survives a restart."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync_pipeline.contracts.codec import dumps, loads


class DocStore:
    """Collections of JSON documents with a few indexed columns each.

    ``indexes`` maps a collection name to the extra columns extracted from each
    document (name → SQLite type) so queries can filter without decoding JSON.
    """

    def __init__(self, path: str | Path, indexes: dict[str, dict[str, Any]],
                 unindexed: dict[str, set[str]] | None = None) -> None:
        """``indexes[coll][column]`` is an SQLite type (the value is read from the document, ``a__b`` reaching
        into nested objects) or a ``(type, function of the document)`` pair for a computed column. Columns
        listed in ``unindexed[coll]`` are stored but get no index of their own (fewer indexes load faster;
        declare a composite index instead)."""
        unindexed = unindexed or {}
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.indexes: dict[str, dict[str, str]] = {}
        self._extract: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {}
        for coll, cols in indexes.items():
            self.indexes[coll] = {n: (t[0] if isinstance(t, tuple) else t) for n, t in cols.items()}
            self._extract[coll] = {n: (t[1] if isinstance(t, tuple) else _extractor(n)) for n, t in cols.items()}
        indexes = self.indexes
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._seq: dict[str, int] = {}
        if self.path != ":memory:":
            self._conn().execute("PRAGMA journal_mode=WAL")
        with self.tx() as c:
            for coll, cols in indexes.items():
                extra = "".join(f", {n} {t}" for n, t in cols.items())
                c.execute(f"CREATE TABLE IF NOT EXISTS {coll} (tenant TEXT NOT NULL, id TEXT NOT NULL, "
                          f"seq INTEGER NOT NULL, doc TEXT NOT NULL{extra}, PRIMARY KEY (tenant, id))")
                have = {r[1] for r in c.execute(f"PRAGMA table_info({coll})")}
                missing = [n for n in cols if n not in have]
                for n in missing:  # a state file from an older sandbox: add the column and backfill it
                    c.execute(f"ALTER TABLE {coll} ADD COLUMN {n} {cols[n]}")
                if missing:
                    rows = c.execute(f"SELECT rowid, doc FROM {coll}").fetchall()
                    for rowid, doc in rows:
                        d = loads(doc)
                        c.execute(f"UPDATE {coll} SET {', '.join(f'{n} = ?' for n in missing)} WHERE rowid = ?",
                                  [*(self._extract[coll][n](d) for n in missing), rowid])
                for n in cols:
                    if n not in unindexed.get(coll, ()):
                        c.execute(f"CREATE INDEX IF NOT EXISTS ix_{coll}_{n} ON {coll} (tenant, {n}, seq)")
                c.execute(f"CREATE INDEX IF NOT EXISTS ix_{coll}__seq ON {coll} (tenant, seq)")
            c.execute("CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL, "
                      "PRIMARY KEY (ns, k))")
            c.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            # WAL + NORMAL: a crash of the process loses nothing committed; only a power cut could
            c.execute("PRAGMA synchronous=NORMAL")
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

    def _next_seq(self, coll: str, conn: sqlite3.Connection, n: int = 1) -> int:
        """The first of ``n`` new sequence numbers of a collection (kept in memory; callers hold the write lock).

        Gaps after a rollback are harmless: ``seq`` only orders documents by their last write.
        """
        with self._write_lock:
            cur = self._seq.get(coll)
            if cur is None:
                cur = conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {coll}").fetchone()[0]
            self._seq[coll] = cur + n
            return cur + 1

    def put(self, coll: str, tenant: str, doc_id: str, doc: dict[str, Any], c: sqlite3.Connection | None = None) -> None:
        cols = self.indexes[coll]
        names = ["tenant", "id", "seq", "doc", *cols]

        def write(conn: sqlite3.Connection) -> None:
            seq = self._next_seq(coll, conn)
            values = [tenant, doc_id, seq, dumps(doc).decode(), *[f(doc) for f in self._extract[coll].values()]]
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

    def bulk_put(self, coll: str, tenant: str, docs: Iterable[tuple[str, dict[str, Any]]], *,
                 chunk: int = 20_000) -> int:
        """Insert or replace many documents fast: one transaction and one executemany per chunk."""
        cols = self.indexes[coll]
        names = ["tenant", "id", "seq", "doc", *cols]
        sql = f"INSERT OR REPLACE INTO {coll} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        total = 0
        batch: list[tuple[str, dict[str, Any]]] = []

        def flush() -> None:
            nonlocal total
            if not batch:
                return
            with self.tx() as c:
                first = self._next_seq(coll, c, len(batch))
                extract = list(self._extract[coll].values())
                c.executemany(sql, ([tenant, doc_id, first + i, dumps(doc).decode(), *[f(doc) for f in extract]]
                                    for i, (doc_id, doc) in enumerate(batch)))
            total += len(batch)
            batch.clear()

        for item in docs:
            batch.append(item)
            if len(batch) >= chunk:
                flush()
        flush()
        return total

    def bulk_put_encoded(self, coll: str, tenant: str, rows: Iterable[tuple[Any, str]],
                         index: dict[str, Any]) -> int:
        """Insert documents already encoded as JSON text, with their index column values given as sequences
        (one per column of the collection, in any order, aligned with ``rows``): for generators that render
        JSON themselves. One transaction."""
        cols = list(self.indexes[coll])
        if set(index) != set(cols):
            raise ValueError(f"{coll} needs index values for {cols}, got {sorted(index)}")
        values = [v.tolist() if hasattr(v, "tolist") else list(v) for v in (index[c] for c in cols)]
        names = ["tenant", "id", "seq", "doc", *cols]
        sql = f"INSERT OR REPLACE INTO {coll} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        batch = list(rows)
        with self.tx() as c:
            first = self._next_seq(coll, c, len(batch))
            c.executemany(sql, ([tenant, str(doc_id), first + i, text, *(col[i] for col in values)]
                                for i, (doc_id, text) in enumerate(batch)))
        return len(batch)

    def get(self, coll: str, tenant: str, doc_id: str) -> dict[str, Any] | None:
        row = self._conn().execute(f"SELECT doc FROM {coll} WHERE tenant = ? AND id = ?", (tenant, doc_id)).fetchone()
        return loads(row[0]) if row else None

    def delete(self, coll: str, tenant: str, doc_id: str) -> bool:
        with self.tx() as c:
            return c.execute(f"DELETE FROM {coll} WHERE tenant = ? AND id = ?", (tenant, doc_id)).rowcount > 0

    def query(self, coll: str, tenant: str, where: str = "", args: Iterable[Any] = (), order: str = "seq",
              limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        return [loads(doc) for doc in self.query_raw(coll, tenant, where, args, order, limit, offset)]

    def query_raw(self, coll: str, tenant: str, where: str = "", args: Iterable[Any] = (), order: str = "seq",
                  limit: int | None = None, offset: int = 0) -> Iterator[str]:
        """The JSON text of matching documents, in order; paging skips over the index, not the documents."""
        cond = "tenant = ?" + (f" AND ({where})" if where else "")
        params: list[Any] = [tenant, *args]
        if limit is None:
            sql = f"SELECT doc FROM {coll} WHERE {cond} ORDER BY {order}"
        else:
            # OFFSET walks the (covering) index in the subquery, so deep pages do not decode documents
            sql = (f"SELECT doc FROM {coll} WHERE rowid IN (SELECT rowid FROM {coll} WHERE {cond} "
                   f"ORDER BY {order} LIMIT ? OFFSET ?) ORDER BY {order}")
            params += [limit, offset]
        for (doc,) in self._conn().execute(sql, params):
            yield doc

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


def _extractor(dotted: str) -> Callable[[dict[str, Any]], Any]:
    return lambda doc: _index_value(doc, dotted)


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
