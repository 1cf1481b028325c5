"""symgrad on the corpus of vectorised objectives others wrote (tests/corpus): taken and right, or cleanly refused.

A refusal (`UnsupportedSyntaxError`, or a `TypeError` for an argument kind) is recorded, not failed: the share
taken is what ``python -m benchmarks.corpus`` reports.  It must still be clean: an `UnsupportedSyntaxError` naming
its line (every argument here is a float, an int or a float64 array of rank 1 to 3, kinds issue 10 supports, so a
`TypeError` would be a wrong refusal).  A function symgrad takes must give the NumPy function's
value and the gradient of JAX running the same source (where it can) and of Richardson-extrapolated central
differences.  The hand-written loop versions are what symgrad takes today: every one must be taken and match.
"""

import functools
import importlib.util
import os
import pathlib
import re
import sys

import numpy as np
import pytest

import corpus
import symgrad as sg
from corpus import reference
from corpus.attempt import REFUSALS, attempt
from corpus.spec import TEST_SIZE
from symgrad.codegen import PARALLEL_MIN_ITERATIONS

VALUE_RTOL = 1e-12  # the same arithmetic, reordered at most
JAX_RTOL = 1e-8  # two exact gradients: rounding only
RICHARDSON_RTOL = 1e-6  # the extrapolated differences agree with JAX to 1e-9 on this corpus; a margin above that
LICENCES = {"MIT", "BSD-3-Clause", "MIT / Apache-2.0"}
BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
WITH_LOOPS = [entry for entry in corpus.ENTRIES if entry.loop is not None]


@functools.lru_cache(maxsize=None)
def vectorised(name):
    """symgrad's attempt at the entry as written, made once for the tests that share it."""
    entry = corpus.BY_NAME[name]
    return attempt(entry, entry.args())


def assert_gradients(gradients, reference_gradients, rtol, what):
    assert len(gradients) == len(reference_gradients)
    for position, (computed, expected) in enumerate(zip(gradients, reference_gradients)):
        np.testing.assert_allclose(computed, expected, rtol=rtol, atol=rtol, err_msg=f"{what}, gradient {position}")


def test_corpus_has_its_size_origins_and_licences():
    """The corpus is as issue 10 asks: at least 45 functions from at least three projects, permissively licensed,
    each with its file and commit, at least 10 with a hand loop; names and inputs are reproducible."""
    assert len(corpus.ENTRIES) >= 45 and len(corpus.BY_NAME) == len(corpus.ENTRIES)
    assert len(corpus.ORIGINS) >= 3
    assert {origin.licence for origin in corpus.ORIGINS} <= LICENCES
    licences = (pathlib.Path(corpus.__file__).parent / "LICENSES.md").read_text()
    assert all(origin.copyright in licences for origin in corpus.ORIGINS)
    assert len(WITH_LOOPS) >= 10
    for entry in corpus.ENTRIES:
        assert entry.path.endswith(".py") and len(entry.commit) == 40 and entry.adaptation, entry.name
        assert entry.jax is True or isinstance(entry.jax, str), entry.name  # a reason where JAX cannot run it
        first, second = entry.args(), entry.args()
        assert all(np.array_equal(a, b) for a, b in zip(first, second)), entry.name
        assert np.isfinite(entry.function(*first)), entry.name


@pytest.mark.parametrize("name", list(corpus.BY_NAME))
def test_as_written_is_right_or_refused(name):
    """Taken: the value is NumPy's and the gradient JAX's and the differences'.  Refused: recorded."""
    entry, result = corpus.BY_NAME[name], vectorised(name)
    if not result.taken:
        assert isinstance(result.refusal, REFUSALS)
        return
    args = entry.args()
    assert result.value == pytest.approx(float(entry.function(*args)), rel=VALUE_RTOL)
    if entry.jax is True:
        value, gradients = reference.jax_value_and_grad(entry, args)
        assert result.value == pytest.approx(value, rel=VALUE_RTOL)
        assert_gradients(result.gradients, gradients, JAX_RTOL, f"{name} against JAX")
    assert_gradients(result.gradients, reference.richardson(entry, args), RICHARDSON_RTOL,
                     f"{name} against Richardson differences")


@pytest.mark.parametrize("name", list(corpus.BY_NAME))
def test_a_refusal_is_a_clean_symgrad_error(name):
    """A refusal names a line of code in the corpus file it refused, as an UnsupportedSyntaxError: never a SymPy
    or Numba traceback, another exception type, or a place elsewhere."""
    entry, result = corpus.BY_NAME[name], vectorised(name)
    if result.taken:
        return
    refusal = result.refusal
    assert isinstance(refusal, sg.UnsupportedSyntaxError), f"{type(refusal).__name__}: {refusal}"
    assert os.path.samefile(refusal.filename, entry.function.__code__.co_filename)
    with open(refusal.filename) as source:
        lines = source.read().splitlines()
    # the refusal names a line of the corpus file that holds code (not past its end, not a blank line)
    assert refusal.lineno in range(1, len(lines) + 1) and lines[refusal.lineno - 1].strip(), refusal.lineno
    assert str(refusal).strip() and "Traceback" not in str(refusal)


@pytest.mark.parametrize("name", [entry.name for entry in WITH_LOOPS])
def test_loop_version_is_taken_and_matches(name):
    """The hand loop (the form symgrad takes today) gives the vectorised function's value, and its gradient
    matches Richardson differences of the vectorised NumPy source: a reference sharing no code with either."""
    entry = corpus.BY_NAME[name]
    args = entry.args(TEST_SIZE + 1)  # a size the vectorised attempt did not use
    result = attempt(entry, args, loop=True)
    assert result.taken, result.first_line()
    assert result.value == pytest.approx(float(entry.function(*args)), rel=VALUE_RTOL)
    assert_gradients(result.gradients, reference.richardson(entry, args), RICHARDSON_RTOL, f"{name} loop")


def test_the_one_taken_today_matches_jax():
    """autograd's two-variable Rosenbrock (constant indices only) is taken as written today; checked against JAX
    at rtol 1e-8 here too, so the JAX path of the harness runs in every test session."""
    entry = corpus.BY_NAME["autograd.rosenbrock"]
    result = vectorised(entry.name)
    assert result.taken, result.first_line()
    value, gradients = reference.jax_value_and_grad(entry, entry.args())
    assert result.value == pytest.approx(value, rel=VALUE_RTOL)
    assert_gradients(result.gradients, gradients, JAX_RTOL, "autograd.rosenbrock against JAX")


def test_report_prints_the_share_taken_and_the_speed_table(monkeypatch, capsys):
    """``python -m benchmarks.corpus`` on two functions (one with a loop version): the share it prints is the
    harness's own count, each refusal has its first line, and the speed table has a timed row, so the report
    cannot rot unnoticed."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location("benchmarks_corpus", BENCHMARKS / "corpus.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    names = ["autograd.rosenbrock", "autograd.tanh"]
    report.main(["--names", ",".join(names), "--speed", "--sizes", "10", "--repeat", "3", "--batch", "0.0005"])
    out = capsys.readouterr().out
    taken = sum(vectorised(name).taken for name in names)
    assert f"taken as written: {taken} of 2 ({50 * taken}%); loop versions taken: 1 of 1" in out
    for name in names:
        if not vectorised(name).taken:
            assert f"{name}: {vectorised(name).first_line().split(' (')[0]}" in out
    time = r"[\d.]+ [nµm]?s"  # JAX, symgrad as written (refused today: "-"), the loop version
    assert re.search(rf"autograd\.tanh\s+10\s+{time}\s+(-|{time})\s+{time}\s", out), out


# Rows with scratch, with tapes, with rows of their own and sums (pass `chunk_scratch`); benchmarks.fuzz
# --parallel and `python -m benchmarks.corpus --speed --parallel` cover the rest.
THREADED = ("sklearn.log_loss", "autograd.neural_net.log_posterior", "autograd.neural_net_regression.logprob",
            "pyswarms.rastrigin")


@pytest.mark.parametrize("name", THREADED)
def test_threaded_kernels_over_many_rows_match_jax_and_the_serial_kernel(name):
    """With ``parallel=True`` at a size whose loops over the rows run in chunks on threads: JAX's value and
    gradient, and the serial kernel's up to the order of the sums."""
    entry = corpus.BY_NAME[name]
    args = entry.args(n=PARALLEL_MIN_ITERATIONS + 37)
    threaded, serial = attempt(entry, args, parallel=True), attempt(entry, args)
    assert threaded.taken and "prange(" in threaded.transform.source()
    value, gradients = reference.jax_value_and_grad(entry, args)
    assert threaded.value == pytest.approx(value, rel=1e-11)
    assert_gradients(threaded.gradients, gradients, JAX_RTOL, f"{name} threaded against JAX")
    assert threaded.value == pytest.approx(serial.value, rel=1e-12)
    assert_gradients(threaded.gradients, serial.gradients, 1e-11, f"{name} threaded against serial")
