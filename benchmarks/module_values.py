"""What reading module-level values costs a call (symgrad/module_values.py).

    python -m benchmarks.module_values            # n = 10 and 1000, 30 rounds

A function that reads a module-level array is called through a Python wrapper that reads the global and passes
it to the kernels; a function that reads a module-level number goes through the same wrapper, which checks the
number.  Each is timed against the same function taking the array (or number) as an argument, whose call goes
straight to the Numba dispatcher, in the same interleaved rounds (`timing.call_times`); the ratio is the median
of per-round ratios.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import symgrad as sg  # noqa: E402
from report import _text_table, ratio, seconds  # noqa: E402
from timing import call_times, median, paired_rounds  # noqa: E402

WEIGHTS = np.ones(10)
SCALE = 0.5


def read_global(x):
    return np.sum(WEIGHTS * x**2)


def passed(x, weights):
    return np.sum(weights * x**2)


def read_number(x):
    return SCALE * np.sum(x**2)


def number_passed(x, scale):
    return scale * np.sum(x**2)


def main(argv=None):
    global WEIGHTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--batch", type=float, default=0.005, help="seconds per timed batch")
    options = parser.parse_args(argv)
    rows = []
    for n in map(int, options.sizes.split(",")):
        WEIGHTS = np.linspace(0.5, 1.5, n)
        x = np.random.default_rng(n).normal(size=n)
        calls = {"global array": (sg.value_and_grad(read_global), (x,)),
                 "argument array": (sg.value_and_grad(passed), (x, WEIGHTS)),
                 "global number": (sg.value_and_grad(read_number), (x,)),
                 "argument number": (sg.value_and_grad(number_passed), (x, SCALE))}
        times = call_times(calls, options.repeat, options.batch)
        for what, reference in (("global array", "argument array"), ("global number", "argument number")):
            rows.append([str(n), what, seconds(median([t for _, t in times[what]])),
                         seconds(median([t for _, t in times[reference]])),
                         ratio(paired_rounds(times[what], times[reference]))])
    print("\n".join(_text_table("per-call time of value_and_grad, a module-level value against an argument",
                                 ["n", "read from", "per call", "as an argument", "ratio"], rows,
                                 "ratio: median over rounds of (module-level) / (argument), timed side by side")))


if __name__ == "__main__":
    main()
