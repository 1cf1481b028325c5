"""Stress the derivation cache: processes and threads deriving and calling overlapping functions on one cache
directory while a corrupter truncates, garbles, extends and deletes its files at random.

    python -m benchmarks.stress --processes 3 --threads 4 --seconds 60

The parent keeps `--processes` short-lived worker processes running (each lives a few seconds, so new processes
keep loading entries from the disk) and corrupts the cache meanwhile.  Each worker runs `--threads` threads that
make new transforms of functions from a small shared pool (two files hold the same function, so they share
kernels) and call them; every result is checked against a hand-written formula.  The run prints the counts and
exits with status 1 when a result was wrong, an exception was unexpected, or a worker died.

Numba's own files are only truncated, extended or deleted, not garbled in place: they carry no checksum, and a
garbled byte inside their machine code could do anything (symgrad verifies only its own files; see
docs/architecture.md).
"""

import argparse
import collections
import importlib
import json
import math
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

# (template, constant) per pool file; files 0 and 6 hold the same function under different module names.
POOL = [("trig", 1.5), ("trig", 2.5), ("fit", 0.5), ("fit", 1.0), ("harmonics", 2.0), ("harmonics", 3.0),
        ("trig", 1.5)]

CALLS_PER_ROUND = 20  # checked calls of a transform before the thread picks the next one

TEMPLATES = {
    "trig": (("x", "y"), """
import math


def target(x, y):
    return {c} * math.sin(x) * y + math.exp(-x * x) + y * y
"""),
    "fit": ("w", """
def target(w, x):
    s = 0.0
    for i in range(len(w)):
        s += (w[i] * x[i] - {c}) ** 2
    return s
"""),
    "harmonics": ("x", """
import math


def target(x, n):
    s = 0.0
    for i in range(n):
        s += math.sin(x * (i + 1))
    return {c} * s
"""),
}


def _arguments_and_reference(template, c, rng):
    """Arguments for a call and the (value, gradient) a correct kernel returns, by hand."""
    if template == "trig":
        x, y = rng.uniform(-2.0, 2.0, 2)
        value = c * math.sin(x) * y + math.exp(-x * x) + y * y
        return (x, y), value, (c * math.cos(x) * y - 2.0 * x * math.exp(-x * x), c * math.sin(x) + 2.0 * y)
    if template == "fit":
        size = int(rng.integers(1, 50))
        w, x = rng.uniform(-1.0, 1.0, size), rng.uniform(-1.0, 1.0, size)
        return (w, x), float(np.sum((w * x - c) ** 2)), 2.0 * (w * x - c) * x
    x, n = rng.uniform(-1.0, 1.0), int(rng.integers(0, 20))
    k = np.arange(1, n + 1)
    return (x, n), c * float(np.sum(np.sin(x * k))), c * float(np.sum(k * np.cos(x * k)))


def _close(result, expected):
    return np.allclose(np.asarray(result, dtype=float), np.asarray(expected, dtype=float), rtol=1e-9, atol=1e-12)


# --- a worker process ---------------------------------------------------------------------------------------
def worker(functions, threads, seconds, seed):
    """Run `threads` threads for `seconds`; print the counts as one JSON line."""
    import symgrad as sg

    sys.path.insert(0, functions)
    modules = [importlib.import_module(f"stress_function_{k}") for k in range(len(POOL))]
    counts = collections.Counter()
    samples = []
    lock = threading.Lock()

    def count_warning(message, category, *args, **kwargs):
        with lock:
            counts[f"warning {category.__name__}"] += 1

    warnings.showwarning = count_warning
    warnings.simplefilter("always", sg.CacheWarning)
    deadline = time.monotonic() + seconds

    def call(transform, mode, template, c, rng):
        """One checked call; whether its result is right."""
        args, value, gradient = _arguments_and_reference(template, c, rng)
        if mode == "grad":
            return _close(transform.kernels.grad(*args), gradient)
        if mode == "value":
            return _close(transform.value(*args), value)
        result_value, result_gradient = transform(*args)
        return _close(result_value, value) and _close(result_gradient, gradient)

    def run(thread_seed):
        rng = np.random.default_rng(thread_seed)
        transforms = {}
        while time.monotonic() < deadline:
            k = int(rng.integers(len(POOL)))
            template, c = POOL[k]
            mode = ("grad", "value_and_grad", "value")[int(rng.integers(3))]
            if k not in transforms or rng.random() < 0.2:  # a new transform loads and compiles from the cache again
                transforms[k] = sg.value_and_grad(modules[k].target, wrt=TEMPLATES[template][0])
            if rng.random() < 0.02:  # the formulas, kept in the cache beside the kernels
                try:
                    shown = r"\partial" in transforms[k].latex()
                except Exception as error:  # noqa: BLE001 (counted: the run fails on any)
                    shown = False
                    samples.append(f"latex(): {type(error).__name__}: {error}"[:300])
                with lock:
                    counts["formulas shown"] += shown
                    counts["errors"] += not shown
            for _ in range(CALLS_PER_ROUND):
                try:
                    correct = call(transforms[k], mode, template, c, rng)
                except Exception as error:  # noqa: BLE001 (counted: the run fails on any)
                    with lock:
                        counts["errors"] += 1
                        samples.append(f"{type(error).__name__}: {error}"[:300])
                    break
                with lock:
                    counts["calls"] += 1
                    counts["wrong"] += not correct
                    if not correct:
                        samples.append(f"wrong result of pool function {k} ({mode})")

    pool = [threading.Thread(target=run, args=(seed * 1000 + t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    print(json.dumps({"counts": counts, "samples": samples[:5]}), flush=True)


# --- the corrupter ------------------------------------------------------------------------------------------
def _corrupt(path, rng):
    """Truncate, garble, extend or delete one file; Numba's files are never garbled in place."""
    data = path.read_bytes()
    numba_file = path.suffix in (".nbi", ".nbc")
    action = rng.choice(["truncate", "extend", "delete"] if numba_file else ["truncate", "garble", "extend", "delete"])
    if action == "delete":
        path.unlink()
    elif action == "truncate":
        path.write_bytes(data[:rng.randrange(len(data) + 1)])
    elif action == "extend":
        path.write_bytes(data + b"\nraise SystemExit('tampered')\n")
    else:
        at = rng.randrange(len(data) + 1)
        path.write_bytes(data[:at] + bytes(rng.randrange(256) for _ in range(8)) + data[at + 8:])
    return action


def corrupter(cache, stop, counts, interval, seed):
    rng = random.Random(seed)
    while not stop.wait(rng.uniform(0.0, 2.0 * interval)):
        files = [p for p in cache.rglob("*") if p.is_file()]
        if not files:
            continue
        try:
            counts[f"corrupted ({_corrupt(rng.choice(files), rng)})"] += 1
        except OSError:
            pass  # the file went away meanwhile


# --- the parent ---------------------------------------------------------------------------------------------
def _spawn(functions, cache, threads, seed, lifetime):
    environment = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache), SYMGRAD_QUIET="1")
    root = str(pathlib.Path(__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [root, environment.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "benchmarks.stress", "--worker", functions, "--threads", str(threads),
               "--seconds", str(lifetime), "--seed", str(seed)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                            cwd=root)


def stress(processes, threads, seconds, interval, seed):
    """Run the whole stress test; the totals."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="symgrad_stress_"))
    functions, cache = root / "functions", root / "cache"
    functions.mkdir()
    for k, (template, c) in enumerate(POOL):
        (functions / f"stress_function_{k}.py").write_text(TEMPLATES[template][1].format(c=c))
    rng = random.Random(seed)
    totals = collections.Counter()
    samples = []
    stop = threading.Event()
    corrupting = threading.Thread(target=corrupter, args=(cache, stop, totals, interval, seed))
    started = time.monotonic()
    deadline = started + seconds
    running = []
    corrupting.start()
    try:
        while running or time.monotonic() < deadline:
            while len(running) < processes and time.monotonic() < deadline:
                lifetime = min(rng.uniform(3.0, 8.0), max(deadline - time.monotonic(), 0.5))
                running.append(_spawn(str(functions), cache, threads, rng.randrange(10 ** 6), lifetime))
                totals["worker processes"] += 1
            time.sleep(0.05)
            for process in [p for p in running if p.poll() is not None]:
                running.remove(process)
                out, err = process.communicate()
                try:
                    report = json.loads(out.strip().splitlines()[-1])
                except (IndexError, ValueError):
                    totals["errors"] += 1
                    samples.append(f"a worker died (status {process.returncode}): {err.strip()[-500:]}")
                    continue
                totals.update(report["counts"])
                samples += report["samples"]
    finally:
        stop.set()
        corrupting.join()
        shutil.rmtree(root, ignore_errors=True)
    totals["duration (s)"] = round(time.monotonic() - started, 1)
    return totals, samples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3, help="worker processes running at once")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to keep starting workers")
    parser.add_argument("--interval", type=float, default=0.1, help="mean seconds between two corruptions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", metavar="FUNCTIONS", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        worker(options.worker, options.threads, options.seconds, options.seed)
        return 0
    print(f"stress: {options.processes} processes x {options.threads} threads for {options.seconds:g} s on one "
          f"cache directory, corrupting a file every ~{options.interval:g} s", flush=True)
    totals, samples = stress(options.processes, options.threads, options.seconds, options.interval, options.seed)
    for name in sorted(totals):
        print(f"  {name}: {totals[name]}")
    for sample in samples[:10]:
        print(f"  e.g. {sample}")
    print(json.dumps({"totals": totals, "samples": samples[:10]}))
    return 1 if totals["wrong"] or totals["errors"] or not totals["calls"] else 0


if __name__ == "__main__":
    sys.exit(main())
