"""Data contracts: pandera models for the warehouse, pydantic models for API payloads and config."""
