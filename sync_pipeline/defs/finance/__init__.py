"""Finance: cost allocation, project profitability, multi-currency consolidation."""
