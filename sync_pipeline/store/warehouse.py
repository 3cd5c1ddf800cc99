"""The warehouse: one Parquet file per asset partition, queried with DuckDB.

Layout: ``<root>/<asset>/entity=<entity>/period=<YYYY-MM>.parquet``. Files are written
atomically (temp file + rename) so a crashed run never leaves half a partition.
Decimal columns keep their declared precision and scale from the pandera contract.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow
import pyarrow.parquet as pq
from pandera.engines import pandas_engine

from sync_pipeline.store.files import private_dir, private_file


class WarehouseError(LookupError):
    pass


class ContractViolation(ValueError):
    """A frame does not satisfy its pandera contract; ``failure_cases`` holds the details."""

    def __init__(self, asset: str, model: str, failure_cases: pd.DataFrame) -> None:
        self.asset = asset
        self.model = model
        self.failure_cases = failure_cases
        cases = failure_cases[["column", "check", "failure_case"]].drop_duplicates().head(10)
        lines = [f"  - column {r.column!s}: check {r.check!s} failed on {r.failure_case!s}" for r in cases.itertuples()]
        super().__init__(f"{asset} violates contract {model} ({len(failure_cases)} failure case(s)):\n"
                         + "\n".join(lines))

    @classmethod
    def refuse(cls, asset: str, model: type[pa.DataFrameModel], problems: list[str]) -> None:
        """Raise for the problems a SQL contract check found (``store.contract_sql``); none: return."""
        if problems:
            cases = pd.DataFrame({"column": [p.split(":", 1)[0] for p in problems], "check": "contract (SQL)",
                                  "failure_case": problems})
            raise cls(asset, model.__name__, cases)


def arrow_schema(model: type[pa.DataFrameModel]) -> pyarrow.Schema:
    """Arrow schema derived from a pandera model, decimals at their declared scale."""
    fields = []
    for name, col in model.to_schema().columns.items():
        dt = col.dtype
        if isinstance(dt, pandas_engine.Decimal):
            t = pyarrow.decimal128(dt.precision, dt.scale)
        elif str(dt) in ("int64", "Int64"):
            t = pyarrow.int64()
        elif str(dt) in ("bool", "boolean"):
            t = pyarrow.bool_()
        elif str(dt) in ("float64", "Float64"):
            t = pyarrow.float64()
        else:
            t = pyarrow.string()
        fields.append(pyarrow.field(name, t, nullable=True))
    return pyarrow.schema(fields)


_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class Warehouse:
    """The Parquet warehouse under ``root``: a local folder, a ``file://`` URL, or an object-store URL.

    Object-store URLs (``s3://bucket/prefix``, ``gs://…``, ``abfs://…``, ``memory://…``) go through fsspec
    (install the store's driver, e.g. ``s3fs`` for S3): every machine of a scaled-out deployment reads and
    writes the same partitions. A partition is one object written with a single PUT, so readers never see
    half of it; locally a temp file is renamed into place for the same guarantee.
    """

    def __init__(self, root: str | Path) -> None:
        text = str(root)
        if text.startswith("file://"):
            text = text[len("file://"):]
        self.url: str | None = text.rstrip("/") if _URL.match(text) else None
        if self.url is not None:
            import fsspec

            self.fs, base = fsspec.core.url_to_fs(self.url)
            self._base = base.rstrip("/")
            self.root = Path(self._base)  # for display; object-store paths are not local files
        else:
            self.fs = None
            self.root = Path(text)

    def path(self, asset: str, entity: str, period: str) -> Path | str:
        rel = f"{asset}/entity={entity}/period={period}.parquet"
        if self.fs is not None:
            return f"{self._base}/{rel}"
        return self.root / rel

    def uri(self, asset: str, entity: str, period: str) -> str:
        """Where a partition lives, as a URL (object store) or a local path."""
        rel = f"{asset}/entity={entity}/period={period}.parquet"
        return f"{self.url}/{rel}" if self.url else str(self.root / rel)

    def glob(self, asset: str) -> str:
        if self.url:
            return f"{self.url}/{asset}/entity=*/period=*.parquet"
        return str(self.root / asset / "entity=*" / "period=*.parquet")

    def exists(self, asset: str, entity: str, period: str) -> bool:
        p = self.path(asset, entity, period)
        return self.fs.exists(p) if self.fs is not None else Path(p).exists()

    def write(self, asset: str, entity: str, period: str, df: pd.DataFrame,
              model: type[pa.DataFrameModel] | None = None) -> Path:
        """Validate (when a model is given) and write a partition atomically."""
        if model is not None:
            try:
                df = model.validate(df, lazy=True)
            except pa.errors.SchemaErrors as e:
                raise ContractViolation(asset, model.__name__, e.failure_cases) from None
            schema = arrow_schema(model)
            df = df[[f.name for f in schema]]
            table = pyarrow.Table.from_pandas(df, schema=schema, preserve_index=False)
        else:
            table = pyarrow.Table.from_pandas(df, preserve_index=False)
        return self.write_arrow(asset, entity, period, table)

    def write_arrow(self, asset: str, entity: str, period: str, table: pyarrow.Table) -> Path | str:
        with self.staged_file(asset, entity, period) as tmp:  # published atomically (rename or one PUT)
            pq.write_table(table, tmp)
        return self.uri(asset, entity, period) if self.fs is not None else self.path(asset, entity, period)

    @contextmanager
    def local_file(self, asset: str, entity: str, period: str) -> Iterator[Path]:
        """A partition as a local file DuckDB can scan: the file itself, or (object store) a temporary copy."""
        self._require(asset, entity, period)
        p = self.path(asset, entity, period)
        if self.fs is None:
            yield Path(p)
            return
        tmp = Path(tempfile.mkdtemp(prefix=f"wh-{asset}-"))
        try:
            local = tmp / "part.parquet"
            self.fs.get(str(p), str(local))
            yield local
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @contextmanager
    def staged_file(self, asset: str, entity: str, period: str) -> Iterator[Path]:
        """A local path to write a partition to (e.g. with DuckDB's COPY); published atomically when the block
        ends without an exception, discarded otherwise (a failed contract check never replaces a partition)."""
        dest = self.path(asset, entity, period)
        if self.fs is None:
            private_dir(Path(dest).parent)  # 0700 folders, 0600 files: personal data inside (store.files)
            fd, tmp = tempfile.mkstemp(dir=Path(dest).parent, suffix=".tmp")
            os.close(fd)
            os.unlink(tmp)  # the writer creates it
            try:
                yield Path(tmp)
                private_file(tmp)
                os.replace(tmp, dest)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return
        folder = Path(tempfile.mkdtemp(prefix=f"wh-{asset}-"))
        try:
            local = folder / "part.parquet"
            yield local
            self.fs.makedirs(str(dest).rsplit("/", 1)[0], exist_ok=True)
            self.fs.put(str(local), str(dest))  # one object, visible when complete
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def periods(self, asset: str, entity: str) -> list[str]:
        """The periods (``YYYY-MM``) for which the asset has a partition of this entity."""
        if self.fs is not None:
            found = self.fs.glob(f"{self._base}/{asset}/entity={entity}/period=*.parquet")
            return sorted(str(p).rsplit("/", 1)[-1][len("period="):-len(".parquet")] for p in found)
        folder = self.root / asset / f"entity={entity}"
        if not folder.is_dir():
            return []
        return sorted(p.name[len("period="):-len(".parquet")] for p in folder.glob("period=*.parquet"))

    def entities(self, asset: str) -> list[str]:
        """The entities for which the asset has any partition."""
        if self.fs is not None:
            found = self.fs.glob(f"{self._base}/{asset}/entity=*")
            return sorted(str(p).rstrip("/").rsplit("/", 1)[-1][len("entity="):] for p in found)
        folder = self.root / asset
        return sorted(p.name[len("entity="):] for p in folder.glob("entity=*") if p.is_dir()) if folder.is_dir() else []

    def read_columns(self, asset: str, entity: str, period: str, columns: list[str]) -> pyarrow.Table:
        """Only some columns of a partition (cheap look-ups, e.g. which entries a period holds)."""
        return self._read_table(self.path(asset, entity, period), columns)

    def read_available(self, asset: str, entity: str, period: str, columns: list[str]) -> pd.DataFrame:
        """Those of ``columns`` the partition has (files written before a column was added lack it), as pandas:
        the columns a step needs, not the whole partition."""
        self._require(asset, entity, period)
        p = self.path(asset, entity, period)
        if self.fs is not None:
            with self.fs.open(p, "rb") as f:
                names = set(pq.read_schema(f).names)
        else:
            names = set(pq.read_schema(p).names)
        return self._read_table(p, [c for c in columns if c in names]).to_pandas()

    def distinct(self, asset: str, entity: str, period: str, columns: list[str]) -> pd.DataFrame:
        """The distinct combinations of some columns of a partition, in order of first appearance (a few rows
        where reading the whole partition into pandas would take gigabytes)."""
        self._require(asset, entity, period)
        table = self._read_table(self.path(asset, entity, period), columns)
        return table.group_by(columns, use_threads=False).aggregate([]).select(columns).to_pandas()

    def _require(self, asset: str, entity: str, period: str) -> None:
        if not self.exists(asset, entity, period):
            raise WarehouseError(
                f"no {asset} data for entity {entity!r} period {period}: materialize the upstream asset "
                f"for partition {entity}|{period}-01 first (expected {self.uri(asset, entity, period)})"
            )

    def read(self, asset: str, entity: str, period: str) -> pd.DataFrame:
        self._require(asset, entity, period)
        return self._read_table(self.path(asset, entity, period)).to_pandas()

    def _read_table(self, p: Path | str, columns: list[str] | None = None) -> pyarrow.Table:
        if self.fs is not None:
            with self.fs.open(p, "rb") as f:
                return pq.read_table(f, columns=columns)
        return pq.read_table(p, columns=columns)
