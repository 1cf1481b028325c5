"""The first call of a transform from 8 threads at once: derivation and compilation happen once, every thread gets
the same dispatcher and the right gradient, on a cold cache, on a warm cache (a new process) and with
``parallel=True``."""

import json
import math
import os
import pathlib
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from conftest import write_module

import symgrad as sg

THREADS = 8

SOURCE = """
import math


def scalar(x, y):
    return math.sin(x) * y * y + math.exp(x * {c})


def loss(w, x):
    s = 0.0
    for i in range(len(w)):
        s += (w[i] * x[i] - {c}) ** 2
    return s
"""


def _first_calls(transform, args):
    """Call `transform` from THREADS threads released together; (results, kernel ids, errors)."""
    barrier = threading.Barrier(THREADS)
    results, kernels, errors = [None] * THREADS, [None] * THREADS, []

    def work(k):
        try:
            barrier.wait()
            results[k] = transform(*args)
            kernels[k] = id(transform.kernels.grad)
        except Exception as error:  # noqa: BLE001 (collected and reported by the test)
            errors.append(repr(error))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, kernels, errors


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_first_call_from_threads_on_a_cold_cache(private_cache):
    module = write_module(SOURCE.format(c=0.25))
    g = sg.grad(module.scalar, wrt=("x", "y"))
    results, kernels, errors = _first_calls(g, (0.3, 1.7))
    assert errors == []
    expected = (math.cos(0.3) * 1.7 ** 2 + 0.25 * math.exp(0.3 * 0.25), 2.0 * math.sin(0.3) * 1.7)
    for result in results:
        assert result == pytest.approx(expected, rel=1e-13)
    assert len(set(kernels)) == 1, "threads got different dispatchers"
    assert len(list(private_cache.glob("symgrad_*.py"))) == 1


def test_first_call_from_threads_with_parallel_loops(private_cache):
    module = write_module(SOURCE.format(c=0.5))
    g = sg.grad(module.loss, wrt="w", parallel=True)
    w, x = np.linspace(-1.0, 1.0, 5000), np.linspace(0.5, 2.0, 5000)
    results, kernels, errors = _first_calls(g, (w, x))
    assert errors == []
    for result in results:
        np.testing.assert_allclose(result, 2.0 * (w * x - 0.5) * x, rtol=1e-13, atol=1e-13)
    assert len(set(kernels)) == 1


CHILD = """
import json
import sys
import threading

sys.path.insert(0, {module_dir!r})
sys.path.insert(0, {tests_dir!r})
import symgrad as sg
import {module_name} as module
from test_threads import _first_calls

g = sg.grad(module.scalar, wrt=("x", "y"))
results, kernels, errors = _first_calls(g, (0.3, 1.7))
print(json.dumps({{"results": [list(r) if r else None for r in results], "kernels": len(set(kernels)),
                  "errors": errors, "hits": sum(g.kernels.grad.stats.cache_hits.values())}}))
"""


def test_first_call_from_threads_on_a_warm_cache(private_cache, tmp_path):
    module_dir = tmp_path / "functions"
    module_dir.mkdir()
    module_name = f"symgrad_threads_{os.getpid()}"
    module = write_module(SOURCE.format(c=0.75), name=module_name, directory=module_dir)
    sg.grad(module.scalar, wrt=("x", "y"))(0.1, 0.2)  # fills the cache

    child = tmp_path / "child.py"
    tests_dir = pathlib.Path(__file__).resolve().parent
    child.write_text(textwrap.dedent(CHILD.format(module_dir=str(module_dir), module_name=module_name,
                                                  tests_dir=str(tests_dir))))
    environment = dict(os.environ, SYMGRAD_CACHE_DIR=str(private_cache))
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tests_dir.parent), environment.get("PYTHONPATH")]))
    completed = subprocess.run([sys.executable, str(child)], capture_output=True, text=True, env=environment,
                               check=False, timeout=240)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    expected = (math.cos(0.3) * 1.7 ** 2 + 0.75 * math.exp(0.3 * 0.75), 2.0 * math.sin(0.3) * 1.7)
    for result in report["results"]:
        assert result == pytest.approx(expected, rel=1e-13)
    assert report["kernels"] == 1 and report["hits"] >= 1
