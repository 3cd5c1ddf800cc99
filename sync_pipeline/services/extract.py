"""Extraction: stream pages from the project system into raw warehouse rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from sync_pipeline.connectors.harvest import HarvestClient, flatten_time_entry
from sync_pipeline.contracts.warehouse import RawTimeEntry
from sync_pipeline.domain.periods import Period


def extract_time_entries(client: HarvestClient, period: Period) -> pd.DataFrame:
    """All time entries whose spent_date falls in the period, as ``raw_time_entries`` rows."""
    extracted_at = datetime.now(UTC).isoformat(timespec="seconds")
    rows: list[dict] = []
    for page in client.time_entries(start=period.start, end=period.end):
        rows.extend(flatten_time_entry(doc, extracted_at) for doc in page)
    columns = list(RawTimeEntry.to_schema().columns)
    df = pd.DataFrame(rows, columns=columns)
    # the same entry can appear twice if it changed while we paged; keep the newest version
    return df.sort_values(["entry_id", "updated_at"]).drop_duplicates("entry_id", keep="last").reset_index(drop=True)
