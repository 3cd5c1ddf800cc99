"""Storage: the operational store (SQLAlchemy Core) and the Parquet/DuckDB warehouse."""
