"""Where a new user's first call goes: the README's `rosen`, each step in a fresh process.

    python benchmarks/first_call.py            # cold (empty cache), warm (the cache the cold run left), bare @njit

Each run is a fresh interpreter.  It times `import symgrad`, then the README's calls in order (`rosen(1.5, 2.0)`,
`rosen.value_and_grad(1.5, 2.0)`, `rosen.latex()`), and, inside them, every stage symgrad runs: an import hook wraps
the stage functions (frontend, reverse, codegen, display, each kernel's compile, the cache) as their modules load,
without importing any of them early, and also times the import of SymPy and Numba where it happens.  Times are
inclusive (a stage that calls another includes it).  Beside them: a bare `@numba.njit(cache=True)` function's first
call in a fresh process, with its on-disk cache already written, which is the floor a warm first call can reach.
"""

import importlib.abc
import importlib.machinery
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

README_ROSEN = '''
import symgrad as sg

@sg.grad(wrt=("x", "y"))
def rosen(x, y):
    return (1 - x)**2 + 100 * (y - x**2)**2
'''

BARE_NJIT = '''
import numba

@numba.njit(cache=True)
def rosen_grad(x, y):
    return 2 * (x - 1) - 400 * x * (y - x * x), 200 * (y - x * x)
'''

# module -> the functions whose time is reported (absent ones are skipped: the stages may move)
STAGES = {
    "symgrad.frontend": ("lift",),
    "symgrad.reverse": ("reverse",),
    "symgrad.forward": ("forward",),
    "symgrad.codegen": ("build_kernels", "kernels_source"),
    "symgrad.display": ("render", "pretty"),
    "symgrad.jit": ("compile_kernel",),
    "symgrad.cache": ("load", "store"),
}
TIMED_IMPORTS = ("sympy", "numba")
DERIVATION = ("frontend", "reverse", "forward", "codegen")  # the stages summed into the derivation's time
TIMES = {}


def _record(label, seconds):
    TIMES[label] = TIMES.get(label, 0.0) + seconds


def _timed(label, function, label_by_argument=None):
    def wrapper(*args, **keywords):
        start = time.perf_counter()
        try:
            return function(*args, **keywords)
        finally:
            name = label if label_by_argument is None or len(args) <= label_by_argument else \
                f"{label}({args[label_by_argument]})"
            _record(name, time.perf_counter() - start)

    return wrapper


class _StageHook(importlib.abc.MetaPathFinder):
    """Wraps the stage functions of STAGES as each module finishes loading, and times TIMED_IMPORTS."""

    def find_spec(self, name, path, target=None):
        if name not in STAGES and name not in TIMED_IMPORTS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            start = time.perf_counter()
            execute(module)
            if name in TIMED_IMPORTS:
                _record(f"import {name}", time.perf_counter() - start)
            for attribute in STAGES.get(name, ()):
                if hasattr(module, attribute):
                    by_name = 1 if attribute == "compile_kernel" else None  # compile_kernel(module, name)
                    setattr(module, attribute, _timed(f"{name[len('symgrad.'):]}.{attribute}",
                                                      getattr(module, attribute), by_name))

        spec.loader.exec_module = exec_module
        return spec


def child(directory):
    """One fresh process: the README's calls, timed -> JSON on stdout."""
    sys.meta_path.insert(0, _StageHook())
    sys.path.insert(0, directory)
    start = time.perf_counter()
    import symgrad  # noqa: F401

    _record("import symgrad", time.perf_counter() - start)
    import readme_rosen

    for label, call in [("rosen(1.5, 2.0)", lambda: readme_rosen.rosen(1.5, 2.0)),
                        ("rosen.value_and_grad(1.5, 2.0)", lambda: readme_rosen.rosen.value_and_grad(1.5, 2.0)),
                        ("rosen.latex()", lambda: readme_rosen.rosen.latex())]:
        start = time.perf_counter()
        call()
        _record(f"call {label}", time.perf_counter() - start)
    print(json.dumps(TIMES))


def bare_child(directory):
    """One fresh process: import Numba and call a cached @njit function once -> JSON on stdout."""
    sys.path.insert(0, directory)
    start = time.perf_counter()
    import numba  # noqa: F401

    imported = time.perf_counter()
    import bare_njit

    bare_njit.rosen_grad(1.5, 2.0)
    print(json.dumps({"import numba": imported - start, "import + first call": time.perf_counter() - start}))


def _fresh(mode, directory, cache):
    environment = dict(os.environ, SYMGRAD_CACHE_DIR=cache, SYMGRAD_QUIET="1")
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, __file__, mode, directory], capture_output=True, text=True,
                               env=environment, timeout=300, check=True)
    return time.perf_counter() - start, json.loads(completed.stdout.strip().splitlines()[-1])


def main():
    with tempfile.TemporaryDirectory(prefix="symgrad_first_call_") as directory:
        (pathlib.Path(directory) / "readme_rosen.py").write_text(textwrap.dedent(README_ROSEN))
        (pathlib.Path(directory) / "bare_njit.py").write_text(textwrap.dedent(BARE_NJIT))
        cache = str(pathlib.Path(directory) / "cache")
        runs = {"cold": _fresh("child", directory, cache), "warm": _fresh("child", directory, cache)}
        _fresh("bare-child", directory, cache)  # writes the @njit function's cache
        bare_wall, bare = _fresh("bare-child", directory, cache)
    for _, times in runs.values():
        derivation = [seconds for label, seconds in times.items() if label.split(".")[0] in DERIVATION]
        if derivation:
            times["derivation: frontend + reverse + codegen"] = sum(derivation)
    labels = list(dict.fromkeys(label for _, times in runs.values() for label in times))
    print("first call of the README's rosen, each in a fresh process (seconds; stages are inclusive)")
    print(f"{'':<44}{'cold':>9}{'warm':>9}")
    for label in labels:
        cells = [f"{runs[kind][1][label]:9.3f}" if label in runs[kind][1] else f"{'-':>9}" for kind in runs]
        print(f"  {label:<42}{''.join(cells)}")
    print(f"  {'whole process (interpreter start included)':<42}{runs['cold'][0]:9.3f}{runs['warm'][0]:9.3f}")
    print("a bare cached @numba.njit function in a fresh process (its cache written by an earlier process):")
    print(f"  import numba {bare['import numba']:.3f}, import + first call {bare['import + first call']:.3f}, "
          f"whole process {bare_wall:.3f}")


CHILDREN = {"child": child, "bare-child": bare_child}

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in CHILDREN:  # one of the fresh processes main() starts
        CHILDREN[sys.argv[1]](sys.argv[2])
    else:
        main()
