"""Differential fuzzing as a standing gate: generated programs must give Python's value (or Python's exception), the
reference gradient (JAX, confirmed by finite differences), and the same answer in every mode symgrad offers.

The long campaign is ``python -m benchmarks.fuzz --programs 10000``; this runs a fixed slice of it (seeds
``FIRST_SEED ...``) in worker processes, so a kernel that crashes fails the test instead of killing pytest.  The
generator and the references are described in docs/testing.md.
"""

import math
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import symgrad as sg  # noqa: E402
from benchmarks.fuzz import oracle  # noqa: E402 - after the path to the benchmarks package
from benchmarks.fuzz.generator import generate  # noqa: E402
from benchmarks.fuzz.numpy_programs import generate_numpy  # noqa: E402
from benchmarks.fuzz.oracle import ACCEPTED  # noqa: E402
from benchmarks.fuzz.pool import judge_all  # noqa: E402

FIRST_SEED = 0
# Each program costs three derivations and compiles (reverse, forward, unoptimised) and a JAX run: about two
# seconds on each of two cores.  SYMGRAD_FUZZ_PROGRAMS runs more (or fewer).
PROGRAMS = int(os.environ.get("SYMGRAD_FUZZ_PROGRAMS", "100"))
INTERPRETED_PROGRAMS = int(os.environ.get("SYMGRAD_FUZZ_INTERPRETED", "200"))
NUMPY_PROGRAMS = int(os.environ.get("SYMGRAD_FUZZ_NUMPY", "12"))  # vectorised programs (`--numpy`): 5-10 s each
NETWORK_PROGRAMS = int(os.environ.get("SYMGRAD_FUZZ_NETWORKS", "16"))  # network rows (`generate(seed, blocks)`)
TIMEOUT = 120


def test_a_seed_is_a_program():
    assert generate(7).source == generate(7).source
    assert generate(7).args == generate(7).args
    assert generate(7).source != generate(8).source


def test_the_generator_covers_the_subset():
    """Every feature the issue names appears within a few hundred seeds (generating is cheap; judging is not)."""
    seen = {feature for seed in range(300) for feature in generate(seed).features}
    wanted = {"reduction", "prefix sum", "recurrence", "local array", "local int size", "nested", "triangular",
              "step", "negative step", "branch in loop", "guarded read", "helper", "array helper", "early return",
              "kink", "float // and %", "index arithmetic", "local int index", "flattened index", "mirrored index",
              "2-D argument", "local 2-D array", "product", "literal index", "short-circuit guard", "layer rows"}
    assert wanted <= seen, f"never generated: {sorted(wanted - seen)}"


def _failures(seeds, writer=generate):
    """The verdicts on the programs of `seeds` that are not accepted, as one report (empty when all are)."""
    programs = [writer(seed).as_json() for seed in seeds]
    failures = []

    def on_verdict(program, verdict):
        if verdict["outcome"] not in ACCEPTED:
            failures.append((program, verdict))

    judge_all(programs, jobs=2, timeout=TIMEOUT, on_verdict=on_verdict)
    return "\n\n".join(f"seed {p['seed']}: {v['outcome']}: {v['detail'][:400]}\n{p['source']}args = {p['args']}"
                       for p, v in sorted(failures, key=lambda item: item[0]["seed"]))


def test_generated_programs_agree_with_their_references():
    report = _failures(range(FIRST_SEED, FIRST_SEED + PROGRAMS))
    assert not report, f"generated programs failed:\n\n{report}"


NETWORK_BLOCKS = ("block_layer_rows", "block_assign", "block_reduction")


def test_generated_network_rows_agree_with_their_references():
    """Programs made mostly of a network's rows (hidden layers in local arrays, a hinge), where pass
    `skip_zero_rows` skips a row's backward pass past its hinge: with every pass on and off, as the others."""
    report = _failures(range(9700000, 9700000 + NETWORK_PROGRAMS), writer=lambda seed: generate(seed, NETWORK_BLOCKS))
    assert not report, f"generated network programs failed:\n\n{report}"


def test_generated_vectorised_programs_agree_with_their_references():
    """A slice of the vectorised campaign (``--numpy``): broadcasting, slices, axis reductions, statistics, joins,
    einsum and comprehensions, judged as the loop programs are."""
    report = _failures(range(FIRST_SEED, FIRST_SEED + NUMPY_PROGRAMS), writer=generate_numpy)
    assert not report, f"generated vectorised programs failed:\n\n{report}"


def test_the_vectorised_generator_writes_programs_python_runs():
    """Each program is written between shapes NumPy accepts: Python runs it and returns one number."""
    for seed in range(300):
        program = generate_numpy(seed)
        namespace = {}
        exec(program.source, namespace)  # noqa: S102 - our own generated source
        value = namespace["f"](*oracle.arguments(program.as_json()))
        assert np.ndim(value) == 0 and np.isfinite(value), (seed, program.source)


def test_more_generated_programs_agree_when_interpreted(monkeypatch):
    """A further slice with the kernels run as Python (the campaign's `--interpret`): no compile, so a few hundred
    programs cost about a minute, and an access outside an array shows as NumPy's own IndexError."""
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")  # the workers inherit it
    report = _failures(range(FIRST_SEED + PROGRAMS, FIRST_SEED + PROGRAMS + INTERPRETED_PROGRAMS))
    assert not report, f"generated programs failed (interpreted):\n\n{report}"


PARALLEL_PROGRAMS = int(os.environ.get("SYMGRAD_FUZZ_PARALLEL_PROGRAMS", "30"))  # of each kind, interpreted


def test_generated_programs_agree_threaded_and_serial_when_interpreted(monkeypatch):
    """The campaign's ``--interpret --parallel``: the kernels of ``parallel=True``, every loop run in chunks from
    its first iteration on (pass `chunk_scratch`: scratch arrays per chunk, rows stored from the chunks), give
    the serial result, on network rows and on general programs."""
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")  # the workers inherit both
    monkeypatch.setenv("SYMGRAD_FUZZ_PARALLEL", "1")
    network = _failures(range(9970000, 9970000 + PARALLEL_PROGRAMS), writer=lambda seed: generate(seed, NETWORK_BLOCKS))
    general = _failures(range(9980000, 9980000 + PARALLEL_PROGRAMS))
    assert not network and not general, f"generated programs failed (threaded):\n\n{network}\n\n{general}"


def test_a_float_error_in_python_is_no_verdict_on_a_later_error():
    """`a / n` with n == 0 stops Python with ZeroDivisionError; the kernels follow IEEE (inf, docs/conventions.md)
    and go on to an index check that fails: neither is wrong, the comparison says nothing (fuzz seed 1001501)."""
    verdict = oracle.Verdict("ok")
    with pytest.raises(oracle.Failure) as caught:
        oracle.judge_exception(sg.ArrayIndexError("f(): line 11 indexes argument 'y'"),
                               ZeroDivisionError("float division by zero"), verdict)
    assert caught.value.verdict.outcome == "inconclusive"
    with pytest.raises(oracle.Failure) as caught:
        oracle.judge_exception(sg.ArrayIndexError("f(): line 11 indexes argument 'y'"),
                               ZeroDivisionError("integer division or modulo by zero"), verdict)
    assert caught.value.verdict.outcome == "wrong value"


def matrix_weights(A, x):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            s += math.tanh(A[i, j] * x[j])
    return s


def test_a_matrix_gradient_is_checked_element_by_element():
    """The differences compared a row of a matrix's gradient with one number and the oracle itself failed, so every
    program differentiated with respect to a 2-D argument was inconclusive (seed 2000469)."""
    A, x = np.array([[0.3, -0.7], [1.1, 0.2]]), np.array([0.5, -1.5])
    program = {"args": {"A": A.tolist(), "x": x.tolist()}, "wrt": ["A", "x"]}
    right = [np.array([[x[j] / math.cosh(A[i, j] * x[j]) ** 2 for j in range(2)] for i in range(2)]),
             np.array([sum(A[i, j] / math.cosh(A[i, j] * x[j]) ** 2 for i in range(2)) for j in range(2)])]
    assert oracle.confirm_with_differences(matrix_weights, program, right, None)[0] == "ok"
    wrong = [right[0] * np.array([[1.0, 1.0], [1.0, 1.01]]), right[1]]
    outcome, detail = oracle.confirm_with_differences(matrix_weights, program, wrong, None)
    assert outcome == "wrong" and "d/dA[1, 1]" in detail


def test_an_interpreted_float_error_is_no_verdict_on_pythons_index_error(monkeypatch):
    """Interpreted, a kernel divides by zero on a branch it computes but does not take, before the check of a read
    Python fails on; compiled, the division gives inf and the check raises as Python does (seed 1000634)."""
    monkeypatch.setattr(oracle, "INTERPRETED", True)
    with pytest.raises(oracle.Failure) as caught:
        oracle.judge_exception(ZeroDivisionError("float division by zero"),
                               IndexError("index 5 is out of bounds for axis 0 with size 4"), oracle.Verdict("ok"))
    assert caught.value.verdict.outcome == "inconclusive"
    monkeypatch.setattr(oracle, "INTERPRETED", False)
    with pytest.raises(oracle.Failure) as caught:
        oracle.judge_exception(ZeroDivisionError("float division by zero"),
                               IndexError("index 5 is out of bounds for axis 0 with size 4"), oracle.Verdict("ok"))
    assert caught.value.verdict.outcome == "wrong value"


def test_a_runaway_unoptimised_module_keeps_the_passes_that_only_name_values():
    """Seed 4000234: with every pass off, the adjoints of powers of sums of a helper inlined into conditional
    expressions made a 671 KB module that Numba did not compile within the time limit, so the program timed out
    instead of being judged.  The oracle keeps `name_sums` and `cse` for such a module (15 KB), and judges it."""
    report = _failures([4000234])
    assert not report, f"the program failed:\n\n{report}"


def test_a_sweep_carrying_an_adjoint_runs_last_iteration_first():
    """Seed 7100019: once the tape of a recurrence `z -= d[i] * c` was dropped (nothing read its popped values),
    `any_order_sweeps` ran the sweep first to last, although each iteration reads the adjoint `z_bar` the later
    iteration left (`_carried_by_updates`): a wrong gradient."""
    report = _failures([7100019])
    assert not report, report


def test_a_nan_component_does_not_make_every_tolerance_nan():
    """Seed 7400000 (--numpy): the gradient of a norm of a zero row is nan in both modes; the tolerance of the
    other components, scaled by the largest magnitude, became nan too, and a 1-ulp difference in the value was
    called a forward/reverse mismatch."""
    report = _failures([7400000], writer=generate_numpy)
    assert not report, report


def test_forward_mode_gives_no_tangent_to_a_value_that_does_not_depend_on_the_parameter():
    """Seed 12100922 (--numpy): `np.std(y - y)` differentiated by forward mode with respect to a scalar it never
    reads gave nan (a zero tangent array carried through to `0 / (2 sqrt(0))`), reverse mode 0."""
    report = _failures([12100922], writer=generate_numpy)
    assert not report, report
