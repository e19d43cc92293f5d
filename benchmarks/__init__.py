"""Benchmarks of the project against a hand-written pandas + DuckDB script (`python -m benchmarks`)."""
