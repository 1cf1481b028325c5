"""Loss functions from scikit-learn, taken as written.

Source: scikit-learn/scikit-learn, sklearn/neural_network/_base.py (commit 01230994da45472f5c27582212986cddafd57549)
and sklearn/linear_model/logistic.py (commit 0171d80ffb31a7257e120ffd49598b0aca92bd25, an early version of
``_logistic_loss``).  Licence: BSD 3-Clause, Copyright (c) 2007-2024 The scikit-learn developers; the licence text
is in LICENSES.md.  Docstrings are shortened to one line.
"""

import numpy as np
from scipy.special import xlogy

from .spec import Entry, Origin, one_hot
from . import loops

SKLEARN = Origin("scikit-learn", "scikit-learn/scikit-learn", "BSD-3-Clause",
                 "Copyright (c) 2007-2024 The scikit-learn developers")
BASE, BASE_COMMIT = "sklearn/neural_network/_base.py", "01230994da45472f5c27582212986cddafd57549"


def squared_loss(y_true, y_pred):
    """Compute the squared loss for regression."""
    return ((y_true - y_pred) ** 2).mean() / 2


def log_loss(y_true, y_prob):
    """Compute Logistic loss for classification."""
    eps = np.finfo(y_prob.dtype).eps
    y_prob = np.clip(y_prob, eps, 1 - eps)
    if y_prob.shape[1] == 1:
        y_prob = np.append(1 - y_prob, y_prob, axis=1)

    if y_true.shape[1] == 1:
        y_true = np.append(1 - y_true, y_true, axis=1)

    return -xlogy(y_true, y_prob).sum() / y_prob.shape[0]


def binary_log_loss(y_true, y_prob):
    """Compute binary logistic loss for classification."""
    eps = np.finfo(y_prob.dtype).eps
    y_prob = np.clip(y_prob, eps, 1 - eps)
    return (
        -(xlogy(y_true, y_prob).sum() + xlogy(1 - y_true, 1 - y_prob).sum())
        / y_prob.shape[0]
    )


def _logistic_loss(w, X, y, alpha):
    # the logistic loss and
    z = X.dot(w)
    yz = y * z
    out = np.empty_like(yz)
    idx = yz > 0
    out[idx] = np.log(1 + np.exp(-yz[idx]))
    out[~idx] = (-yz[~idx] + np.log(1 + np.exp(yz[~idx])))
    out = out.sum() + .5 * alpha * w.dot(w)
    #print 'Loss %r' % out
    return out


def _probabilities(rng, n, classes):
    """Rows of class probabilities away from 0 and 1 (the clip at eps is not reached)."""
    p = rng.uniform(0.2, 1.0, (n, classes))
    return p / p.sum(axis=1, keepdims=True)


def _entry(function, wrt, make, path=BASE, commit=BASE_COMMIT, jax=True, loop=None):
    return Entry(f"sklearn.{function.__name__.lstrip('_')}", function, wrt, make, SKLEARN, path, commit, "none",
                 jax=jax, loop=loop)


ENTRIES = [
    _entry(squared_loss, ("y_pred",), lambda rng, n: (rng.standard_normal((n, 2)), rng.standard_normal((n, 2))),
           loop=loops.squared_loss),
    _entry(log_loss, ("y_prob",), lambda rng, n: (one_hot(rng, n, 3), _probabilities(rng, n, 3))),
    _entry(binary_log_loss, ("y_prob",),
           lambda rng, n: ((rng.random((n, 1)) > 0.5) * 1.0, rng.uniform(0.05, 0.95, (n, 1))),
           loop=loops.binary_log_loss),
    _entry(_logistic_loss, ("w",),
           lambda rng, n: (rng.standard_normal(3), rng.standard_normal((n, 3)), np.sign(rng.standard_normal(n)), 0.1),
           "sklearn/linear_model/logistic.py", "0171d80ffb31a7257e120ffd49598b0aca92bd25",
           jax="stores through a boolean mask (out[idx] = ...): JAX arrays are immutable", loop=loops.logistic_loss_pm),
]
