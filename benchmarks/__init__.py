"""Benchmarks for symgrad: ``python -m benchmarks.run --quick`` compares it with every peer on the same problems
(``--write-docs`` rewrites docs/performance.md); ``python benchmarks/bench_core.py`` and
``python benchmarks/bench_arrays.py`` check its own speed targets against hand-written Numba."""
