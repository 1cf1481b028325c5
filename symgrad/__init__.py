"""symgrad: exact symbolic gradients of plain Python functions, compiled with Numba.

    import symgrad as sg

    @sg.grad(wrt=("x", "y"))
    def rosen(x, y):
        return (1 - x)**2 + 100 * (y - x**2)**2

    rosen(1.5, 2.0)        # (d/dx, d/dy) from a Numba kernel
    print(rosen.latex())   # the function and its partials

Importing symgrad is light: SymPy is imported only when a function is derived for the first time, and Numba
only when a kernel is first compiled or loaded.
"""

from .api import Transform, grad, value_and_grad, vmap
from .cache import VERSION as __version__
from .cache import CacheWarning, KernelCompileError
from .errors import ArrayIndexError, NonDifferentiableArgumentError, StaleSourceError, UnsupportedSyntaxError
from .jacobian import jacobian, jvp, value_and_jacobian, vjp
from .second_order import hessian, hvp, value_grad_and_hessian

__all__ = ["grad", "value_and_grad", "jacobian", "value_and_jacobian", "jvp", "vjp", "hvp", "hessian",
           "value_grad_and_hessian", "vmap", "Transform", "UnsupportedSyntaxError", "NonDifferentiableArgumentError",
           "ArrayIndexError", "StaleSourceError", "KernelCompileError", "CacheWarning", "__version__"]
