"""Benchmarks for symgrad: run ``python benchmarks/bench_core.py`` (``--quick``, ``--json PATH``)."""
