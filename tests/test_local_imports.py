"""`import` statements inside the differentiated function: bound for the whole body as module-level imports are,
with numbers and arrays read through them checked (and passed) at each call as globals are.  Gradients against
hand-derived formulas; a changed value against what Python computes after the change."""

import re

import numpy as np
import pytest
from conftest import write_module

import symgrad as sg

CONFIG = write_module("import numpy as np\n\nSCALE = 2.0\nWEIGHTS = np.array([1.0, 2.0, 3.0])\n")

FUNCTIONS = write_module(f"""
import numpy as np

def logistic(x, w):
    import numpy as np
    import math as m
    import scipy.special
    from scipy.special import expit
    return np.sum(expit(x * w)) + m.pi * np.sum(x ** 2) + np.sum(scipy.special.log_expit(w))


def configured(x):
    import numpy
    from {CONFIG.__name__} import SCALE
    import {CONFIG.__name__} as cfg
    return SCALE * numpy.sum(cfg.WEIGHTS * x ** 2)


def weighted(x):
    from {CONFIG.__name__} import WEIGHTS as shift
    return np.sum((x - shift) ** 2)


def missing(x):
    import symgrad_no_such_module
    return x * x


def relative(x):
    from . import helpers
    return x * x
""")


def test_names_imported_inside_the_function_resolve_as_module_level_ones():
    x, w = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.3, -0.7])
    value, (x_bar, w_bar) = sg.value_and_grad(FUNCTIONS.logistic, wrt=(0, 1))(x, w)
    s = 1 / (1 + np.exp(-x * w))
    assert value == pytest.approx(FUNCTIONS.logistic(x, w), rel=1e-14)
    np.testing.assert_allclose(x_bar, s * (1 - s) * w + 2 * np.pi * x, rtol=1e-13)
    np.testing.assert_allclose(w_bar, s * (1 - s) * x + 1 - 1 / (1 + np.exp(-w)), rtol=1e-13)


def test_a_number_and_an_array_imported_inside_are_read_again_at_each_call():
    gradient, x = sg.grad(FUNCTIONS.configured), np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(gradient(x), 2 * 2.0 * CONFIG.WEIGHTS * x, rtol=1e-15)
    try:
        CONFIG.SCALE = 3.0
        CONFIG.WEIGHTS[1] = -4.0
        np.testing.assert_allclose(gradient(x), 2 * 3.0 * np.array([1.0, -4.0, 3.0]) * x, rtol=1e-15)
    finally:
        CONFIG.SCALE, CONFIG.WEIGHTS[1] = 2.0, 2.0


@pytest.mark.parametrize("name, words", [("missing", "No module named 'symgrad_no_such_module'"),
                                         ("relative", "a relative or `*` import inside the function")])
def test_an_import_that_cannot_be_bound_is_refused_at_its_line(name, words):
    with pytest.raises(sg.UnsupportedSyntaxError, match=re.escape(words)) as info:
        sg.grad(getattr(FUNCTIONS, name))(1.5)
    assert info.value.filename == FUNCTIONS.__file__ and info.value.lineno > 1


def test_an_array_imported_by_name_inside_is_passed_at_each_call():
    """`from cfg import WEIGHTS` inside: the kernels took a parameter named after the whole path, not a name
    (a SyntaxError in the generated module, found by probing)."""
    gradient, x = sg.grad(FUNCTIONS.weighted), np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(gradient(x), 2 * (x - CONFIG.WEIGHTS), rtol=1e-15)
    try:
        CONFIG.WEIGHTS[0] = 5.0
        np.testing.assert_allclose(gradient(x), 2 * (x - np.array([5.0, 2.0, 3.0])), rtol=1e-15)
    finally:
        CONFIG.WEIGHTS[0] = 1.0
