"""Out of core: a logistic regression fitted with scipy.optimize.minimize over rows that stay on disk.

The data is written block by block to NumPy memmap files (640 MB at full size), and `dask.array` reads it back in
chunks of 200,000 rows: each chunk maps its rows, copies them and drops the mapping, so at most a few chunks
(16 MB each) are in memory at a time, on the 2 threads of Dask's default scheduler. `symgrad.dask` evaluates the
compiled kernel of `nll` on each chunk and adds up the partial values and gradients; the loss is a mean, divided
once at the end. The first evaluation shows Dask's progress bar, and the script prints the peak memory of the
process (its resident set) and, apart from what the process held before the first pass over the data (Python,
NumPy, SymPy, Numba, Dask and the compiled kernels), the memory the fit itself took, beside the size of the data. The gradient is checked against central differences on one chunk.

    python examples/out_of_core_logistic.py            # 8,000,000 rows x 10 (640 MB on disk)
    python examples/out_of_core_logistic.py --small    # 400,000 rows
"""

import argparse
import math
import pathlib
import resource
import sys
import tempfile
import time

import numpy as np

import symgrad as sg
import symgrad.dask as sgd

FEATURES = 10
CHUNK_ROWS = 200_000
WRITE_ROWS = 500_000  # rows generated and written per block


def nll(w, X, y):
    """The mean negative log-likelihood of logistic regression (labels 0 or 1)."""
    total = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j]*w[j]
        total += math.log1p(math.exp(-z)) + (1 - y[i])*z
    return total / X.shape[0]


def write_dataset(directory, rows, rng):
    """X and y as memmap files of `rows` rows, written a block at a time (never the whole array in memory)."""
    w_true = rng.normal(size=FEATURES)
    for name, shape in (("X.npy", (rows, FEATURES)), ("y.npy", (rows,))):
        np.lib.format.open_memmap(directory / name, mode="w+", dtype=np.float64, shape=shape).flush()  # the files
    for start in range(0, rows, WRITE_ROWS):
        stop = min(rows, start + WRITE_ROWS)
        block = rng.normal(size=(stop - start, FEATURES))
        labels = (block @ w_true + rng.logistic(size=stop - start) > 0)
        for name, values in (("X.npy", block), ("y.npy", labels)):
            mapped = np.load(directory / name, mmap_mode="r+")  # a mapping per block: written pages count as
            mapped[start:stop] = values                        # this process's memory until it is dropped
            mapped.flush()
            del mapped
    return w_true


def read_rows(path, start, stop):
    """Rows start:stop of a .npy file: mapped, copied, and the mapping dropped when this returns."""
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def on_disk(path, rows):
    """The .npy file at `path` as a dask array, one chunk per CHUNK_ROWS rows, each read when a task needs it."""
    import dask
    import dask.array as da

    shape = np.load(path, mmap_mode="r").shape
    chunks = [da.from_delayed(dask.delayed(read_rows)(path, start, min(rows, start + CHUNK_ROWS)),
                              shape=(min(rows, start + CHUNK_ROWS) - start, *shape[1:]), dtype=np.float64)
              for start in range(0, rows, CHUNK_ROWS)]
    return da.concatenate(chunks)


def peak_megabytes():
    """The peak resident set of this process so far (ru_maxrss: kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main():
    from dask.diagnostics import ProgressBar
    from scipy.optimize import minimize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="400,000 rows instead of 8,000,000")
    options = parser.parse_args()
    rows = 400_000 if options.small else 8_000_000
    rng = np.random.default_rng(42)
    with tempfile.TemporaryDirectory(prefix="symgrad_out_of_core_") as folder:
        directory = pathlib.Path(folder)
        start = time.perf_counter()
        w_true = write_dataset(directory, rows, rng)
        size = (directory / "X.npy").stat().st_size + (directory / "y.npy").stat().st_size
        print(f"wrote {rows:,} rows x {FEATURES} to a temporary folder: {size / 2**20:,.0f} MB on disk "
              f"in {time.perf_counter() - start:.1f} s")
        X, y = on_disk(directory / "X.npy", rows), on_disk(directory / "y.npy", rows)
        value_and_grad = sgd.value_and_grad(nll)

        # the gradient on one chunk, against central differences of the in-memory value
        X0, y0 = read_rows(directory / "X.npy", 0, CHUNK_ROWS), read_rows(directory / "y.npy", 0, CHUNK_ROWS)
        w0 = rng.normal(size=FEATURES) * 0.1
        _, gradient = value_and_grad(w0, X[:CHUNK_ROWS], y[:CHUNK_ROWS])
        value = sg.value_and_grad(nll).value
        h = 1e-4  # a mean over 200,000 rows carries rounding noise of ~1e-13: a step this size keeps it small
        differences = np.array([(value(w0 + h*e, X0, y0) - value(w0 - h*e, X0, y0)) / (2*h)
                                for e in np.eye(FEATURES)])
        error = np.max(np.abs(gradient - differences) / np.maximum(np.abs(differences), 1e-3))
        print(f"gradient on one chunk vs central differences: max relative error {error:.1e}")
        del X0, y0

        before = peak_megabytes()
        print("first evaluation over every chunk (Dask's progress bar on stderr)")
        with ProgressBar(dt=0.5, out=sys.stderr):
            value_and_grad(np.zeros(FEATURES), X, y)
        evaluations = []

        def loss(w):
            evaluations.append(1)
            return value_and_grad(w, X, y)

        start = time.perf_counter()
        fit = minimize(loss, np.zeros(FEATURES), jac=True, method="L-BFGS-B")
        elapsed = time.perf_counter() - start
        print(f"L-BFGS-B: {fit.message} after {len(evaluations)} evaluations of the loss and its gradient over "
              f"{rows:,} rows, {elapsed:.1f} s ({elapsed / len(evaluations):.2f} s each)")
        print(f"loss {fit.fun:.6f}; fitted w vs the w that made the labels: cosine "
              f"{fit.x @ w_true / np.linalg.norm(fit.x) / np.linalg.norm(w_true):.4f}")
        peak = peak_megabytes()
        fit_memory = max(peak - before, 1.0)
        print(f"peak memory of the process: {peak:,.0f} MB, of which {before:,.0f} MB before the first evaluation "
              f"over the data (Python, NumPy, SymPy, Numba, Dask, the compiled kernels) and {fit_memory:,.0f} MB for "
              f"the fit; the data on disk: {size / 2**20:,.0f} MB, {size / 2**20 / fit_memory:.1f}x the fit's memory")


if __name__ == "__main__":
    main()
