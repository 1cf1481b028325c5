"""Bytes moved: symgrad's gradient kernels as memory traffic, against the machine's copy bandwidth in the same run.

``python -m benchmarks.bandwidth`` (``--quick``: fewer rounds) times `value_and_grad` of the Rosenbrock loop at
n = 100000 and of the logistic NLL at 10^6 rows of 10, and a copy (`np.copyto`, NumPy's memcpy) of the same
number of bytes, interleaved.  A kernel's bytes are the least it must move: each input array read once and each
gradient written once (the other arrays it touches stay in cache); a copy moves its buffer twice (read, then
write).  GB/s is those bytes over the median time, "of copy" that rate over the copy's; the fastest round's rates are
beside them (on a shared machine the median wanders with the load).
"""

import argparse
import statistics

import numpy as np

import symgrad as sg

from .array_problems import logistic_nll, rosen
from .timing import call_times, log

FLOAT = 8  # bytes


def problems():
    """name -> (the transform, its arguments, elements, bytes it must move)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 100_000)
    rows, columns = 10**6, 10
    X, w, y = rng.normal(size=(rows, columns)), rng.normal(size=columns) * 0.3, (rng.random(rows) < 0.5) * 1.0
    return {
        "rosen n=100000": (sg.value_and_grad(rosen), (x,), x.size, 2 * x.nbytes),  # read x, write x_bar
        "logistic NLL 10^6x10": (sg.value_and_grad(logistic_nll), (w, X, y), rows,
                                 X.nbytes + y.nbytes + 2 * w.nbytes),  # read X, y (w, w_bar: cache)
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bandwidth", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    options = parser.parse_args(argv)
    chosen = problems()
    calls, copies = {}, {}
    for name, (transform, args, _, moved) in chosen.items():
        calls[name] = (transform, args)
        source, target = np.ones(moved // (2 * FLOAT)), np.empty(moved // (2 * FLOAT))
        copies[name] = source.nbytes
        calls[f"copy {name}"] = (np.copyto, (target, source))
    log("timing kernels and copies, interleaved...")
    samples = call_times(calls, repeat=7 if options.quick else 21, batch_seconds=0.05 if options.quick else 0.2)
    median = {name: statistics.median(seconds for _, seconds in values) for name, values in samples.items()}
    fastest = {name: min(seconds for _, seconds in values) for name, values in samples.items()}
    print(f"{'problem':<22} {'elements':>9} {'bytes/element':>14} {'time':>14} {'GB/s':>7} {'copy GB/s':>10} "
          f"{'of copy':>8} {'fastest: time':>14} {'GB/s':>7} {'copy GB/s':>10} {'of copy':>8}")
    for name, (_, _, elements, moved) in chosen.items():
        columns = []
        for times in (median, fastest):
            rate, copy_rate = moved / times[name] / 1e9, 2 * copies[name] / times[f"copy {name}"] / 1e9
            columns.append(f"{times[name] * 1e6:>12.0f}µs {rate:>7.1f} {copy_rate:>10.1f} {rate / copy_rate:>8.2f}")
        print(f"{name:<22} {elements:>9} {moved / elements:>14.1f}" + "".join(columns))


if __name__ == "__main__":
    main()
