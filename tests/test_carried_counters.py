"""A counter carried by a loop (`k = 0` before it, `k += 1` inside) used as an index, as in filling a triangular
factor from a flat vector of parameters: the kernels carry it as a float holding a whole number and index with it
(`AsIndex`), checked where it is used.  Gradients against Richardson central differences; reads past the end and
a counter that stops being whole against Python's errors."""

import numpy as np
import pytest
from conftest import richardson_gradient, write_module

import symgrad as sg

STEPPED = """

def {name}(x):
    s = 0.0
    k = 0
    for i in range(len(x)):
        s += x[k] ** 2
        k += {step}
    return s
"""

SOURCE = write_module('''
import numpy as np


def triangular(theta, n):
    L = np.zeros((n, n))
    k = 0
    for i in range(n):
        for j in range(i + 1):
            L[i, j] = theta[k]
            k += 1
    return np.sum((L @ L.T) ** 2) + np.sum(np.log(np.diag(L) ** 2))


def strided(x):
    s = 0.0
    k = 0
    for i in range(len(x)):
        s += x[k] ** 2 * (i + 1.0)
        k = (k + 3) % len(x)
    return s


def counted_first(x):
    s = 0.0
    k = len(x)
    for i in range(len(x)):
        k = k - 1
        s += x[k] * x[i] + np.sin(x[k - 1])
    return s


''' + STEPPED.format(name="past_the_end", step="2") + STEPPED.format(name="halves", step="0.5"))

CASES = [("triangular", (np.array([1.5, 0.3, -0.8, 0.2, 0.9, 1.1]), 3)), ("strided", (np.linspace(-1.0, 2.0, 7),)),
         ("counted_first", (np.linspace(-1.0, 2.0, 5),))]


@pytest.mark.parametrize("name, args", CASES, ids=[c[0] for c in CASES])
def test_a_counter_indexes_as_python_does(name, args):
    function = getattr(SOURCE, name)
    value, gradient = sg.value_and_grad(function, wrt=0)(*args)
    assert value == pytest.approx(function(*args), rel=1e-14)
    np.testing.assert_allclose(gradient, richardson_gradient(function, args, 0, step=1e-4), rtol=1e-8, atol=1e-10)


def test_a_counter_past_the_end_raises_where_python_does():
    with pytest.raises(IndexError, match=r"indexes argument 'x' with k along axis 0"):
        sg.grad(SOURCE.past_the_end)(np.arange(5.0))
    with pytest.raises(IndexError):
        SOURCE.past_the_end(np.arange(5.0))


def test_a_counter_that_is_not_kept_whole_is_refused():
    with pytest.raises(sg.UnsupportedSyntaxError, match=r"'k' indexes an array inside this loop, but the loop does "
                                                        r"not keep it a whole number: step it by integers"):
        sg.grad(SOURCE.halves)(np.arange(5.0))
