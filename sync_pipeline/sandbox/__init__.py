"""Local sandbox systems that behave like Harvest v2 and Xero, for demos, tests and benchmarks."""
