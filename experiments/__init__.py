"""Benchmarks and tuning examples for ray_pg (not imported by the package)."""
