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


VECTORISED_OF = ("rosen1000", "rosen100000", "logistic", "mlp")


def test_vectorised_rows_share_the_loop_rows_data_and_reference(harness):
    """A vectorised row is comparable with its loop row only if it has the same data, the same hand-written
    gradient and the same wrt; and its peers' twin must be the very code symgrad differentiates."""
    import numpy as np

    problems = harness.problems.PROBLEMS
    plain = harness.systems.Namespace("NumPy", np)
    for name in VECTORISED_OF:
        loop, vectorised = problems[name], problems[name + "-vec"]
        assert vectorised.vectorised and not loop.vectorised
        assert (vectorised.family, vectorised.size, vectorised.wrt) == (loop.family, loop.size, loop.wrt)
        assert vectorised.twin.function is vectorised.function()
        args = vectorised.args(np.random.default_rng(0))
        by_hand = vectorised.hand()(*args)[0]
        assert vectorised.twin(plain, *args) == pytest.approx(by_hand, rel=1e-12)
        assert vectorised.function()(*args) == pytest.approx(by_hand, rel=1e-12)


def test_quick_run_prints_a_vectorised_row(harness, tmp_path, capsys):
    path = tmp_path / "results.json"
    assert harness.main(["--quick", "--systems", "symgrad,sympy", "--problems", "rosen1000-vec", "--no-latency",
                         "--no-scaling", "--json", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "rosen n=1000, vectorised" in printed and "ratio to JAX" in printed
    entries = json.loads(path.read_text())["problems"]["rosen1000-vec"]["systems"]
    assert entries["symgrad"]["status"] == "ok" and entries["symgrad"]["max_rel_err"] <= 1e-12
    assert entries["symgrad"]["ratio"] > 0
    assert entries["sympy"]["status"] in ("not run", "missing")


def test_mlp_spelling_rows_compute_the_loop_rows_loss(harness):
    """Each other spelling of the MLP (issue 13, item 4) is the same function on the same data as row `mlp`."""
    import numpy as np

    problems = harness.problems.PROBLEMS
    spellings = [name for name in problems if name.startswith("mlp-") and name != "mlp-vec"]
    assert sorted(spellings) == ["mlp-helper", "mlp-if", "mlp-plain", "mlp-rows"]
    for name in spellings:
        row = problems[name]
        assert (row.family, row.size, row.wrt) == (problems["mlp"].family, problems["mlp"].size, problems["mlp"].wrt)
        args = row.args(np.random.default_rng(1))
        assert row.function()(*args) == pytest.approx(row.hand()(*args)[0], rel=1e-12)


def test_writing_the_page_twice_keeps_one_copy_of_each_section(harness, tmp_path):
    """A run without the scaling figure keeps the page's last one; the paragraph after it was kept with it and
    written again, one more copy per run (performance.md had four)."""
    path = tmp_path / "results.json"
    assert harness.main(["--quick", "--systems", "symgrad", "--problems", "rosen2", "--no-latency", "--no-scaling",
                         "--json", str(path)]) == 0
    import report  # (the harness put benchmarks/ on the path)

    (tmp_path / "performance.md").write_text("# old page\n\n## Scaling\n\nthe last figure\n\n"
                                             f"{report.BIG_PROGRAMS}\n\n## Method\n")
    results = json.loads(path.read_text())
    for _ in range(2):
        report.write_docs(results, str(tmp_path))
    page = (tmp_path / "performance.md").read_text()
    assert page.count(report.BIG_PROGRAMS) == 1 and page.count("the last figure") == 1
    assert page.count("## Why symgrad is at N x here") == 1
