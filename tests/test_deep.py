"""Deeply nested source: as deep as Python itself parses and runs, or a clear refusal.

The references are the Python functions themselves (values) and derivatives accumulated by hand along the chain
(forward mode in plain Python floats).
"""

import math

import pytest

import symgrad as sg


def nested_calls(levels):
    """Source of `math.sin(1.0 + math.sin(1.0 + ... x))`, `levels` calls deep (Python parses 200 brackets)."""
    return "import math\n\ndef deep(x):\n    return " + "math.sin(1.0 + " * levels + "x" + ")" * levels + "\n"


def helper_chain(levels):
    """Source of `levels` helpers, each calling the one before: h_k(x) = h_{k-1}(x) * 0.5 + math.cos(x)."""
    lines = ["import math", "", "def h0(x):", "    return math.sin(x)"]
    for k in range(1, levels):
        lines += ["", f"def h{k}(x):", f"    return h{k - 1}(x) * 0.5 + math.cos(x)"]
    lines += ["", "def chain(x):", f"    return h{levels - 1}(x)"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [60, 150])
def test_nested_calls_compile_within_the_parsers_limits(make_module, levels):
    deep = make_module(nested_calls(levels)).deep
    x = 0.3
    value, derivative = x, 1.0
    for _ in range(levels):  # d/dx sin(1 + v) = cos(1 + v) dv
        value, derivative = math.sin(1.0 + value), math.cos(1.0 + value) * derivative
    got_value, got_derivative = sg.value_and_grad(deep)(x)
    assert got_value == pytest.approx(deep(x), rel=1e-14) and deep(x) == pytest.approx(value, rel=1e-14)
    assert got_derivative == pytest.approx(derivative, rel=1e-9)
    assert max(len(line) - len(line.lstrip("(")) for line in sg.grad(deep).source().splitlines()) < 100


@pytest.mark.parametrize("levels", [150, 600])
def test_chains_of_nested_helpers(make_module, levels):
    chain = make_module(helper_chain(levels)).chain
    x = 0.7
    value, derivative = math.sin(x), math.cos(x)
    for _ in range(1, levels):
        value, derivative = value * 0.5 + math.cos(x), derivative * 0.5 - math.sin(x)
    got_value, got_derivative = sg.value_and_grad(chain)(x)
    assert got_value == pytest.approx(chain(x), rel=1e-13) and chain(x) == pytest.approx(value, rel=1e-13)
    assert got_derivative == pytest.approx(derivative, rel=1e-12)
