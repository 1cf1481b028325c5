"""Every example runs in a fresh process and prints what it claims (small sizes where the example offers them).

The examples check their own gradients against central finite differences and print the largest relative
error; these tests read that number back, so an example whose gradient went wrong fails here.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

# (script, arguments, lines the output must contain)
RUNS = [
    ("quickstart.py", [], [r"\\frac\{\\partial", r"nfev"]),
    ("rosen_lbfgs.py", ["--small"], [r"max relative error"]),
    ("logistic_regression.py", ["--small"], [r"max relative error"]),
    ("oscillator_fit.py", ["--small"], [r"max relative error"]),
    # the whole demo: micrograd's claim is 100% training accuracy after 100 steps
    ("moons_mlp.py", ["--png", ""], [r"final training accuracy 100%", r"max relative error"]),
]


@pytest.mark.parametrize("script, arguments, expected", RUNS, ids=[run[0] for run in RUNS])
def test_example_runs_and_prints_what_it_claims(script, arguments, expected):
    environment = dict(os.environ, SYMGRAD_QUIET="1", OPENBLAS_NUM_THREADS="1")
    completed = subprocess.run([sys.executable, str(EXAMPLES / script), *arguments], capture_output=True,
                               text=True, timeout=600, env=environment, cwd=EXAMPLES.parent)
    assert completed.returncode == 0, completed.stderr[-3000:]
    for pattern in expected:
        assert re.search(pattern, completed.stdout), f"{script} printed no {pattern!r}:\n{completed.stdout[-3000:]}"
    for error in re.findall(r"max relative error[^:]*: ([0-9.e+-]+)", completed.stdout):
        assert float(error) < 1e-6, f"{script}: gradient differs from finite differences by {error}"
