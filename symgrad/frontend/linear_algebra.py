"""Linear algebra lowered to loops: the Cholesky family (np.linalg.cholesky, scipy.linalg.cholesky, cho_factor,
cho_solve, solve_triangular, scipy.stats.multivariate_normal.logpdf), np.linalg.matrix_power, and the general
matrix's solve, inverse and determinants through an LU factorisation with partial pivoting.

Each is a row of `numpy_functions.FUNCTIONS` (or `SCIPY_FUNCTIONS`) naming a method here.  A factorisation is
written as the loops LAPACK runs, each element of a factor stored once, so reverse mode differentiates the algorithm
exactly and nothing is taped: the pivot LU chooses is an index (derivative 0), read back as `np.argmax`'s is.
"""

import ast
import collections
import operator

import numpy as np
import sympy as sp

from .. import errors
from ..rules import AsIndex
from .numpy_functions import _square
from .numpy_lowering import ArrayExpression, ArrayValue, as_number


# NumPy's named result of np.linalg.slogdet: a tuple whose fields are also attributes (`slogdet(K).logabsdet`)
SlogdetResult = collections.namedtuple("SlogdetResult", "sign logabsdet")


class LinearAlgebra:
    """The linear algebra rows of `FUNCTIONS` (a mixin of Lifter, beside `NumpyFunctions`, whose argument binding it
    uses)."""

    # --- Cholesky factorisations and triangular solves -----------------------------------------------------
    def cholesky(self, target, node):
        """np.linalg.cholesky(a, upper=False) and scipy.linalg.cholesky(a, lower=False): the factor L of a
        symmetric positive definite matrix, A = L L^T, from A's lower triangle, or U, A = U^T U, from its upper
        triangle, as LAPACK reads them (`factor_from_triangle`)."""
        if target is np.linalg.cholesky:
            bound = self.arguments(node, ("a", "upper"), 1)
            upper = self.flag(bound.get("upper", sp.false), "upper", node)
        else:
            bound = self.arguments(node, ("a", "lower"), 2)
            upper = not self.flag(bound.get("lower", sp.false), "lower", node)
        return self.factor_from_triangle(self.square_matrix(bound, "a", node), not upper, node)

    def factor_from_triangle(self, matrix, lower, node):
        """The Cholesky factor as LAPACK's potrf makes it from one triangle of `matrix`, the other not read: L
        from the lower triangle, or U from the upper (the factor of the transpose, transposed).  For a matrix not
        symmetric (`np.triu(K)`) the two differ, and so for any matrix does where the gradient goes."""
        if lower:
            return self.cholesky_factor(matrix, node)
        return self.transposed(self.cholesky_factor(self.transposed(matrix, node), node), node)

    def cholesky_factored(self, target, node):
        """scipy.linalg.cho_factor(a, lower=False): `(c, lower)` for cho_solve, c holding the factor in its lower
        (upper) triangle and, as SciPy's does (LAPACK writes one triangle of a copy of a), a's own entries in the
        other."""
        bound = self.arguments(node, ("a", "lower", "overwrite_a", "check_finite"), 4)
        lower = self.flag(bound.get("lower", sp.false), "lower", node)
        matrix = self.square_matrix(bound, "a", node)
        factor = self.expression(self.factor_from_triangle(matrix, lower, node), node)
        own = operator.le if lower else operator.ge  # (where the factor is: column <= row, or >=)
        combined = ArrayExpression(matrix.shape, lambda i: sp.Piecewise(
            (as_number(factor.at(i)), own(i[1], i[0])), (as_number(matrix.at(i)), True)), False, ast.unparse(node))
        return self.materialized(combined, "cho_factor", node), sp.true if lower else sp.false

    def matrix_power(self, target, node):
        """np.linalg.matrix_power(a, n): a square matrix times itself n times, n a non-negative integer literal, by
        repeated squaring (each product made once into a local matrix); the identity for n = 0."""
        bound = self.arguments(node, ("a", "n"), 2)
        matrix, power = self.square_matrix(bound, "a", node), bound.get("n")
        if not (isinstance(power, sp.Basic) and power.is_Integer and power >= 0):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(a, n) with n a "
                                                                "non-negative integer literal: for a power given at "
                                                                "the call write the products in a loop (P = "
                                                                "np.eye(a.shape[0]), then P = P @ a in `for _ in "
                                                                "range(n)`); for a negative one solve "
                                                                "(scipy.linalg.cho_solve)")
        result, square, left = None, matrix, int(power)
        while left:
            if left & 1:
                result = square if result is None else self.materialized(self.product(result, square, node),
                                                                          "power", node)
            left >>= 1
            if left:
                square = self.materialized(self.product(square, square, node), "power", node)
        if result is None:
            return ArrayExpression(matrix.shape, lambda i: sp.Piecewise((sp.Integer(1), sp.Eq(i[0], i[1])),
                                                                        (sp.Integer(0), True)), False,
                                   ast.unparse(node))
        return result

    def flag(self, value, name, node):
        """A flag given as a literal (True, False, 1, 0), as a bool."""
        if not (isinstance(value, sp.Basic) and (value.is_Number or isinstance(value, sp.logic.boolalg.BooleanAtom))):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(): give {name} as the "
                                                                "literal True or False")
        return bool(value)

    def square_matrix(self, bound, name, node):
        matrix = self.array_argument(bound, name, node, "a square matrix")
        if matrix.ndim != 2:
            raise self.rank_error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}() of one square "
                                                                     "matrix (a 2-D array)")
        self.same_size(matrix.shape[0], matrix.shape[1], f"the rows and the columns of {matrix.text}", node)
        return matrix

    def cholesky_factor(self, matrix, node):
        """L column by column (Cholesky-Crout): L[j, j] = sqrt(A[j, j] - sum_k<j L[j, k]^2), then
        L[i, j] = (A[i, j] - sum_k<j L[i, k] L[j, k]) / L[j, j] below it; the upper triangle stays 0.  A pivot that
        is not positive (A not positive definite, where NumPy raises LinAlgError) makes it nan, and so every value
        and derivative computed from it (times nan, not a choice of branch, whose derivative would be 0)."""
        size = matrix.shape[0]
        factor = self.allocate((size, size), node, "cholesky")

        def inner(i, j):
            return self.reduce("dot", sp.Integer(0), j, lambda k: self.arithmetic(
                ast.Mult(), self.read(factor, (i, k), node), self.read(factor, (j, k), node), node), node)

        def column(j):
            pivot = self.assign("pivot", as_number(matrix.at((j, j))) - inner(j, j), node)
            diagonal = self.assign("diagonal", sp.sqrt(pivot) * sp.Piecewise((1, pivot > 0), (sp.nan, True)), node)
            self.store(factor, (j, j), diagonal, False, node)
            self.counted_loop(j + 1, size, lambda i: self.store(factor, (i, j), self.arithmetic(
                ast.Div(), as_number(matrix.at((i, j))) - inner(i, j), diagonal, node), False, node), node)

        self.counted_loop(sp.Integer(0), size, column, node)
        return factor

    def triangular_solve(self, target, node):
        """scipy.linalg.solve_triangular(a, b, trans=0, lower=False): x with a x = b (a.T x = b for trans 'T' or
        1), b a vector or a matrix, by substitution; only a's triangle is read."""
        bound = self.arguments(node, ("a", "b", "trans", "lower"), 4, texts=("trans",))
        trans = bound.get("trans", sp.Integer(0))
        if trans not in (0, 1, 2, "N", "T", "C"):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}() with trans=0, 1, 'N' "
                                                                "or 'T' (a real matrix)")
        matrix, lower = self.square_matrix(bound, "a", node), self.flag(bound.get("lower", sp.false), "lower", node)
        if trans in (1, 2, "T", "C"):
            matrix, lower = self.transposed(matrix, node), not lower
        return self.substituted(matrix, self.array_argument(bound, "b", node, "a triangular matrix and a vector "
                                                                                "or matrix b"), lower, node)

    def cholesky_solve(self, target, node):
        """scipy.linalg.cho_solve((c, lower), b): x with A x = b for A = L L^T (lower) or U^T U, two
        substitutions."""
        bound = self.arguments(node, ("c_and_lower", "b"), 2, nested=("c_and_lower",))
        factor = bound.get("c_and_lower")
        if not (isinstance(factor, tuple) and len(factor) == 2 and self.is_array(factor[0])):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}((c, lower), b) with the "
                                                                "factor and its flag written as a tuple")
        matrix = self.square_matrix({"c": factor[0]}, "c", node)
        lower = self.flag(factor[1], "lower", node)
        right = self.array_argument(bound, "b", node, "a factor and a vector or matrix b")
        first = self.substituted(matrix if lower else self.transposed(matrix, node), right, True, node)
        return self.substituted(self.transposed(matrix, node) if lower else matrix, first, False, node)

    def substituted(self, matrix, right, lower, node):
        """x with M x = b, M triangular (lower: forward substitution, first row first; else backward, last row
        first), into a local array of b's shape; a zero on M's diagonal gives inf or nan, as NumPy's division."""
        right = self.expression(right, node)
        if right.ndim > 2:
            raise self.rank_error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}() of a vector or a "
                                                                     "matrix b")
        size = matrix.shape[0]
        self.same_size(size, right.shape[0], f"the size of {matrix.text} and the rows of {right.text}", node)
        matrix = self.expression(self.materialized(matrix, "triangular", node), node)
        solution = self.allocate(right.shape, node, "solution")

        def column(rest):
            def row(position):
                i = position if lower else size - 1 - position
                start, stop = (sp.Integer(0), i) if lower else (i + 1, size)
                known = self.reduce("dot", start, stop, lambda k: self.arithmetic(
                    ast.Mult(), as_number(matrix.at((i, k))), self.read(solution, (k,) + rest, node), node), node)
                self.store(solution, (i,) + rest, self.arithmetic(
                    ast.Div(), as_number(right.at((i,) + rest)) - known, as_number(matrix.at((i, i))), node),
                    False, node)

            self.counted_loop(sp.Integer(0), size, row, node)

        self.loop_nest(right.shape[1:], column, node)
        return solution

    def normal_logpdf(self, target, node):
        """scipy.stats.multivariate_normal.logpdf(x, mean, cov): -(|L^-1 (x - mean)|^2 + 2 sum(log(diag L)) +
        d log(2 pi)) / 2 with L the Cholesky factor of cov; of x a vector, a number; of the rows of a matrix x, a
        vector."""
        bound = self.arguments(node, ("x", "mean", "cov"), 3)
        x = self.array_argument(bound, "x", node, "x, mean and cov arrays")
        mean = sp.Integer(0) if bound.get("mean") is None else bound["mean"]
        cov = self.square_matrix(bound, "cov", node)
        if x.ndim > 2 or self.is_array(mean) and self.expression(mean, node).ndim != 1:
            raise self.rank_error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}(x, mean, cov) of a "
                                                                     "vector x (or a matrix of rows), a vector mean "
                                                                     "and a matrix cov")
        dimension = cov.shape[0]
        self.same_size(x.shape[-1], dimension, f"the last axis of {x.text} and the size of {cov.text}", node)
        factor = self.expression(self.cholesky_factor(cov, node), node)
        deviations = self.elementwise(lambda a, m: as_number(a) - m, [x, mean], node)
        whitened = self.substituted(factor, self.transposed(deviations, node), True, node)
        distances = self.reduction("sum", self.elementwise(_square, [whitened], node), sp.Integer(0), False,
                                   node)
        logdet = self.fold("sum", [dimension], lambda i: sp.log(as_number(factor.at(i + i))), node)
        constant = 2 * logdet + dimension * sp.log(2 * sp.pi)
        return self.elementwise(lambda q: -(as_number(q) + constant) / 2, [distances], node)

    # --- a general matrix: LU with partial pivoting ----------------------------------------------------------------
    def general_solve(self, target, node):
        """np.linalg.solve(a, b) and scipy.linalg.solve(a, b): x with a x = b, b a vector or a matrix of columns, by
        `pivoted_factors` and two substitutions.  SciPy's `assume_a='pos'` (or 'positive definite') solves through
        the Cholesky factor of a's lower triangle, as LAPACK's posv; 'gen' and 'sym' through LU."""
        if target is np.linalg.solve:
            bound = self.arguments(node, ("a", "b"), 2)
        else:
            bound = self.arguments(node, ("a", "b", "lower", "overwrite_a", "overwrite_b", "check_finite",
                                          "assume_a"), 2, texts=("assume_a",))
        matrix = self.square_matrix(bound, "a", node)
        right = self.array_argument(bound, "b", node, "a square matrix a and a vector or matrix b")
        assumed = bound.get("assume_a", "gen")
        lower = self.flag(bound.get("lower", sp.false), "lower", node)
        if assumed in ("pos", "positive definite"):
            factor = self.expression(self.factor_from_triangle(matrix, lower, node), node)
            first = self.substituted(factor if lower else self.transposed(factor, node), right, True, node)
            return self.substituted(self.transposed(factor, node) if lower else factor, first, False, node)
        if assumed in ("sym", "symmetric", "her", "hermitian"):  # (LAPACK's sysv reads one triangle)
            own = (lambda i: (sp.Max(*i), sp.Min(*i))) if lower else (lambda i: (sp.Min(*i), sp.Max(*i)))
            symmetric = ArrayExpression(matrix.shape, lambda i: matrix.at(own(i)), False, matrix.text)
            return self.pivoted_solve(self.pivoted_factors(symmetric, node), right, node)
        if assumed not in ("gen", "general"):
            raise self.error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}() with assume_a='gen', "
                                                                "'sym' or 'pos' (a real matrix)")
        return self.pivoted_solve(self.factored(bound, node), right, node)

    def general_inverse(self, target, node):
        """np.linalg.inv(a) and scipy.linalg.inv(a): the solve of the identity."""
        bound = self.arguments(node, ("a", "overwrite_a", "check_finite"), 1 if target is np.linalg.inv else 3)
        factors = self.factored(bound, node)
        identity = ArrayExpression((factors.size,) * 2, lambda i: sp.Piecewise((sp.Integer(1), sp.Eq(i[0], i[1])),
                                                                               (sp.Integer(0), True)), False, "I")
        return self.pivoted_solve(factors, identity, node)

    def general_determinant(self, target, node):
        """np.linalg.det(a) and scipy.linalg.det(a): the sign of the pivots' permutation times the product of U's
        diagonal."""
        bound = self.arguments(node, ("a", "overwrite_a", "check_finite"), 1 if target is np.linalg.det else 3)
        factors = self.factored(bound, node)
        return self.assign("det", self.permutation_sign(factors, node) * self.fold(
            "prod", [factors.size], lambda i: as_number(factors.upper.at(i + i)), node), node)

    def log_determinant(self, target, node):
        """np.linalg.slogdet(a): (sign, log|det a|), a tuple as NumPy's result unpacks (`sign, logdet = ...`,
        `[1]`, `.logabsdet`); a singular matrix gives (0, -inf), as NumPy's.  The sign's derivative is 0."""
        factors = self.factored(self.arguments(node, ("a",), 1), node)
        diagonal = lambda i: as_number(factors.upper.at(i + i))  # noqa: E731
        sign = self.permutation_sign(factors, node) * self.fold("prod", [factors.size],
                                                                  lambda i: sp.sign(diagonal(i)), node)
        magnitude = self.fold("sum", [factors.size], lambda i: sp.log(sp.Abs(diagonal(i))), node)
        return SlogdetResult(self.assign("sign", sign, node), self.assign("logdet", magnitude, node))

    def factored(self, bound, node):
        """The `pivoted_factors` of the square matrix `a` of a call's arguments, made once per block for an array
        that no store changed in between (solve(K, y) and slogdet(K) factor K once)."""
        self.square_matrix(bound, "a", node)
        matrix = bound["a"]
        if not isinstance(matrix, ArrayValue):
            return self.pivoted_factors(matrix, node)
        key = (id(self.body), self.guard, matrix.base, self.stores.get(matrix.base, 0))
        made = self.factorizations.get(key)
        if made is None or made[0] is not self.body:
            made = self.factorizations[key] = (self.body, self.pivoted_factors(matrix, node))
        return made[1]

    def pivoted_factors(self, matrix, node):
        """P A = L U with partial pivoting, as LAPACK's getrf: at step k the row whose remaining entry in column k is
        largest in magnitude (the first of equals, or the first NaN) becomes the pivot.  Rows are never swapped:
        `order[k]` is the row of `matrix` chosen at step k, `lower[r, k]` the multiplier of row r at step k (0 once
        r was a pivot), `upper[k, j]` U's row k, `free[k, r]` 1 while row r is not yet a pivot before step k.  Each
        element is stored once (left-looking: column k of U above its diagonal by substitution through the earlier
        pivots' rows, then the column's remaining entries), so reverse mode tapes nothing.  A zero pivot (a
        singular matrix) scales no multiplier, as LAPACK's getrf: the determinant is 0, and a solve divides by it
        (inf or nan, where NumPy raises LinAlgError)."""
        matrix = self.expression(self.materialized(matrix, "a", node), node)  # (each element is read twice)
        size = matrix.shape[0]
        lower = self.allocate((size, size), node, "lu_lower")
        upper = self.allocate((size, size), node, "lu_upper")
        remaining = self.allocate((size, size), node, "lu_column")
        order = self.allocate((size,), node, "lu_order")
        free = self.allocate((size + 1, size), node, "lu_free")
        self.counted_loop(sp.Integer(0), size, lambda r: self.store(free, (sp.Integer(0), r), sp.Integer(1), False,
                                                                     node), node)
        pivot_row = lambda m: AsIndex(self.read(order, (m,), node))  # noqa: E731

        def eliminated(row, k, steps):
            """Column k's entry of `row` less what the first `steps` pivots took from it."""
            return as_number(matrix.at((row, k))) - self.reduce("dot", sp.Integer(0), steps, lambda m: self.arithmetic(
                ast.Mult(), self.read(lower, (row, m), node), self.read(upper, (m, k), node), node), node)

        def step(k):
            self.counted_loop(sp.Integer(0), k, lambda m: self.store(
                upper, (m, k), eliminated(pivot_row(m), k, m), False, node), node)
            self.counted_loop(sp.Integer(0), size, lambda r: self.store(
                remaining, (k, r), eliminated(r, k, k), False, node), node)
            pivot = self.best_position("argmax", lambda r: sp.Piecewise(
                (sp.Abs(self.read(remaining, (k, r), node)), sp.Gt(self.read(free, (k, r), node), 0)),
                (sp.Integer(-1), True)), size, node)
            self.store(order, (k,), pivot, False, node)
            diagonal = self.read(remaining, (k, pivot), node)
            self.store(upper, (k, k), diagonal, False, node)

            def multiplier(r):
                still_free = self.assign("free", self.read(free, (k, r), node) * sp.Piecewise(
                    (sp.Integer(0), sp.Eq(r, pivot)), (sp.Integer(1), True)), node)
                self.store(free, (k + 1, r), still_free, False, node)
                self.store(lower, (r, k), sp.Piecewise((self.arithmetic(  # (a zero pivot scales nothing: LAPACK)
                    ast.Div(), self.read(remaining, (k, r), node), diagonal, node), sp.And(sp.Gt(still_free, 0),
                                                                                           sp.Ne(diagonal, 0))),
                    (sp.Integer(0), True)), False, node)

            self.counted_loop(sp.Integer(0), size, multiplier, node)

        self.counted_loop(sp.Integer(0), size, step, node)
        return PivotedFactors(size, self.expression(lower, node), self.expression(upper, node),
                              self.expression(order, node))

    def pivoted_solve(self, factors, right, node):
        """x with A x = b from `pivoted_factors`: L y = P b (unit diagonal, in pivot order), then U x = y."""
        right = self.expression(right, node)
        if right.ndim > 2:
            raise self.rank_error(errors.UnsupportedCallError, node, f"{ast.unparse(node.func)}() of a vector or a "
                                                                     "matrix b (a stack of systems: one call each)")
        self.same_size(factors.size, right.shape[0], f"the size of the matrix and the rows of {right.text}", node)
        row = lambda m: AsIndex(as_number(factors.order.at((m,))))  # noqa: E731
        unit_lower = ArrayExpression((factors.size, factors.size), lambda i: sp.Piecewise(
            (sp.Integer(1), sp.Eq(i[0], i[1])), (as_number(factors.lower.at((row(i[0]), i[1]))), True)), False,
            "L")
        permuted = ArrayExpression(right.shape, lambda i: right.at((row(i[0]),) + tuple(i[1:])), False, right.text)
        return self.substituted(factors.upper, self.substituted(unit_lower, permuted, True, node), False, node)

    def permutation_sign(self, factors, node):
        """The sign of the pivots' permutation, (-1) to the number of its inversions (pairs m < q chosen in the
        other order): a number whose derivative is 0."""
        def inversions_before(q):
            return self.reduce("prod", sp.Integer(0), q, lambda m: sp.Piecewise(
                (sp.Integer(-1), sp.Gt(as_number(factors.order.at((m,))), as_number(factors.order.at((q,))))),
                (sp.Integer(1), True)), node, operator.mul, sp.Integer(1))

        return self.reduce("prod", sp.Integer(0), factors.size, inversions_before, node, operator.mul, sp.Integer(1))


class PivotedFactors:
    """What `pivoted_factors` made: the size, the arrays lower, upper and order (see there)."""

    def __init__(self, size, lower, upper, order):
        self.size, self.lower, self.upper, self.order = size, lower, upper, order
