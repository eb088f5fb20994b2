"""Application layer: commands that combine stages (benchmarks over real data, demo, reports)."""
