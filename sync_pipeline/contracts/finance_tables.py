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


MinorRate = pandas_engine.Decimal(38, 14)


class FxPeriodRate(_Base):
    """Average, closing and opening rate of a currency pair for a period, with provenance."""

    period: Series[str] = pa.Field(str_matches=PERIOD)
    base_currency: Series[str]
    quote_currency: Series[str]
    average_rate: Series[FxRateValue] = pa.Field(nullable=True)  # type: ignore[valid-type]
    average_days: Series[int] = pa.Field(nullable=True)
    average_first_date: Series[str] = pa.Field(nullable=True)
    average_last_date: Series[str] = pa.Field(nullable=True)
    closing_rate: Series[FxRateValue]  # type: ignore[valid-type]
    closing_rate_date: Series[str] = pa.Field(str_matches=ISO_DATE)
    opening_rate: Series[FxRateValue] = pa.Field(nullable=True)  # type: ignore[valid-type]
    opening_rate_date: Series[str] = pa.Field(nullable=True)
    source: Series[str]
    retrieved_at: Series[str]
    average_minor_rate: Series[MinorRate] = pa.Field(nullable=True)  # type: ignore[valid-type]
    closing_minor_rate: Series[MinorRate]  # type: ignore[valid-type]
    opening_minor_rate: Series[MinorRate] = pa.Field(nullable=True)  # type: ignore[valid-type]

    @pa.dataframe_check
    def one_row_per_pair(cls, df):  # noqa: N805
        return ~df.duplicated(["base_currency", "quote_currency"])


class ProjectRevenue(_Base):
    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    client_id: Series[str]
    client_name: Series[str] = pa.Field(nullable=True)
    project_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    currency: Series[str]
    ic_counterparty: Series[str] = pa.Field(nullable=True)
    invoiced_minor: Series[int]
    credited_minor: Series[int]
    revenue_minor: Series[int]


class ProjectDirectCost(_Base):
    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    project_id: Series[str]
    client_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    client_name: Series[str] = pa.Field(nullable=True)
    currency: Series[str]
    cost_type: Series[str] = pa.Field(isin=["labour", "expense"])
    hours: Series[Quantity] = pa.Field(nullable=True)  # type: ignore[valid-type]
    amount_minor: Series[int]
    entries: Series[int]
    entries_without_cost_rate: Series[int] = pa.Field(ge=0)
    hours_without_cost_rate: Series[Quantity]  # type: ignore[valid-type]


class ProjectProfitability(_Base):
    """Revenue − direct labour − direct expenses − allocated shared cost, per project and transaction currency."""

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    client_id: Series[str] = pa.Field(nullable=True)
    client_name: Series[str] = pa.Field(nullable=True)
    project_id: Series[str] = pa.Field(nullable=True)
    project_name: Series[str] = pa.Field(nullable=True)
    currency: Series[str]
    revenue_minor: Series[int]
    direct_labour_minor: Series[int]
    direct_expense_minor: Series[int]
    allocated_minor: Series[int]
    margin_minor: Series[int]
    reporting_currency: Series[str]
    rate: Series[FxRateValue]  # type: ignore[valid-type]
    rate_source: Series[str]
    rate_first_date: Series[str] = pa.Field(nullable=True)
    rate_last_date: Series[str] = pa.Field(nullable=True)
    rate_days: Series[int] = pa.Field(nullable=True)
    rate_retrieved_at: Series[str] = pa.Field(nullable=True)
    revenue_reporting_minor: Series[int]
    direct_labour_reporting_minor: Series[int]
    direct_expense_reporting_minor: Series[int]
    allocated_reporting_minor: Series[int]
    margin_reporting_minor: Series[int]

    @pa.dataframe_check
    def margin_adds_up(cls, df):  # noqa: N805
        parts = df["direct_labour_minor"] + df["direct_expense_minor"] + df["allocated_minor"]
        return df["margin_minor"] == df["revenue_minor"] - parts


STATEMENTS = ["pnl", "balance", "oci"]


class EntityResult(_Base):
    """One line of an entity's results for a period in its functional currency (signed)."""

    entity: Series[str]
    period: Series[str] = pa.Field(str_matches=PERIOD)
    statement: Series[str] = pa.Field(isin=["pnl", "balance"])
    account: Series[str]
    counterparty: Series[str] = pa.Field(nullable=True)
    transaction_currency: Series[str]
    transaction_minor: Series[int]
    functional_currency: Series[str]
    remeasure_rate: Series[FxRateValue]  # type: ignore[valid-type]
    remeasure_rate_source: Series[str]
    functional_minor: Series[int]


class TranslatedResult(_Base):
    period: Series[str] = pa.Field(str_matches=PERIOD)
    entity: Series[str]
    statement: Series[str] = pa.Field(isin=STATEMENTS)
    account: Series[str]
    counterparty: Series[str] = pa.Field(nullable=True)
    functional_currency: Series[str]
    amount_functional_minor: Series[int]
    opening_functional_minor: Series[int] = pa.Field(nullable=True)
    movement_functional_minor: Series[int]
    reporting_currency: Series[str]
    rate_type: Series[str] = pa.Field(isin=["average", "closing", "derived"])
    rate: Series[FxRateValue] = pa.Field(nullable=True)  # type: ignore[valid-type]
    rate_first_date: Series[str] = pa.Field(nullable=True)
    rate_last_date: Series[str] = pa.Field(nullable=True)
    rate_days: Series[int] = pa.Field(nullable=True)
    opening_rate: Series[FxRateValue] = pa.Field(nullable=True)  # type: ignore[valid-type]
    opening_rate_date: Series[str] = pa.Field(nullable=True)
    rate_source: Series[str]
    rate_retrieved_at: Series[str] = pa.Field(nullable=True)
    amount_reporting_minor: Series[int]
    opening_reporting_minor: Series[int] = pa.Field(nullable=True)
    movement_reporting_minor: Series[int] = pa.Field(nullable=True)
    translation_difference_minor: Series[int] = pa.Field(nullable=True)


class Elimination(_Base):
    period: Series[str] = pa.Field(str_matches=PERIOD)
    pair: Series[str]
    kind: Series[str] = pa.Field(isin=["trading", "balances"])
    entity: Series[str] = pa.Field(nullable=True)
    counterparty: Series[str] = pa.Field(nullable=True)
    statement: Series[str] = pa.Field(isin=STATEMENTS)
    account: Series[str]
    description: Series[str]
    reporting_currency: Series[str]
    amount_reporting_minor: Series[int]
    source_functional_minor: Series[int] = pa.Field(nullable=True)
    source_currency: Series[str] = pa.Field(nullable=True)


class ConsolidatedLine(_Base):
    period: Series[str] = pa.Field(str_matches=PERIOD)
    statement: Series[str] = pa.Field(isin=STATEMENTS)
    account: Series[str]
    reporting_currency: Series[str]
    entities: Series[int]
    entities_reporting_minor: Series[int]
    eliminations_minor: Series[int]
    consolidated_minor: Series[int]

    @pa.dataframe_check
    def adds_up(cls, df):  # noqa: N805
        return df["consolidated_minor"] == df["entities_reporting_minor"] + df["eliminations_minor"]
