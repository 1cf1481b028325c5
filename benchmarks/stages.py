"""Where a symgrad call's time goes: an import hook that times symgrad's stages and the imports of SymPy and Numba.

Install `StageHook` first on `sys.meta_path`, before symgrad is imported: it wraps the stage functions (frontend,
reverse, codegen, display, each kernel's compile, the cache) as their modules load, without importing any of them
early.  `TIMES` then holds each stage's inclusive seconds; `benchmarks/first_call.py` and the field benchmark's
fresh-process children report them.
"""

import importlib.abc
import importlib.machinery
import time

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


def record(label, seconds):
    TIMES[label] = TIMES.get(label, 0.0) + seconds


def timed(label, function, label_by_argument=None):
    def wrapper(*args, **keywords):
        start = time.perf_counter()
        try:
            return function(*args, **keywords)
        finally:
            name = label if label_by_argument is None or len(args) <= label_by_argument else \
                f"{label}({args[label_by_argument]})"
            record(name, time.perf_counter() - start)

    return wrapper


class StageHook(importlib.abc.MetaPathFinder):
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
                record(f"import {name}", time.perf_counter() - start)
            for attribute in STAGES.get(name, ()):
                if hasattr(module, attribute):
                    by_name = 1 if attribute == "compile_kernel" else None  # compile_kernel(module, name)
                    setattr(module, attribute, timed(f"{name[len('symgrad.'):]}.{attribute}",
                                                      getattr(module, attribute), by_name))

        spec.loader.exec_module = exec_module
        return spec
