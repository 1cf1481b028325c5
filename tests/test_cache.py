"""The derivation cache: a second process takes the cached path, and a changed constant gives a new derivation.

Each test uses a cache directory of its own (so it can count the files in it) and a function module of its own,
written to a real file so that the second process imports exactly the same source under the same module name.
"""

import json
import math
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import central_difference, write_module

import symgrad as sg

FUNCTION_SOURCE = """
import math

import numpy as np

A = 2.0


def helper(t):
    return t * np.tanh(t)


def target(x, y):
    s = A * math.sin(x) * y + helper(y)
    return s * s + math.log(1.0 + x * x)
"""

CHILD = """
import json
import sys

sys.path.insert(0, {module_dir!r})

import symgrad as sg
import symgrad.api

def refuse(*args, **kwargs):
    raise AssertionError("the second process derived the function again instead of loading the cache")

symgrad.api._derive = refuse

import {module_name} as module

g = sg.grad(module.target, wrt=("x", "y"))
gradient = g(0.7, -0.4)
vg = sg.value_and_grad(module.target, wrt=("x", "y"))
value, gradient_again = vg(0.7, -0.4)
print(json.dumps({{
    "gradient": list(gradient),
    "value": value,
    "gradient_again": list(gradient_again),
    "sympy_imported": "sympy" in sys.modules,
    "symgrad_modules": sorted(m for m in sys.modules if m.startswith("symgrad.")),
    "numba_cache_hits": sum(g.kernels.grad.stats.cache_hits.values()),
    "numba_cache_misses": sum(g.kernels.grad.stats.cache_misses.values()),
}}))
"""


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cache directory of the test's own, with no kernel module of an earlier test loaded (identical functions
    share a module, found in sys.modules before the directory is looked at)."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(directory))
    for name in [n for n in sys.modules if re.fullmatch(r"symgrad_[0-9a-f]{24}", n)]:
        monkeypatch.delitem(sys.modules, name)
    return directory


def _generated_files(directory):
    """name -> (mtime_ns, bytes) of every generated kernel module in the cache."""
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in pathlib.Path(directory).glob("symgrad_*.py")}


def _child_environment(cache_directory):
    environment = dict(os.environ)
    environment["SYMGRAD_CACHE_DIR"] = str(cache_directory)
    # the child must import the very symgrad this process tests
    package_root = str(pathlib.Path(sg.__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    return environment


def test_second_process_takes_the_cached_path(private_cache, tmp_path):
    module_dir = tmp_path / "functions"
    module_dir.mkdir()
    module_name = f"symgrad_cache_target_{os.getpid()}"
    module = write_module(FUNCTION_SOURCE, name=module_name, directory=module_dir)

    g = sg.grad(module.target, wrt=("x", "y"))
    gradient = g(0.7, -0.4)
    for position, d in enumerate(gradient):
        fd = central_difference(module.target, (0.7, -0.4), position)
        assert abs(d - fd) <= 1e-6 * max(1.0, abs(fd))
    files_before = _generated_files(private_cache)
    assert len(files_before) == 1

    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD.format(module_dir=str(module_dir), module_name=module_name)))
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, check=False,
                               env=_child_environment(private_cache), timeout=240)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["sympy_imported"] is False, "the cached path imported SymPy"
    for stage in ("symgrad.frontend", "symgrad.reverse", "symgrad.codegen", "symgrad.display", "symgrad.rules"):
        assert stage not in report["symgrad_modules"]
    assert report["gradient"] == list(gradient)
    assert report["gradient_again"] == list(gradient)
    assert report["value"] == pytest.approx(module.target(0.7, -0.4), rel=1e-13)
    assert report["numba_cache_hits"] >= 1 and report["numba_cache_misses"] == 0, \
        "Numba compiled the kernel again instead of loading its cache"
    assert _generated_files(private_cache) == files_before, "the second process wrote or rewrote a module file"


def test_changing_a_global_constant_gives_a_new_derivation(private_cache):
    module = write_module(FUNCTION_SOURCE)
    point = (0.7, -0.4)

    first = sg.grad(module.target, wrt=("x", "y"))
    gradient_a2 = first(*point)
    files_a2 = _generated_files(private_cache)
    assert len(files_a2) == 1

    module.A = 3.0
    second = sg.grad(module.target, wrt=("x", "y"))
    gradient_a3 = second(*point)
    for position, d in enumerate(gradient_a3):
        fd = central_difference(module.target, point, position)
        assert abs(d - fd) <= 1e-6 * max(1.0, abs(fd)), "the new derivation does not use A = 3.0"
    assert gradient_a3 != gradient_a2
    files_a3 = _generated_files(private_cache)
    assert len(files_a3) == 2, "a changed constant must give a module of its own"
    for name, stamp in files_a2.items():
        assert files_a3[name] == stamp, f"{name} was rewritten"

    module.A = 2.0  # back to the first constant: the first module is found again, nothing is written
    third = sg.grad(module.target, wrt=("x", "y"))
    assert third(*point) == gradient_a2
    assert _generated_files(private_cache) == files_a3


def test_changing_a_closure_constant_gives_a_new_derivation(private_cache, make_module):
    module = make_module("""
        import math

        def make(c):
            def scaled(x):
                return c * math.exp(x)
            return scaled
    """)
    two, five = module.make(2.0), module.make(5.0)
    assert sg.grad(two)(0.3) == pytest.approx(2.0 * math.exp(0.3), rel=1e-14)
    assert sg.grad(five)(0.3) == pytest.approx(5.0 * math.exp(0.3), rel=1e-14)
    assert len(_generated_files(private_cache)) == 2


def test_same_function_twice_in_one_process_reuses_the_module(private_cache):
    module = write_module(FUNCTION_SOURCE)
    first = sg.value_and_grad(module.target, wrt=(0, 1))
    result = first(0.1, 0.2)
    files = _generated_files(private_cache)
    second = sg.value_and_grad(module.target, wrt=("x", "y"))  # the same positions, spelled by name
    assert second(0.1, 0.2) == result
    assert second.source() == first.source()
    assert _generated_files(private_cache) == files
