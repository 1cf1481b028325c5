"""Every example runs in a fresh process and prints what it claims (small sizes where the example offers them).

The examples check their own gradients against central finite differences (and, where there is one, against a
gradient derived by hand) and print the largest relative error; these tests read that number back, so an example
whose gradient went wrong fails here.
"""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

# (script, arguments, lines the output must contain)
RUNS = [
    ("quickstart.py", [], [r"\\frac\{\\partial", r"nfev"]),
    # (f(x) - x)**2 with f = x*w + b at (2, 3, 4): the hand-derived gradient (32, 32, 16), also checked in the output
    ("basics.py", [], [r"symgrad +value 64\.000000 +d/dx = 32\., d/dw = 32\., d/db = 16\.",
                       r"binary cross entropy", r"mean squared error", r"vs the gradient derived by hand"]),
    ("sgd_clipping.py", ["--small"], [r"clipped \(True\) to norm 1\.0000", r"max \|difference\| from the Python loop",
                                      r"ms per epoch"]),
    ("rosen_lbfgs.py", ["--small"], [r"max relative error", r"finite differences \(jac=None\) +2 ",
                                     r"finite differences at n = 20", r"vectorised version vs the loop version"]),
    ("logistic_regression.py", ["--small"], [r"max relative error", r"vectorised version vs the loop version"]),
    ("oscillator_fit.py", ["--small"], [r"max relative error"]),
    # the Numba Newton loop must reach the minimum at x = 1 (max|x - 1| below 1e-7)
    ("newton_rosen.py", ["--small"], [r"\\begin\{pmatrix\}", r"tridiagonal Hessian", r"3 Hessian-vector products",
                                      r"max relative error vs the Hessian derived by hand",
                                      r"Newton steps: \d+, f = [0-9.e+-]+, max\|x - 1\| = [0-9.]+e-(0[7-9]|[1-9][0-9])",
                                      r"Newton-CG, hessp=sg.hvp", r"L-BFGS-B, gradient only"]),
    # skipped below without the dask extra
    ("out_of_core_logistic.py", ["--small"], [r"max relative error", r"L-BFGS-B: CONVERGENCE",
                                              r"peak memory of the process: [0-9,]+ MB"]),
    # the whole demo: micrograd's claim is 100% training accuracy after 100 steps, and the picture of it
    ("moons_mlp.py", ["--png", "{png}"], [r"final training accuracy 100%", r"max relative error",
                                          r"us per step in Numba", r"vectorised version vs the loop version"]),
]


@pytest.mark.parametrize("script, arguments, expected", RUNS, ids=[run[0] for run in RUNS])
def test_example_runs_and_prints_what_it_claims(script, arguments, expected, tmp_path):
    if script == "out_of_core_logistic.py":
        pytest.importorskip("dask.array", reason="the dask extra is not installed: pip install -e '.[dask]'")
    environment = dict(os.environ, SYMGRAD_QUIET="1", OPENBLAS_NUM_THREADS="1")
    png = tmp_path / "boundary.png"
    draws = "{png}" in arguments
    arguments = [a.format(png=png) for a in arguments]
    completed = subprocess.run([sys.executable, str(EXAMPLES / script), *arguments], capture_output=True,
                               text=True, timeout=600, env=environment, cwd=EXAMPLES.parent)
    assert completed.returncode == 0, completed.stderr[-3000:]
    for pattern in expected:
        assert re.search(pattern, completed.stdout), f"{script} printed no {pattern!r}:\n{completed.stdout[-3000:]}"
    for error in re.findall(r"max relative error[^:]*: ([0-9.e+-]+)", completed.stdout):
        assert float(error) < 1e-6, f"{script}: gradient differs from its reference by {error}"
    for difference in re.findall(r"vectorised version vs the loop version: [^:]*: ([0-9.e+-]+)", completed.stdout):
        assert float(difference) < 1e-10, f"{script}: the vectorised version differs from the loop by {difference}"
    if draws:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            assert "matplotlib is not installed" in completed.stdout
        else:
            assert png.read_bytes().startswith(b"\x89PNG"), f"{script} wrote no PNG"


IMPORT_ALL = textwrap.dedent("""
    import importlib.util, pathlib, sys
    cache, examples = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    for path in sorted(examples.glob("*.py")):
        spec = importlib.util.spec_from_file_location("example_" + path.stem, path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        print(path.name, sorted(p.name for p in cache.rglob("*") if p.is_file()))
""")


def test_importing_an_example_derives_nothing(tmp_path):
    """`symgrad show examples/quickstart.py:rosen` imports the file: an example that touched `.kernels` at import
    made it derive and compile another function of the file.  The examples do their work under __main__."""
    cache = tmp_path / "cache"
    environment = dict(os.environ, SYMGRAD_QUIET="1", SYMGRAD_CACHE_DIR=str(cache), OPENBLAS_NUM_THREADS="1")
    completed = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(cache), str(EXAMPLES)], capture_output=True,
                               text=True, timeout=600, env=environment, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    imported = completed.stdout.splitlines()
    assert len(imported) == len(list(EXAMPLES.glob("*.py")))
    assert all(line.endswith(" []") for line in imported), completed.stdout
