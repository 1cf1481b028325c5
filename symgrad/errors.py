"""The mistakes a user can make, one documented class each (in the spirit of JAX's errors page).

Every refusal of the parser is an `UnsupportedSyntaxError` (a `SyntaxError`, so editors and tracebacks show the
file, line and column); the subclasses say which construct was refused, so code and docs can name it.
"""


class UnsupportedSyntaxError(SyntaxError):
    """Python that symgrad does not lift. The message names the construct and what to write instead."""

    def __init__(self, message, filename=None, lineno=None, offset=None, text=None):
        super().__init__(message, (filename, lineno, offset, text))

    def __str__(self):
        where = f"{self.filename}:{self.lineno}:{self.offset}" if self.filename else "<unknown>"
        return f"{self.msg} ({where})"


class UnsupportedStatementError(UnsupportedSyntaxError):
    """A statement outside the subset: `while`, `try`, `with`, `break`, `global`, a nested `def`, `print(...)`.

    Wrong::

        while err > tol: x = step(x)

    Right: a `for i in range(n)` loop with a fixed trip count, or run the loop outside the differentiated function.
    """


class UnsupportedExpressionError(UnsupportedSyntaxError):
    """An expression outside the subset: a `lambda` not bound to a name, strings, dict/set displays, a list
    comprehension used as a list.

    Wrong::

        squares = [xi**2 for xi in x]

    Right: `np.array([xi**2 for xi in x])`, or reduce it where it is made (`sum(xi**2 for xi in x)`).
    """


class UnsupportedCallError(UnsupportedSyntaxError):
    """A call to something that is neither a supported math/numpy function nor a liftable Python helper.

    Wrong::

        return x * random.random()

    Right: draw the random number outside and pass it in as an argument: `def f(x, r): return x * r`.
    """


class MutableGlobalError(UnsupportedSyntaxError):
    """A read of a module-level list, dict, array or other mutable object, which would be frozen into the kernel.

    Wrong::

        WEIGHTS = [0.5, 2.0]
        def f(x): return WEIGHTS[0] * x

    Right: pass the data as an argument (`def f(x, w0)`), or use named float constants (`W0 = 0.5`).
    """


class RecursionNotSupportedError(UnsupportedSyntaxError):
    """A function that calls itself, directly or through helpers: inlining it would never end.

    Right: write the recursion as a `for` loop with a fixed trip count.
    """


class UndefinedNameError(UnsupportedSyntaxError):
    """A name that is not defined on every path to its use (assigned in only one branch of an `if`).

    Wrong::

        if x > 0: y = x
        return y

    Right: give the variable a value on every path (`y = 0.0` before the `if`, or an `else:` branch).
    """


class MissingReturnError(UnsupportedSyntaxError):
    """A function that can reach its end without `return` (it would return None).

    Right: end every path with `return <expression>`.
    """


class SourceNotFoundError(UnsupportedSyntaxError):
    """The function's source cannot be read (defined at an interactive prompt or by `exec`).

    Right: define the function in a file or a notebook cell; symgrad reads it with `inspect.getsource`.
    """


class NonDifferentiableArgumentError(TypeError):
    """A gradient was asked for with respect to an argument used as an integer (a loop bound or an index),
    or with respect to an argument the function does not have."""


class ArrayIndexError(IndexError, ValueError):
    """A kernel was called with arguments that make an index fall outside its array, where Python raises
    `IndexError`; the message names the array, the index and the source line.

    It is also a `ValueError`, what earlier versions raised for arrays too small for the other arguments.
    """



class StaleSourceError(RuntimeError):
    """The source symgrad reads for a function no longer matches the function object: its file was edited after
    the function was defined (and not reloaded), or its ``__code__`` was replaced after its kernels were made (as
    IPython's autoreload does).  Deriving from that source would give the formula of other code, so symgrad refuses.

    Right: run the definition again (reload the module, re-run the cell), then make the transform again.
    """
