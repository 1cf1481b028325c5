import numpy as np
import scipy.special as ss

def convolve(k, x): return np.sum(np.convolve(x, k, mode='valid') ** 2)
def cross(a, b): return np.sum(np.cross(a, b) ** 2)
def cumprod(x): return np.sum(np.cumprod(x))
def gradient(u): return np.sum(np.gradient(u, 0.1) ** 2)
def interp(fp): return np.sum(np.interp(np.array([0.2, 0.7]), np.linspace(0, 1, len(fp)), fp))
def trapezoid(y): return np.trapezoid(y, dx=0.1)
def triu_indices(X):
    i, j = np.triu_indices(X.shape[0], k=1)
    return np.sum(1.0 / np.sum((X[i] - X[j]) ** 2, axis=1))
def fill_diagonal(X):
    D = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    np.fill_diagonal(D, 1.0)
    return np.sum(1.0 / D)
def ufunc_names(x, y): return np.sum(np.multiply(np.add(x, y), np.subtract(x, y)))
def divide(x, y): return np.sum(np.divide(x, 1 + y ** 2))
def reciprocal(x): return np.sum(np.reciprocal(1.0 + x ** 2))
def heaviside(x): return np.sum(np.heaviside(x, 0.5) * x ** 2)
def clip_method(x): return np.sum(x.clip(-0.5, 0.5) ** 2)
def trace_method(A): return (A.T @ A).trace()
def list_index(A): return np.sum(A[:, [0, 2]] ** 2)
def squeeze(A): return np.sum(np.squeeze(A) ** 2)
def logical_and(x): return np.sum(np.where(np.logical_and(x > -0.5, x < 0.5), x ** 2, 0.0))
def diff_prepend(x): return np.sum(np.diff(x, prepend=0.0) ** 2)
def subtract_outer(x): return np.sum(np.subtract.outer(x, x) ** 2)
def sp_softmax(z): return np.sum(ss.softmax(z) * z)
def sp_log_softmax(Z): return -np.sum(ss.log_softmax(Z, axis=1))
def sp_betaln(x): return ss.betaln(x[0], x[1])
def sp_digamma(x): return np.sum(ss.digamma(x))
def sp_ndtr(x): return np.sum(ss.ndtr(x))
def sum_where(x): return np.sum(x ** 2, where=x > 0)
def logsumexp_b(x): return ss.logsumexp(x, b=np.abs(x))
def dict_params(x):
    p = {'a': 1.0, 'b': 2.0}
    return np.sum(p['a'] * x + p['b'])
def traj_list(x0):
    xs = [x0]
    x = x0
    for _ in range(3):
        x = x + 0.1 * np.sin(x)
        xs.append(x)
    return np.sum(np.array(xs) ** 2)
def runtime_size1(A, w): return np.sum((A * w) ** 2)   # A is (n, 1), w is (m,)
