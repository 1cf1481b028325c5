"""The API as a user probes it: vmap of every transform kind (nested gradients included, parallel or not),
transforms that pickle and copy (and run in a process pool's workers), the LaTeX of a Hessian w.r.t. a 2-D
array, a function whose source no longer matches it (`StaleSourceError`), and call-time argument errors (a missing
argument after the first call, a Fraction, a lambda).  Every derivative is compared with an independent
reference: the closed form worked out by hand, or central differences of the plain Python function."""

import concurrent.futures
import copy
import math
import multiprocessing
import pickle
import re
import sys
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from conftest import central_difference, richardson_gradient, write_module

import symgrad as sg
from symgrad import cache
from symgrad.errors import StaleSourceError


def spring(k, c):
    return k * k * c + np.sin(k * c)


def spring_dk(k, c):  # by hand
    return 2.0 * k * c + c * np.cos(k * c)


def spring_dkk(k, c):
    return 2.0 * c - c * c * np.sin(k * c)


def spring_dkc(k, c):
    return 2.0 * k + np.cos(k * c) - k * c * np.sin(k * c)


def spring_dkkk(k, c):
    return -c ** 3 * np.cos(k * c)


def chain(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def cubes(W):
    return np.sum(W ** 3) + W[0, 0] * W[1, 1]


def cubes_gradient(W):  # by hand
    g = 3.0 * W ** 2
    g[0, 0] += W[1, 1]
    g[1, 1] += W[0, 0]
    return g


@sg.grad(wrt="y")
def decorated(x, y):  # (the module holds the transform under the function's name)
    return x * y * y + np.exp(x * y)


def pair(x):
    return np.array([x[0] * x[1], np.sin(x[1])])


K = np.array([1.0, 1.5, -0.3, 2.0])
C = np.array([2.0, 0.5, 1.1, -0.7])


def second_difference(f, args, position, h=1e-4):
    """d2 f / d args[position]^2 by central differences."""
    plus, minus = list(args), list(args)
    plus[position] += h
    minus[position] -= h
    return (f(*plus) - 2.0 * f(*args) + f(*minus)) / (h * h)


# --- vmap of every transform kind ------------------------------------------------------------------------------
@pytest.mark.parametrize("parallel", [False, True])
def test_vmap_of_a_nested_gradient_gives_the_second_derivative(parallel):
    # (it was made again as sg.grad(f) when parallel=True: the first derivative, silently)
    batched = sg.vmap(sg.grad(sg.grad(spring), parallel=parallel))
    result = batched(K, C)
    assert np.allclose(result, spring_dkk(K, C), rtol=1e-12, atol=1e-12)
    assert np.allclose(result, [second_difference(spring, (k, c), 0) for k, c in zip(K, C)], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make, reference", [
    (lambda parallel: sg.grad(spring, parallel=parallel), spring_dk),
    (lambda parallel: sg.grad(sg.grad(spring), parallel=parallel), spring_dkk),
    (lambda parallel: sg.grad(sg.grad(spring, parallel=parallel), wrt=1), spring_dkc),
    (lambda parallel: sg.grad(sg.grad(sg.grad(spring)), parallel=parallel), spring_dkkk),
    (lambda parallel: sg.value_and_grad(sg.grad(spring), parallel=parallel), lambda k, c: (spring_dk(k, c),
                                                                                         spring_dkk(k, c))),
    (lambda parallel: sg.value_and_grad(spring, wrt=(0, 1), parallel=parallel),
     lambda k, c: (spring(k, c), (spring_dk(k, c), central_difference(spring, (k, c), 1)))),
])
@pytest.mark.parametrize("parallel", [False, True])
def test_every_kind_vmap_takes_gives_what_a_python_loop_of_calls_gives(make, reference, parallel):
    transform = make(parallel)
    batched = sg.vmap(transform)(K, C)
    looped = [transform(k, c) for k, c in zip(K, C)]
    expected = [reference(k, c) for k, c in zip(K, C)]
    rows = zip(zip(*_leaves(batched)), map(_leaves, looped), map(_leaves, expected))
    for point, (got, loop, exact) in enumerate(rows):
        assert np.allclose(got, loop, rtol=1e-13, atol=1e-13), point
        assert np.allclose(got, exact, rtol=1e-6, atol=1e-6), point


def _leaves(value):
    """The numbers of a nested tuple, flattened."""
    if isinstance(value, tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@pytest.mark.parametrize("make", [
    lambda: sg.hessian(chain), lambda: sg.hvp(chain), lambda: sg.value_grad_and_hessian(chain),
    lambda: sg.hessian(spring, wrt=(0, 1)), lambda: sg.jacobian(pair), lambda: sg.value_and_jacobian(pair),
    lambda: sg.jvp(pair), lambda: sg.vjp(pair),
])
def test_vmap_refuses_second_order_and_jacobian_transforms_saying_what_to_write(make):
    transform = make()
    with pytest.raises(TypeError, match=r"vmap maps sg\.grad and sg\.value_and_grad .*Python loop"):
        sg.vmap(transform)
    # what the message says to write instead works: a loop over the points
    if "hessian" in repr(transform) and "chain" in repr(transform) and "value" not in repr(transform):
        X = np.array([[0.5, 1.0, -0.5], [1.0, 2.0, 0.0]])
        stacked = np.stack([transform(x) for x in X])
        for x, H in zip(X, stacked):
            by_differences = np.array([richardson_gradient(lambda y: sg.grad(chain)(y)[j], (x,), 0)
                                       for j in range(3)])
            assert np.allclose(H, by_differences, rtol=1e-6, atol=1e-6)


# --- pickling and copying ----------------------------------------------------------------------------------------
TRANSFORMS = {
    "grad": lambda: sg.grad(spring),
    "value_and_grad": lambda: sg.value_and_grad(spring, wrt=(0, 1)),
    "nested": lambda: sg.grad(sg.grad(spring)),
    "hessian": lambda: sg.hessian(chain),
    "hvp": lambda: sg.hvp(chain),
    "jacobian": lambda: sg.jacobian(pair),
    "vmap": lambda: sg.vmap(sg.grad(spring, parallel=True)),
}
X3 = np.array([0.5, -1.0, 2.0])


def _called(name, transform):
    if name == "hvp":
        return transform(X3, np.array([1.0, 0.0, 2.0]))
    if name in ("hessian", "jacobian"):
        return transform(X3[:2] if name == "jacobian" else X3)
    if name == "vmap":
        return transform(K, C)
    return transform(1.3, 0.7)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transforms_pickle_copy_and_deepcopy_and_give_the_same_results(name):
    original = TRANSFORMS[name]()
    before = _called(name, original)
    for again in (pickle.loads(pickle.dumps(original)), copy.copy(original), copy.deepcopy(original)):
        assert type(again).__mro__[1] is type(original).__mro__[1] or name == "vmap"
        assert again is not original
        assert all(np.allclose(a, b, rtol=0, atol=0) for a, b in zip(_leaves(_called(name, again)), _leaves(before)))
    assert all(np.allclose(a, b) for a, b in zip(_leaves(_called(name, original)), _leaves(before)))  # (untouched)
    if name == "grad":
        assert np.isclose(before, central_difference(spring, (1.3, 0.7), 0), rtol=1e-7)


def test_a_transform_pickled_before_its_first_call_keeps_its_options():
    transform = sg.grad(spring, wrt="c", parallel=True, optimize={"cse": False})
    again = pickle.loads(pickle.dumps(transform))
    assert again.wrt == ("c",) and again.parallel and again.passes == transform.passes
    assert np.isclose(again(1.3, 0.7), central_difference(spring, (1.3, 0.7), 1), rtol=1e-7)


def test_a_decorated_function_pickles_by_its_name_and_copies_afresh():
    assert pickle.loads(pickle.dumps(decorated)) is decorated
    for again in (copy.copy(decorated), copy.deepcopy(decorated)):
        assert again is not decorated and again.wrt == ("y",)
        assert np.isclose(again(0.3, 1.2), central_difference(decorated.fun, (0.3, 1.2), 1), rtol=1e-7)


def test_transforms_run_in_a_process_pool(tmp_path):
    gradient, hessian = sg.grad(spring), sg.hessian(chain)
    context = multiprocessing.get_context("spawn")  # (a fresh interpreter: the transform travels by reference)
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        gradients = list(pool.map(gradient, K, C))
        matrix = pool.submit(hessian, X3).result()
        from_decorated = pool.submit(decorated, 0.3, 1.2).result()
    assert np.allclose(gradients, spring_dk(K, C), rtol=1e-12)
    assert np.allclose(matrix, hessian(X3), rtol=1e-13)
    assert np.isclose(from_decorated, central_difference(decorated.fun, (0.3, 1.2), 1), rtol=1e-7)


def test_a_transform_of_a_local_function_does_not_pickle():
    def local(x):
        return x * x

    with pytest.raises((pickle.PicklingError, AttributeError), match="local"):
        pickle.dumps(sg.grad(local))


# --- LaTeX of a Hessian w.r.t. a 2-D array ------------------------------------------------------------------------
def test_latex_of_a_hessian_with_respect_to_a_2d_array():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    hessian = sg.hessian(cubes)
    before = hessian.latex()  # (before a call: the program)
    H = hessian(W)
    assert H.shape == (2, 2, 2, 2)
    by_differences = np.array([richardson_gradient(lambda V: cubes_gradient(V).reshape(-1)[j], (W,), 0)
                               for j in range(4)]).reshape(2, 2, 2, 2)
    assert np.allclose(H, by_differences, rtol=1e-7, atol=1e-7)
    text = hessian.latex()  # (it raised KeyError: (0,))
    assert r"\begin{pmatrix}" in text and "W_{1,1}" in text and "6 W_{0,0}" in text \
        and before.split("\n", 1)[1] in text
    larger = sg.hessian(cubes)
    larger(np.ones((3, 3)))
    assert r"\begin{aligned}" in larger.latex()


# --- stale source ------------------------------------------------------------------------------------------------
def test_a_file_edited_after_its_function_was_defined_is_refused(tmp_path):
    module = write_module("def area(r):\n    return 3.0 * r * r\n", directory=tmp_path)
    assert sg.grad(module.area)(2.0) == 12.0
    path = tmp_path / (module.__name__ + ".py")
    path.write_text("def area(r):\n    return r ** 3 + 1.0\n")  # edited, not reloaded: Python still runs 3 r^2
    with pytest.raises(StaleSourceError, match=r"the source of area\(\) at .*does not match the function object"):
        sg.grad(module.area)(2.0)
    with pytest.raises(StaleSourceError):
        sg.hessian(module.area)(2.0)


def test_a_function_whose_code_was_replaced_is_refused_by_its_transforms():
    module = write_module("""
        def f(x):
            return x * x

        def cube(x):
            return x ** 3
    """)
    gradient, hessian, batched = sg.grad(module.f), sg.hessian(module.f), sg.vmap(sg.value_and_grad(module.f))
    made_before = sg.grad(module.f)  # (never called before the change)
    assert gradient(2.0) == 4.0 and hessian(2.0) == 2.0 and np.allclose(batched(K)[1], 2 * K)
    module.f.__code__ = module.cube.__code__  # as IPython's autoreload does after an edit
    with pytest.raises(StaleSourceError, match=r"f\(\) was changed after the kernels of .* make the transform again"):
        gradient.value(2.0)
    with pytest.raises(StaleSourceError):
        hessian(2.0)
    with pytest.raises(StaleSourceError):
        batched(K)
    # a transform that had derived nothing yet takes the code f has now
    assert np.isclose(made_before.value(2.0), 8.0) and made_before(2.0) == 12.0
    # made again, it differentiates the code f has now (the parser's cache is per code object too)
    assert np.isclose(sg.hessian(module.f)(2.0), second_difference(module.cube, (2.0,), 0), rtol=1e-5)
    assert sg.hessian(module.f)(2.0) == 12.0 and sg.grad(module.f)(2.0) == 12.0


def test_the_source_check_passes_closures_and_decorated_functions():
    module = write_module("""
        import functools
        import numpy as np

        def outer(a):
            def inner(x):
                return a * np.sin(x) + np.cos(a * x)
            return inner

        def traced(function):
            @functools.wraps(function)
            def wrapper(*args):
                return function(*args)
            return wrapper

        @traced
        def wrapped(x):
            return np.exp(x) * x
    """)
    inner = module.outer(2.0)
    assert np.isclose(sg.grad(inner)(0.3), central_difference(inner, (0.3,), 0), rtol=1e-7)
    cache.check_source(module.wrapped, __import__("inspect").getsource(module.wrapped))


def test_a_set_constant_iterating_in_another_order_is_the_same_source():
    """Found by the full suite (scipy's is_jax_namespace, `xp.__name__ in {"jax.numpy", ...}`): a frozenset constant
    unmarshalled from a .pyc iterates in the order of the process that wrote it, which a fresh compile of the
    source need not share, and the source check called the function stale."""
    import itertools
    import string

    words = ("".join(p) for p in itertools.product(string.ascii_lowercase, repeat=3))
    first, second = next((a, b) for a, b in itertools.combinations(itertools.islice(words, 400), 2)
                         if list(frozenset([a, b])) != list(frozenset([b, a])))
    module = write_module(f"""
        def named(name):
            return 1.0 if name in {{{first!r}, {second!r}}} else 0.0
    """)
    code = module.named.__code__
    original = next(c for c in code.co_consts if isinstance(c, frozenset))
    other = next(s for s in (frozenset([first, second]), frozenset([second, first])) if list(s) != list(original))
    # (the same elements iterating in the other order, as a .pyc written by another process gives them)
    module.named.__code__ = code.replace(co_consts=tuple(other if c is original else c for c in code.co_consts))
    cache.check_source(module.named, __import__("inspect").getsource(module.named))


def test_a_nested_def_with_annotations_under_future_annotations_is_the_same_source():
    """Found by probing: the source check compiled without the module's `from __future__ import annotations`, under
    which a nested def's annotations are strings, and called an unedited function stale."""
    module = write_module("""
        from __future__ import annotations
        import numpy as np

        def total(A):
            def square(z: float) -> float:
                return z * z
            return np.sum(square(A))
    """)
    A = np.array([[2.0, 0.3], [0.3, 1.5]])
    np.testing.assert_allclose(sg.grad(module.total)(A), 2 * A, rtol=1e-15)


DERIVE_WITH_SCIPY = """
import sys
{first}
import numpy as np
from scipy.linalg import cho_factor, cho_solve
import symgrad as sg

def nll(A, y):
    c, low = cho_factor(A)
    return 0.5 * y @ cho_solve((c, low), y) + np.sum(np.log(np.diag(c)))

A, y = np.array([[2.0, 0.3], [0.3, 1.5]]), np.array([0.5, -1.0])
print(sg.grad(nll)(A, y).tolist(), "jax" in sys.modules)
"""


@pytest.mark.parametrize("first", ["", "import jax"])
def test_a_scipy_call_derives_without_importing_or_walking_what_scipy_imports_lazily(first, tmp_path):
    """Found by probing: the cache key's walk followed the imports inside SciPy's helpers (its array-API code
    imports JAX where JAX is installed) and then JAX's source, which the source check called stale: every
    function calling scipy.linalg or scipy.special failed.  Installed code's own imports are not followed; the
    gradient is d/dA of 0.5 y'A^-1 y + log det(A)/2 read from the upper triangle, as SciPy reads it."""
    pytest.importorskip("jax", reason="the failure needed JAX installed")
    script = tmp_path / "derive.py"
    script.write_text(DERIVE_WITH_SCIPY.format(first=first))
    run = __import__("subprocess").run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                                       env={**__import__("os").environ, "SYMGRAD_CACHE_DIR": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-2000:]
    gradient, imported = eval(run.stdout.strip().rsplit(" ", 1)[0]), run.stdout.strip().endswith("True")
    A, y = np.array([[2.0, 0.3], [0.3, 1.5]]), np.array([0.5, -1.0])
    inverse = np.linalg.inv(A)
    full = -0.5 * np.outer(inverse @ y, inverse @ y) + 0.5 * inverse  # (d/dA of a symmetric A's function)
    expected = np.triu(full + full.T - np.diag(np.diag(full)))  # (read from the upper triangle alone)
    np.testing.assert_allclose(gradient, expected, rtol=1e-12)
    assert imported == bool(first)


def test_the_source_check_is_done_once_and_costs_microseconds_after():
    # (it runs when a transform computes its cache key, at its first call; later calls test `__code__` identity)
    source = __import__("inspect").getsource(chain)
    started = time.perf_counter()
    cache.check_source(chain, source)
    first = time.perf_counter() - started
    count = 20000
    started = time.perf_counter()
    for _ in range(count):
        cache.check_source(chain, source)
    again = (time.perf_counter() - started) / count
    assert first < 0.05 and again < 2e-5, (first, again)


# --- call-time argument errors -------------------------------------------------------------------------------------
def test_a_first_call_with_an_argument_left_out_or_one_too_many_is_python_s_type_error():
    """Found by probing: the first call derived the kernels with the arguments it had, and `X @ w` with X unknown
    was refused as `@` of a number, where the call had only left out `lam`."""
    def ridge(w, X, y, lam):
        r = X @ w - y
        return r @ r + lam * (w @ w)

    gradient, w, X, y = sg.grad(ridge), np.array([1.0, -2.0]), np.arange(6.0).reshape(3, 2), np.ones(3)
    with pytest.raises(TypeError, match=r"ridge\(\) takes 4 argument\(s\) .*missing a required argument: 'lam'"):
        gradient(w, X, y)
    with pytest.raises(TypeError, match=r"got 5: too many positional arguments"):
        gradient(w, X, y, 0.1, 2.0)
    np.testing.assert_allclose(gradient(w, X, y, 0.1), 2 * X.T @ (X @ w - y) + 0.2 * w, rtol=1e-14)


def test_a_missing_argument_after_the_first_call_is_named():
    gradient = sg.grad(spring)
    assert np.isclose(gradient(1.3, 0.7), spring_dk(1.3, 0.7), rtol=1e-13)
    with pytest.raises(TypeError, match=r"^spring\(\) missing 1 required positional argument: 'c'$"):
        gradient(1.0)
    with pytest.raises(TypeError, match=r"^spring\(\) missing 2 required positional arguments: 'k' and 'c'$"):
        gradient()
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'k'$"):
        gradient(c=1.0)
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'c'$"):
        gradient.value(1.0) if gradient.value(1.0, 2.0) else None
    assert np.isclose(gradient(c=0.7, k=1.3), spring_dk(1.3, 0.7), rtol=1e-13)  # (keywords still fold)
    nested = sg.grad(sg.grad(spring))  # (its kernels are the derived program's, spring_dot: the message says spring)
    assert np.isclose(nested(1.3, 0.7), spring_dkk(1.3, 0.7), rtol=1e-13)
    with pytest.raises(TypeError, match=r"^spring\(\) missing 1 required positional argument: 'c'$"):
        nested(1.3)
    with pytest.raises(TypeError, match=r"^spring\(\): argument 'k' must be a float, got Fraction"):
        nested(Fraction(1, 3), 0.7)


@pytest.mark.parametrize("value, message", [
    (Fraction(1, 2), r"argument 'k' must be a float, got Fraction 1/2: pass float\(\.\.\.\) of it"),
    (np.array(0.5), r"argument 'k' must be a real number \(float\), got a 0-d array: pass float"),
    (__import__("decimal").Decimal("0.5"), r"argument 'k' must be a real number \(float\), got Decimal.*pass a float"),
])
def test_numbers_the_kernels_do_not_take_are_refused_saying_to_pass_a_float(value, message):
    gradient = sg.grad(spring)
    for _ in range(2):  # the first call and a later one
        with pytest.raises(TypeError, match=message):
            gradient(value, 0.7)
        assert np.isclose(gradient(float(value), 0.7), spring_dk(0.5, 0.7), rtol=1e-13)


@pytest.mark.parametrize("value", [True, np.False_])
def test_a_bool_is_refused_as_a_bool_not_called_a_complex_number(value):
    gradient = sg.grad(spring)
    for _ in range(2):  # the first call and a later one
        with pytest.raises(TypeError, match=rf"argument 'k' must be a real number \(float\), got the bool {value!r}: "
                                            rf"pass {float(value)!r} if that is meant"):
            gradient(value, 0.7)
    assert np.isclose(gradient(float(value), 0.7), spring_dk(float(value), 0.7), rtol=1e-13)


def sines(x):
    return np.sum(np.sin(x))


@pytest.mark.parametrize("value", [[1.0, 2.0], (1.0, 2.0)])
def test_a_list_for_an_argument_read_as_a_number_or_an_array_is_told_to_pass_an_array(value):
    """Found by probing: the advice was "pass a float" for a list meant as an array."""
    with pytest.raises(TypeError, match=rf"argument 'x' must be a real number \(float\) or a float64 array, got a "
                                        rf"{type(value).__name__}: pass np.array\(\.\.\.\) of it for an array"):
        sg.value_and_grad(sines)(value)
    value_, gradient = sg.value_and_grad(sines)(np.array(value))
    np.testing.assert_allclose(gradient, np.cos(np.array(value)), rtol=1e-15)


def test_numbers_the_kernels_take_are_converted():
    gradient = sg.grad(spring)
    expected = spring_dk(2.0, 3.0)
    for k, c in [(2, 3), (np.float32(2.0), np.int64(3)), (np.float64(2.0), 3.0)]:
        assert np.isclose(gradient(k, c), expected, rtol=1e-13)


def test_the_advice_for_a_lambda_is_a_def_that_works_when_written(tmp_path):
    module = write_module("""
        import numpy as np
        import symgrad as sg

        sq = lambda x: x ** 2 + np.sin(x)
        g = sg.grad(lambda x, y: x * y)
    """, directory=tmp_path)
    with pytest.raises(sg.UnsupportedSyntaxError, match="write a named function") as raised:
        sg.grad(module.sq)(1.0)
    advice = re.search(r"write a named function, `([^`]*)`", raised.value.msg).group(1)
    assert advice == "def sq(x): return x ** 2 + np.sin(x)"
    with pytest.raises(sg.UnsupportedSyntaxError, match=r"`def f\(x, y\): return x \* y`"):
        module.g(1.0, 2.0)
    written = write_module("import numpy as np\n\n" + advice + "\n", directory=tmp_path)
    assert np.isclose(sg.grad(written.sq)(1.0), central_difference(module.sq, (1.0,), 0), rtol=1e-7)


# --- other probes ----------------------------------------------------------------------------------------------------
def test_first_calls_from_threads_with_keywords_agree():
    gradient = sg.grad(spring, wrt="c")
    results, errors = [None] * 8, []

    def call(i):
        try:
            results[i] = gradient(c=C[i % 4], k=K[i % 4]) if i % 2 else gradient(K[i % 4], C[i % 4])
        except Exception as error:  # pragma: no cover (reported below)
            errors.append(error)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i, result in enumerate(results):
        assert np.isclose(result, central_difference(spring, (K[i % 4], C[i % 4]), 1), rtol=1e-7)


def test_hessian_of_read_only_and_non_contiguous_arrays():
    x = np.array([0.5, -1.0, 2.0, 0.3, 1.1, 0.0])
    read_only = x.copy()
    read_only.flags.writeable = False
    H = sg.hessian(chain)(read_only)
    by_differences = np.array([richardson_gradient(lambda y: sg.grad(chain)(y)[j], (x,), 0) for j in range(6)])
    assert np.allclose(H, by_differences, rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError, match="C-contiguous"):
        sg.hessian(chain)(np.repeat(x, 2)[::2])


def test_the_hand_worked_derivatives_of_this_module():
    assert math.isclose(spring_dkc(1.0, 2.0), central_difference(lambda c: spring_dk(1.0, c), (2.0,), 0), rel_tol=1e-7)
