"""Smoke test of the comparison harness (benchmarks/run.py) without the optional peers.

One tiny run (symgrad and the hand-written reference on rosen2, no fresh processes, no scaling figure) must print
the tables and write JSON, and a peer that cannot be imported must be reported as missing, not crash the run.
"""

import importlib.util
import json
import os
import pathlib
import sys
import time

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def harness(monkeypatch):
    """benchmarks/run.py as a module, with the environment and import path it changes restored afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location("benchmarks_run", BENCHMARKS / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    for variable in run.ENVIRONMENT:
        if variable in os.environ:
            monkeypatch.setenv(variable, os.environ[variable])
        else:
            monkeypatch.delenv(variable, raising=False)
    return run


def test_quick_run_prints_tables_and_reports_a_missing_peer(harness, monkeypatch, tmp_path, capsys):
    def not_installed():
        raise ImportError("No module named 'micrograd'")

    monkeypatch.setattr(harness.systems.SYSTEMS["micrograd"], "version", not_installed)
    path = tmp_path / "results.json"
    assert harness.main(["--quick", "--systems", "symgrad,micrograd", "--problems", "rosen2", "--no-latency",
                         "--no-scaling", "--json", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "Ratio to hand Numba" in printed and "missing" in printed
    results = json.loads(path.read_text())
    entries = results["problems"]["rosen2"]["systems"]
    assert entries["micrograd"]["status"] == "missing"
    assert entries["symgrad"]["status"] == "ok" and entries["numba"]["status"] == "ok"
    assert entries["symgrad"]["max_rel_err"] <= 1e-12
    assert entries["symgrad"]["call_s"] > 0 and entries["symgrad"]["ratio"] > 0
    assert entries["symgrad"]["vg_over_value"] > 0


def test_a_name_a_library_lacks_is_not_expressible(harness):
    micrograd_like = harness.systems.Namespace("micrograd", None, sum=sum)
    with pytest.raises(harness.systems.NotExpressible, match="micrograd has no tanh"):
        harness.problems.PROBLEMS["neuron"].twin(micrograd_like, 0.3, -0.2, 0.1, 0.5, 1.5, 1.0)


def test_a_build_past_the_cap_times_out(harness):
    start = time.perf_counter()
    with pytest.raises(harness.systems.TimedOut, match="timed out after 0.2 s"):
        with harness.systems.time_limit(0.2):
            while True:
                sum(range(1000))
    assert time.perf_counter() - start < 5
