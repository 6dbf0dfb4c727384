"""Seeded synthetic workloads for the benchmarks, written as request traces.

Each workload is a frozen parameter dataclass registered by name (`registry.WORKLOADS`); its
`records(run, text)` yields `loadtests.bench.trace.TraceRecord`s in arrival order. The same
parameters and `RunSpec` (seed, rate, duration/count, model) give byte-identical traces.
"""
