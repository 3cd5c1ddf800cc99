"""Look for people's names and emails in clear in everything the pipeline stored (Parquet warehouse, operational store).

Shared by the demo tests: the sandbox systems' own databases (``data/sandbox``) are the outside world and are not
scanned; everything else under the data folder is.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import sqlalchemy as sa

from sync_pipeline.sandbox import demo_data


def demo_people() -> list[str]:
    """The demo people's full names and emails (as the project system knows them)."""
    out = []
    for u in demo_data.USERS:
        out.append(f"{u['first_name']} {u['last_name']}")
        if u.get("email"):
            out.append(u["email"])
    return out


def _hits(cells, needles: list[str]) -> set[str]:
    lowered = [n.lower() for n in needles]
    return {needles[i] for cell in cells if cell is not None for i, n in enumerate(lowered) if n in str(cell).lower()}


def people_in_clear(data_dir: Path, store_url: str, needles: list[str], *, scanned: tuple[str, ...] = ()) -> list[str]:
    """``file/table.column: name`` for every cell that holds one of ``needles``.

    Every Parquet file (quarantine tables among them) and every store table and column (the audit trail's
    ``detail`` and ``subject`` among them) is read; ``scanned`` names places (a Parquet path's first folder, i.e.
    the asset, or ``table.column``) that must have been among them: a scan that missed one fails.
    """
    found: list[str] = []
    seen: set[str] = set()
    files = [f for f in sorted(data_dir.rglob("*.parquet")) if "sandbox" not in f.relative_to(data_dir).parts]
    assert files, f"no Parquet files under {data_dir}"
    for f in files:
        table = pq.read_table(f)
        seen.add(f.relative_to(data_dir).parts[0] if len(f.relative_to(data_dir).parts) > 1 else f.name)
        seen.update(p for p in f.relative_to(data_dir).parts[:-1])
        for name in table.column_names:
            found += [f"{f.relative_to(data_dir)}:{name}: {h}" for h in _hits(table.column(name).to_pylist(), needles)]
    engine = sa.create_engine(store_url)
    try:
        inspector = sa.inspect(engine)
        tables = inspector.get_table_names()
        assert "sync_ledger" in tables
        with engine.connect() as c:
            for t in tables:
                cols = [col["name"] for col in inspector.get_columns(t)]
                rows = c.execute(sa.text(f'SELECT * FROM "{t}"')).all()
                for i, col in enumerate(cols):
                    seen.add(f"{t}.{col}")
                    found += [f"{t}.{col}: {h}" for h in _hits([r[i] for r in rows], needles)]
    finally:
        engine.dispose()
    missed = [s for s in scanned if s not in seen]
    assert not missed, f"the scan did not reach {missed}"
    return found
