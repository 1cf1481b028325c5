"""Big programs: derivation stays linear in the number of statements, and big kernels compile in pieces.

Time is not asserted (the machines are shared); the derivation's count of Python function calls is, as a proxy
for its work that does not depend on the load: doubling the program must not much more than double it.
"""

import cProfile
import os
import pstats
import subprocess
import sys
import textwrap

import pytest
from conftest import richardson_gradient, write_module

import symgrad as sg
from symgrad import codegen, frontend, reverse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import straight_programs  # noqa: E402


def _calls_to_derive(n, monkeypatch):
    """Python function calls made by parse + reverse mode + codegen + printing of an n-statement program."""
    module = write_module(straight_programs.live_source(n, name="live"))
    profile = cProfile.Profile()
    profile.enable()
    program = frontend.lift(module.live)
    derivative = reverse.reverse(program, ("x", "y"))
    codegen.kernels_source(codegen.build_kernels(derivative, True))
    profile.disable()
    return pstats.Stats(profile).total_calls


def test_derivation_is_linear_in_the_number_of_statements(monkeypatch):
    monkeypatch.setattr(codegen, "LINEAR_CSE_BOUND", 40)  # the large-program path, on programs small enough
    small, large = _calls_to_derive(150, monkeypatch), _calls_to_derive(300, monkeypatch)
    assert large / small < 2.4, f"doubling the program multiplied the derivation's work by {large / small:.2f}"


def test_linear_cse_shares_exact_repeats():
    import sympy as sp

    x, y = sp.symbols("x y", real=True)
    temporaries = codegen._temporaries({"x", "y"})
    repeated = sp.sin(x * y)
    replacements, reduced = codegen.linear_cse([repeated + 1, 2 * repeated, sp.exp(x * y)], temporaries)
    names = dict(replacements)
    assert len(replacements) == 2  # x*y, and sin(x*y) over it
    inlined = [r.xreplace(names).xreplace(names) for r in reduced]
    assert inlined == [repeated + 1, 2 * repeated, sp.exp(x * y)]


def _value_and_grad(source, name):
    module = write_module(source)
    function = getattr(module, name)
    transform = sg.value_and_grad(function, wrt=(0, 1))
    return function, transform


def test_big_kernels_compile_in_pieces_and_agree(monkeypatch):
    monkeypatch.setattr(codegen, "PIECES_BOUND", 120)  # pieces on a program that compiles in seconds
    monkeypatch.setattr(codegen, "PIECE_SIZE", 60)
    function, transform = _value_and_grad(straight_programs.live_source(80, name="piecewise_live"),
                                          "piecewise_live")
    module = transform._load()
    text = open(module.__file__).read()
    assert "def _value_and_grad_piece0(" in text
    kernels = codegen.build_kernels(transform._derived().derivative, True)
    assert kernels["value_and_grad"].pieces() and not kernels["value"].pieces()
    for point in [(0.3, 0.7), (-1.1, 0.4)]:
        value, gradient = transform(*point)
        assert value == function(*point)
        for k in range(2):
            assert gradient[k] == pytest.approx(richardson_gradient(function, point, k), rel=1e-7, abs=1e-9)
    monkeypatch.setattr(codegen, "PIECES_BOUND", 10**9)
    whole = codegen.kernels_source(codegen.build_kernels(transform._derived().derivative, True))[0]
    assert "_piece" not in whole


def test_small_kernels_are_not_cut():
    _, transform = _value_and_grad("import math\n\n\ndef small(x, y):\n    return math.sin(x * y) + x**2\n", "small")
    text = open(transform._load().__file__).read()
    assert "_piece" not in text


PIECES_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {benchmarks!r})
    import straight_programs
    import symgrad as sg
    from symgrad import codegen
    codegen.PIECES_BOUND, codegen.PIECE_SIZE = 120, 60
    module = straight_programs.write_module({directory!r}, "pieces_in_cache", straight_programs.live_source(80))
    transform = sg.value_and_grad(module.live80, wrt=(0, 1))
    value, gradient = transform(0.3, 0.7)
    dispatcher = transform.kernels.value_and_grad
    print(repr((value, tuple(gradient))), sum(dispatcher.stats.cache_hits.values()))
""")


def test_pieces_are_cached_across_processes(tmp_path):
    benchmarks = os.path.dirname(straight_programs.__file__)
    script = PIECES_SCRIPT.format(benchmarks=benchmarks, directory=str(tmp_path))
    environment = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path / "cache"), SYMGRAD_QUIET="1")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                           check=True).stdout.split() for _ in range(2)]
    first, second = runs
    assert first[:-1] == second[:-1]  # the same numbers
    assert first[-1] == "0" and second[-1] != "0"  # compiled, then loaded from Numba's cache
