"""What `parallel=True` can gain on this machine: the logistic NLL's gradient run on threads, by hand and by symgrad.

``python -m benchmarks.parallel_floor`` (``--quick``: fewer rounds) times, interleaved and in one process, the
logistic NLL and its gradient at 10000 rows of 10 (the field benchmark's row) and at 10^6 rows:

- ``hand serial``: the hand-written Numba kernel of the field benchmark (`benchmarks.hand.logistic_hand`);
- ``hand prange``: the same arithmetic cut into `CHUNKS` chunks of rows run by `numba.prange`, each chunk adding
  into its own partial sum and gradient, added up after (what a person writes for threads, and what symgrad's
  `parallel=True` prints);
- symgrad's serial and `parallel=True` kernels of the same loss (`benchmarks.array_problems.logistic_nll`).

The speed-up of ``hand prange`` over ``hand serial`` is the floor this machine sets for threads on this problem
(the work per call against the cost of waking the threads and joining them); symgrad's parallel speed-up is
printed beside it.  Ratios are medians of per-round ratios.
"""

import argparse
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # (the problems are top-level modules, as in benchmarks.run)
    sys.path.insert(0, HERE)

import numpy as np
from array_problems import logistic_nll
from hand import logistic_hand
from numba import njit, prange
from timing import call_times, log

import symgrad as sg

CHUNKS = 16


@njit(parallel=True, cache=True, error_model="numpy")
def logistic_hand_prange(w, X, y):
    n, d = X.shape
    inv_n = 1.0 / n
    totals = np.empty(CHUNKS)
    parts = np.zeros((CHUNKS, d))
    for chunk in prange(CHUNKS):
        start, stop = (n * chunk) // CHUNKS, (n * (chunk + 1)) // CHUNKS
        total = 0.0
        for i in range(start, stop):
            z = 0.0
            for j in range(d):
                z += X[i, j] * w[j]
            e = math.exp(-z)
            total += math.log1p(e) + (1.0 - y[i]) * z
            dz = ((1.0 - y[i]) - e / (1.0 + e)) * inv_n
            for j in range(d):
                parts[chunk, j] += dz * X[i, j]
        totals[chunk] = total
    g = np.zeros(d)
    for chunk in range(CHUNKS):
        for j in range(d):
            g[j] += parts[chunk, j]
    return totals.sum() * inv_n, g


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parallel_floor", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    options = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    hand_serial = njit(cache=True, error_model="numpy")(logistic_hand)
    serial, parallel = sg.value_and_grad(logistic_nll), sg.value_and_grad(logistic_nll, parallel=True)
    print(f"{'rows':>8} {'hand serial':>12} {'hand prange':>12} {'hand gain':>10} {'symgrad serial':>15} "
          f"{'symgrad parallel':>17} {'symgrad gain':>13}")
    for rows in (10_000, 1_000_000):
        X, w = rng.normal(size=(rows, 10)), rng.normal(size=10) * 0.3
        y = (rng.random(rows) < 0.5) * 1.0
        expected = hand_serial(w, X, y)
        for kernel in (logistic_hand_prange, serial, parallel):
            value, gradient = kernel(w, X, y)
            assert math.isclose(value, expected[0], rel_tol=1e-12) and np.allclose(gradient, expected[1], 1e-10, 0)
        calls = {"hand serial": (hand_serial, (w, X, y)), "hand prange": (logistic_hand_prange, (w, X, y)),
                 "symgrad serial": (serial, (w, X, y)), "symgrad parallel": (parallel, (w, X, y))}
        log(f"timing {rows} rows...")
        samples = call_times(calls, repeat=9 if options.quick else 31, batch_seconds=0.02 if options.quick else 0.1)
        per_round = {name: dict(values) for name, values in samples.items()}

        def gain(slow, fast):
            return statistics.median(per_round[slow][r] / per_round[fast][r] for r in per_round[fast])

        median = {name: statistics.median(per_round[name].values()) * 1e6 for name in calls}
        print(f"{rows:>8} {median['hand serial']:>10.0f}µs {median['hand prange']:>10.0f}µs "
              f"{gain('hand serial', 'hand prange'):>9.2f}x {median['symgrad serial']:>13.0f}µs "
              f"{median['symgrad parallel']:>15.0f}µs {gain('symgrad serial', 'symgrad parallel'):>12.2f}x")


if __name__ == "__main__":
    main()
