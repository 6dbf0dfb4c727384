"""kvgate-bench: local fleets, benchmarks and reports."""
