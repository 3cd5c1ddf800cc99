"""Warehouse contracts of the finance models (cost allocation, profitability, consolidation).

Same conventions as ``contracts/warehouse.py``: money is integer minor units plus a currency
column; quantities and rates are fixed-scale Decimals; dates ISO ``YYYY-MM-DD``; periods ``YYYY-MM``.
"""

from __future__ import annotations

import pandera.pandas as pa
from pandera.engines import pandas_engine
from pandera.typing import Series

from sync_pipeline.contracts.warehouse import ISO_DATE, PERIOD

FINANCE_CONTRACT_VERSION = 1

Quantity = pandas_engine.Decimal(18, 6)
TotalQuantity = pandas_engine.Decimal(24, 6)
FxRateValue = pandas_engine.Decimal(24, 10)

COST_SOURCES = ["xero_bill", "xero_spend", "configured"]
COST_DISPOSITIONS = ["shared", "direct", "capex", "unpooled", "quarantined"]
DRIVERS = ["hours", "headcount", "usage", "fixed_key"]


class _Base(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = True


class SharedCostLine(_Base):
    """An expense or bill line of the entity's period, from the accounting system or the configured list."""

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    line_id: Series[str] = pa.Field(unique=True)
    source: Series[str] = pa.Field(isin=COST_SOURCES)
    document_id: Series[str]
    document_number: Series[str] = pa.Field(nullable=True)
    document_reference: Series[str] = pa.Field(nullable=True)
    line_item_id: Series[str] = pa.Field(nullable=True)
    line_no: Series[int] = pa.Field(ge=1)
    date: Series[str] = pa.Field(nullable=True)
    contact_id: Series[str] = pa.Field(nullable=True)
    contact_name: Series[str] = pa.Field(nullable=True)
    description: Series[str] = pa.Field(nullable=True)
    account_code: Series[str] = pa.Field(nullable=True)
    tracking: Series[str] = pa.Field(nullable=True)
    project_ref: Series[str] = pa.Field(nullable=True)
    currency: Series[str] = pa.Field(nullable=True)
    amount_minor: Series[int] = pa.Field(nullable=True)
    tax_minor: Series[int] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(nullable=True)
    extracted_at: Series[str]


class FinanceCostLine(_Base):
    """A shared cost line classified into exactly one disposition (Capex/Opex separated here)."""

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    line_id: Series[str] = pa.Field(unique=True)
    source: Series[str] = pa.Field(isin=COST_SOURCES)
    document_id: Series[str]
    document_number: Series[str] = pa.Field(nullable=True)
    document_reference: Series[str] = pa.Field(nullable=True)
    line_item_id: Series[str] = pa.Field(nullable=True)
    line_no: Series[int] = pa.Field(ge=1)
    date: Series[str] = pa.Field(nullable=True)
    contact_id: Series[str] = pa.Field(nullable=True)
    contact_name: Series[str] = pa.Field(nullable=True)
    description: Series[str] = pa.Field(nullable=True)
    account_code: Series[str] = pa.Field(nullable=True)
    tracking: Series[str] = pa.Field(nullable=True)
    project_ref: Series[str] = pa.Field(nullable=True)
    currency: Series[str] = pa.Field(nullable=True)
    amount_minor: Series[int] = pa.Field(nullable=True)
    tax_minor: Series[int] = pa.Field(nullable=True)
    expense_class: Series[str] = pa.Field(nullable=True, isin=["opex", "capex"])
    capitalization_code: Series[str] = pa.Field(nullable=True)
    depreciation_code: Series[str] = pa.Field(nullable=True)
    depreciation_months: Series[int] = pa.Field(nullable=True, ge=1)
    pool_key: Series[str] = pa.Field(nullable=True)
    ic_counterparty: Series[str] = pa.Field(nullable=True)
    disposition: Series[str] = pa.Field(isin=COST_DISPOSITIONS)
    reason: Series[str]

    @pa.dataframe_check
    def capex_lines_carry_codes(cls, df):  # noqa: N805
        c = df["disposition"] == "capex"
        return ~c | df[["capitalization_code", "depreciation_code", "depreciation_months"]].notna().all(axis=1)

    @pa.dataframe_check
    def shared_lines_have_a_pool(cls, df):  # noqa: N805
        return (df["disposition"] != "shared") | df["pool_key"].notna()


class CapexScheduleRow(_Base):
    """One month of a capitalized line's depreciation schedule."""

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    line_id: Series[str]
    source: Series[str]
    document_id: Series[str]
    document_number: Series[str] = pa.Field(nullable=True)
    acquisition_date: Series[str] = pa.Field(str_matches=ISO_DATE)
    contact_name: Series[str] = pa.Field(nullable=True)
    description: Series[str] = pa.Field(nullable=True)
    account_code: Series[str]
    capitalization_code: Series[str]
    depreciation_code: Series[str]
    depreciation_months: Series[int] = pa.Field(ge=1)
    ic_counterparty: Series[str] = pa.Field(nullable=True)
    currency: Series[str]
    cost_minor: Series[int]
    month_no: Series[int] = pa.Field(ge=1)
    charge_period: Series[str] = pa.Field(str_matches=PERIOD)
    charge_minor: Series[int]


class DriverQuantity(_Base):
    pool_key: Series[str]
    driver: Series[str] = pa.Field(isin=DRIVERS)
    project_id: Series[str]
    client_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    client_name: Series[str] = pa.Field(nullable=True)
    quantity: Series[Quantity] = pa.Field(gt=0)  # type: ignore[valid-type]


class CostAllocation(_Base):
    """A shared cost line's share for one project; keeps the original line's identifiers and metadata."""

    allocation_version: Series[str]
    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    pool_key: Series[str]
    driver: Series[str] = pa.Field(isin=DRIVERS)
    line_id: Series[str]
    source: Series[str] = pa.Field(isin=COST_SOURCES)
    document_id: Series[str]
    document_number: Series[str] = pa.Field(nullable=True)
    document_reference: Series[str] = pa.Field(nullable=True)
    line_item_id: Series[str] = pa.Field(nullable=True)
    line_no: Series[int]
    date: Series[str] = pa.Field(nullable=True)
    contact_name: Series[str] = pa.Field(nullable=True)
    description: Series[str] = pa.Field(nullable=True)
    account_code: Series[str]
    expense_class: Series[str] = pa.Field(isin=["opex"])
    ic_counterparty: Series[str] = pa.Field(nullable=True)
    currency: Series[str]
    line_amount_minor: Series[int]
    project_id: Series[str]
    client_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    client_name: Series[str] = pa.Field(nullable=True)
    driver_quantity: Series[Quantity]  # type: ignore[valid-type]
    driver_total: Series[TotalQuantity]  # type: ignore[valid-type]
    allocated_minor: Series[int]
    got_remainder_unit: Series[bool]

    @pa.dataframe_check
    def unique_line_project(cls, df):  # noqa: N805
        return ~df.duplicated(["line_id", "project_id"])


class UnallocatedCost(_Base):
    allocation_version: Series[str]
    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    pool_key: Series[str]
    driver: Series[str] = pa.Field(nullable=True)
    line_id: Series[str] = pa.Field(unique=True)
    source: Series[str]
    document_id: Series[str]
    description: Series[str] = pa.Field(nullable=True)
    account_code: Series[str]
    currency: Series[str]
    amount_minor: Series[int]
    reason: Series[str]
