"""Big programs: derivation time, compile time and peak memory against the number of straight-line statements.

    python -m benchmarks.scaling_statements            # n = 250 .. 5000 statements, and 200 arguments
    python -m benchmarks.scaling_statements --quick    # n = 250 .. 1000, and 200 arguments
    python -m benchmarks.scaling_statements --sizes 500,2000 --cap 120 --json out.json

Programs (`straight_programs.py`): ``live<n>``, n statements ``t_k = f(t_{k-1}, t_j)`` mixing sin, tanh, exp and
products, every one live (nothing is eliminated early); ``wide200``, ``sin(a0*a1 + ... + a199*a0)`` of 200
arguments.  Each size runs in a fresh process on a cold cache: derivation (`Transform._load`: parse, reverse mode,
codegen, the module written), the compile of the value_and_grad kernel (Numba, with its disk cache written), the
process's peak RSS, and the largest relative error of the gradient against a Richardson-extrapolated central
difference on every float argument (the first 8 for wide200).  Beside it, in another fresh process: SymPy's
``diff`` of the same function (built by running it on SymPy symbols) + ``lambdify(cse=True)`` of the value and
gradient, capped at ``--cap`` seconds (``> cap`` in the table).  Times are wall-clock seconds, as a user waits.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import straight_programs  # noqa: E402

SIZES = {"quick": (250, 500, 1000), "full": (250, 500, 1000, 2000, 5000)}
WIDE = 200


def _program(kind, n, directory):
    source = straight_programs.live_source(n) if kind == "live" else straight_programs.wide_source(n)
    module = straight_programs.write_module(directory, f"{kind}{n}", source)
    return getattr(module, f"{kind}{n}")


def _richardson(function, point, k, h=1e-3):
    def central(step):
        up, down = list(point), list(point)
        up[k] += step
        down[k] -= step
        return (function(*up) - function(*down)) / (2 * step)

    return (4 * central(h / 2) - central(h)) / 3


def measure_symgrad(kind, n, directory):
    """One size in this process: derive, compile, call, check against finite differences."""
    import symgrad as sg

    function = _program(kind, n, directory)
    arguments = 2 if kind == "live" else n
    transform = sg.value_and_grad(function, wrt=tuple(range(arguments)))
    start = time.perf_counter()
    module = transform._load()
    derive = time.perf_counter() - start
    start = time.perf_counter()
    transform.kernels.value_and_grad  # noqa: B018  (compiles)
    compile_s = time.perf_counter() - start
    point = [0.3 + 0.4 * ((7 * k) % 5) / 5 for k in range(arguments)]
    value, gradient = transform(*point)
    error = 0.0
    for k in range(min(arguments, 8)):
        reference = _richardson(function, point, k)
        error = max(error, abs(gradient[k] - reference) / max(abs(reference), 1e-3))
    with open(module.__file__) as handle:
        text = handle.read()
    return {"derive_s": derive, "compile_s": compile_s,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "gradient_error": error,
            "value_error": abs(value - function(*point)), "pieces": text.count("_value_and_grad_piece") // 2,
            "lines": text.count("\n")}


class _SympyMath:
    """`math` for a function run on SymPy symbols."""

    def __getattr__(self, name):
        import sympy

        return getattr(sympy, name)


def measure_sympy(kind, n, directory):
    """SymPy's diff + lambdify(cse=True) of the value and gradient, in this process."""
    import sympy

    function = _program(kind, n, directory)
    function.__globals__["math"] = _SympyMath()
    arguments = 2 if kind == "live" else n
    symbols = sympy.symbols(f"a0:{arguments}", real=True)
    start = time.perf_counter()
    expression = function(*symbols)
    gradient = [sympy.diff(expression, s) for s in symbols]
    compiled = sympy.lambdify(symbols, [expression] + gradient, modules="math", cse=True)
    compiled(*[0.5] * arguments)
    return {"derive_s": time.perf_counter() - start}


def in_fresh_process(which, kind, n, cap):
    """Run `measure_<which>` for one size in a new process (cold caches); a dict, or the reason it failed."""
    with tempfile.TemporaryDirectory() as directory:
        root = os.path.dirname(HERE)  # the symgrad beside this script, as the parent process imports it
        path = os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        environment = dict(os.environ, SYMGRAD_CACHE_DIR=os.path.join(directory, "cache"), SYMGRAD_QUIET="1",
                           PYTHONPATH=path)
        command = [sys.executable, os.path.abspath(__file__), "--one", which, kind, str(n), directory]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=cap, env=environment)
        except subprocess.TimeoutExpired:
            return {"status": "> cap"}
        if done.returncode != 0:
            return {"status": "failed", "reason": done.stderr.strip().splitlines()[-1:]}
        return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows, cap):
    header = (f"{'program':>12} {'derive s':>9} {'compile s':>10} {'peak MB':>8} {'grad err':>9} {'pieces':>6} "
              f"{'| SymPy diff+lambdify s':>23}")
    lines = [header, "-" * len(header)]
    for name, ours, theirs in rows:
        if "status" in ours:
            lines.append(f"{name:>12} {ours['status']:>9}")
            continue
        sympy_text = f"> {cap:.0f}" if theirs.get("status") == "> cap" else (
            theirs.get("status") or f"{theirs['derive_s']:.2f}")
        lines.append(f"{name:>12} {ours['derive_s']:9.2f} {ours['compile_s']:10.2f} {ours['peak_mb']:8.0f} "
                     f"{ours['gradient_error']:9.1e} {ours['pieces']:6d} {sympy_text:>23}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="stop at 1000 statements")
    parser.add_argument("--sizes", help="comma-separated statement counts (overrides --quick)")
    parser.add_argument("--cap", type=float, default=300.0, help="seconds allowed to each measurement")
    parser.add_argument("--sympy-cap", type=float, default=60.0, help="seconds allowed to SymPy")
    parser.add_argument("--no-sympy", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--one", nargs=4, metavar=("WHICH", "KIND", "N", "DIRECTORY"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.one:
        which, kind, n, directory = options.one
        measure = measure_symgrad if which == "symgrad" else measure_sympy
        print(json.dumps(measure(kind, int(n), directory)))
        return
    sizes = ([int(s) for s in options.sizes.split(",")] if options.sizes else
             SIZES["quick" if options.quick else "full"])
    rows, sympy_stopped = [], options.no_sympy
    for kind, n in [("live", n) for n in sizes] + [("wide", WIDE)]:
        name = f"{n} stmts" if kind == "live" else f"{n} args"
        print(f"  {name} ...", file=sys.stderr, flush=True)
        ours = in_fresh_process("symgrad", kind, n, options.cap)
        if sympy_stopped and kind == "live":
            theirs = {"status": "not run"}
        else:
            theirs = in_fresh_process("sympy", kind, n, options.sympy_cap)
            sympy_stopped = sympy_stopped or theirs.get("status") == "> cap"
        rows.append((name, ours, theirs))
    print(table(rows, options.sympy_cap))
    if options.json:
        with open(options.json, "w") as handle:
            json.dump([{"program": name, "symgrad": ours, "sympy": theirs} for name, ours, theirs in rows], handle,
                      indent=1)


if __name__ == "__main__":
    main()
