"""Vectorised NumPy against the loops a person writes: the lowering's speed, as ratios printed in one run.

``python -m benchmarks.vectorised`` times symgrad's value_and_grad of each vectorised function beside the
loop-written one of the same problem (benchmarks/array_problems.py), side by side in the same rounds, and prints
vectorised / loop per call (1.00 means the lowering wrote the same loops).
"""

import argparse

import numpy as np

import symgrad as sg

from . import array_problems
from .timing import paired_rounds, call_times


PAIRS = {"rosen": (array_problems.rosen_vectorised, array_problems.rosen),
         "logistic": (array_problems.logistic_nll_vectorised, array_problems.logistic_nll)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000", help="comma-separated array lengths (default 1000)")
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args(argv)
    print(f"{'problem':>10} {'n':>8} {'vectorised us':>14} {'loops us':>10} {'ratio':>7}")
    for name, (vectorised, loops) in PAIRS.items():
        for n in map(int, options.sizes.split(",")):
            rng = np.random.default_rng(0)
            args = (rng.uniform(-1.0, 1.0, n),) if name == "rosen" else (
                rng.normal(size=3), rng.normal(size=(n, 3)), (rng.random(n) > 0.5).astype(float))
            calls = {"vectorised": (sg.value_and_grad(vectorised), args), "loops": (sg.value_and_grad(loops), args)}
            samples = call_times(calls, options.repeat, batch_seconds=0.05)
            ratio = paired_rounds(samples["vectorised"], samples["loops"])
            per_call = {key: 1e6 * float(np.median([s for _, s in value])) for key, value in samples.items()}
            print(f"{name:>10} {n:>8} {per_call['vectorised']:>14.2f} {per_call['loops']:>10.2f} {ratio:>7.2f}")


if __name__ == "__main__":
    main()
