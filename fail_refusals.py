# Common NumPy/SciPy spellings that symgrad refuses (each should print a symgrad refusal).
from fail_common import *
import fail_refusals_mod as M
x = np.linspace(-1, 1, 6) + 0.05; X = np.arange(12.0).reshape(4, 3) ** 1.1
cases = [(M.convolve, (np.array([0.2, -0.5, 0.3]), x)), (M.cross, (x[:3].copy(), x[3:].copy())), (M.cumprod, (x,)),
         (M.gradient, (x,)), (M.interp, (x,)), (M.trapezoid, (x,)), (M.triu_indices, (X,)), (M.fill_diagonal, (X,)),
         (M.ufunc_names, (x, x[::-1].copy())), (M.divide, (x, x[::-1].copy())), (M.reciprocal, (x,)), (M.heaviside, (x,)),
         (M.clip_method, (x,)), (M.trace_method, (X,)), (M.list_index, (X,)), (M.squeeze, (X[:, :1].copy(),)),
         (M.logical_and, (x,)), (M.diff_prepend, (x,)), (M.subtract_outer, (x,)), (M.sp_softmax, (x,)),
         (M.sp_log_softmax, (X,)), (M.sp_betaln, (np.array([2.0, 3.0]),)), (M.sp_digamma, (x + 2,)),
         (M.sp_ndtr, (x,)), (M.sum_where, (x,)), (M.logsumexp_b, (x,)), (M.dict_params, (x,)), (M.traj_list, (x,)),
         (M.runtime_size1, (X[:, :1].copy(), x[:2].copy()))]
for f, a in cases:
    attempt(f, *a)
