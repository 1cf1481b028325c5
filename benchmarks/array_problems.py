"""The array benchmark problems, each written once as plain Python for symgrad (read with `inspect`).

Used by `bench_arrays.py` and `run.py`.  Like `bench_problems`, this module imports only `math` and NumPy, and it
also makes the data each problem is timed on (`make_args`).

* `rosen(x)`: the n-dimensional Rosenbrock function, a reduction over neighbouring pairs.
* `logistic_nll(w, X, y)`: the mean logistic negative log-likelihood, nested loops, gradient w.r.t. `w`.
* `mlp_loss(W1, b1, W2, b2, w3, b3, X, y)`: micrograd's two-moons MLP (2-16-16-1, ReLU, SVM max-margin loss
  and an L2 penalty), hidden layers in local arrays written element by element; gradient w.r.t. all 337
  parameters.
* `oscillator(k, c, obs)`: x'' = -k x - c x' by explicit Euler (dt = `DT`) from x = 1, v = 0, one step per
  observation, summing the squared error against `obs`; gradient w.r.t. (k, c).

The first three once more as vectorised NumPy (`rosen_vectorised`, `logistic_nll_vectorised`,
`mlp_loss_vectorised`): the same functions on the same data, so the harness sets symgrad's lowering of the
vectorised source beside the same hand-written gradient, and every peer runs this very text (`twins.same_source`).
"""

import math

import numpy as np

ALPHA = 1e-4  # weight of the MLP's L2 penalty (micrograd's demo)
DT = 0.01  # the oscillator's time step


def rosen(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100*(x[i + 1] - x[i]**2)**2 + (1 - x[i])**2
    return s


def logistic_nll(w, X, y):
    total = 0.0
    for i in range(X.shape[0]):
        z = 0.0
        for j in range(X.shape[1]):
            z += X[i, j]*w[j]
        total += math.log1p(math.exp(-z)) + (1 - y[i])*z
    return total / X.shape[0]


def mlp_loss(W1, b1, W2, b2, w3, b3, X, y):
    n = X.shape[0]
    hidden = W1.shape[0]
    h1 = np.zeros(hidden)
    h2 = np.zeros(hidden)
    data_loss = 0.0
    for i in range(n):
        for j in range(hidden):  # first hidden layer: ReLU(W1 x + b1)
            acc = b1[j]
            for k in range(X.shape[1]):
                acc += W1[j, k]*X[i, k]
            h1[j] = max(acc, 0.0)
        for j in range(hidden):  # second hidden layer: ReLU(W2 h1 + b2)
            acc = b2[j]
            for k in range(hidden):
                acc += W2[j, k]*h1[k]
            h2[j] = max(acc, 0.0)
        score = b3  # linear output
        for j in range(hidden):
            score += w3[j]*h2[j]
        data_loss += max(0.0, 1.0 - y[i]*score)  # SVM max-margin loss
    squares = b3**2  # L2 penalty on all parameters
    for j in range(hidden):
        squares += b1[j]**2 + b2[j]**2 + w3[j]**2
        for k in range(X.shape[1]):
            squares += W1[j, k]**2
        for k in range(hidden):
            squares += W2[j, k]**2
    return data_loss / n + ALPHA*squares



# The same MLP in other spellings a user writes (issue 13, item 4): each is its own row of the field benchmark,
# timed against the same hand-written gradient, so a spelling that derives a slower kernel shows.
def mlp_loss_arrays_per_row(W1, b1, W2, b2, w3, b3, X, y):
    """The hidden layers allocated inside the row loop."""
    n = X.shape[0]
    hidden = W1.shape[0]
    data_loss = 0.0
    for i in range(n):
        h1 = np.zeros(hidden)
        h2 = np.zeros(hidden)
        for j in range(hidden):
            acc = b1[j]
            for k in range(X.shape[1]):
                acc += W1[j, k]*X[i, k]
            h1[j] = max(acc, 0.0)
        for j in range(hidden):
            acc = b2[j]
            for k in range(hidden):
                acc += W2[j, k]*h1[k]
            h2[j] = max(acc, 0.0)
        score = b3
        for j in range(hidden):
            score += w3[j]*h2[j]
        data_loss += max(0.0, 1.0 - y[i]*score)
    return data_loss / n + ALPHA*_squares(W1, b1, W2, b2, w3, b3)


def mlp_loss_if_relu(W1, b1, W2, b2, w3, b3, X, y):
    """ReLU as a branch, `if z > 0`, and the hinge too."""
    n = X.shape[0]
    hidden = W1.shape[0]
    h1 = np.zeros(hidden)
    h2 = np.zeros(hidden)
    data_loss = 0.0
    for i in range(n):
        for j in range(hidden):
            acc = b1[j]
            for k in range(X.shape[1]):
                acc += W1[j, k]*X[i, k]
            if acc > 0:
                h1[j] = acc
            else:
                h1[j] = 0.0
        for j in range(hidden):
            acc = b2[j]
            for k in range(hidden):
                acc += W2[j, k]*h1[k]
            if acc > 0:
                h2[j] = acc
            else:
                h2[j] = 0.0
        score = b3
        for j in range(hidden):
            score += w3[j]*h2[j]
        margin = 1.0 - y[i]*score
        if margin > 0:
            data_loss += margin
    return data_loss / n + ALPHA*_squares(W1, b1, W2, b2, w3, b3)


def mlp_loss_plain_sums(W1, b1, W2, b2, w3, b3, X, y):
    """Sums written `s = s + t`."""
    n = X.shape[0]
    hidden = W1.shape[0]
    h1 = np.zeros(hidden)
    h2 = np.zeros(hidden)
    data_loss = 0.0
    for i in range(n):
        for j in range(hidden):
            acc = b1[j]
            for k in range(X.shape[1]):
                acc = acc + W1[j, k]*X[i, k]
            h1[j] = max(acc, 0.0)
        for j in range(hidden):
            acc = b2[j]
            for k in range(hidden):
                acc = acc + W2[j, k]*h1[k]
            h2[j] = max(acc, 0.0)
        score = b3
        for j in range(hidden):
            score = score + w3[j]*h2[j]
        data_loss = data_loss + max(0.0, 1.0 - y[i]*score)
    return data_loss / n + ALPHA*_squares(W1, b1, W2, b2, w3, b3)


def _dense_relu(W, b, x, i, j):
    """ReLU(W[j] . x[i] + b[j]) for the helper spelling."""
    acc = b[j]
    for k in range(W.shape[1]):
        acc += W[j, k]*x[i, k]
    return max(acc, 0.0)


def _dense_relu_1d(W, b, x, j):
    acc = b[j]
    for k in range(W.shape[1]):
        acc += W[j, k]*x[k]
    return max(acc, 0.0)


def mlp_loss_helpers(W1, b1, W2, b2, w3, b3, X, y):
    """Each unit computed by a helper function."""
    n = X.shape[0]
    hidden = W1.shape[0]
    h1 = np.zeros(hidden)
    h2 = np.zeros(hidden)
    data_loss = 0.0
    for i in range(n):
        for j in range(hidden):
            h1[j] = _dense_relu(W1, b1, X, i, j)
        for j in range(hidden):
            h2[j] = _dense_relu_1d(W2, b2, h1, j)
        score = b3
        for j in range(hidden):
            score += w3[j]*h2[j]
        data_loss += max(0.0, 1.0 - y[i]*score)
    return data_loss / n + ALPHA*_squares(W1, b1, W2, b2, w3, b3)


def _squares(W1, b1, W2, b2, w3, b3):
    """The L2 penalty of `mlp_loss`, term by term in its order."""
    squares = b3**2
    for j in range(W1.shape[0]):
        squares += b1[j]**2 + b2[j]**2 + w3[j]**2
        for k in range(W1.shape[1]):
            squares += W1[j, k]**2
        for k in range(W2.shape[1]):
            squares += W2[j, k]**2
    return squares

def oscillator(k, c, obs):
    x = 1.0
    v = 0.0
    err = 0.0
    for t in range(len(obs)):
        a = -k*x - c*v
        x, v = x + DT*v, v + DT*a
        err += (x - obs[t])**2
    return err


# ---------------------------------------------------------------------------------------------------------------
# The same problems, vectorised (`np` is rebound to each peer's namespace by twins.same_source)
# ---------------------------------------------------------------------------------------------------------------
def rosen_vectorised(x):
    return np.sum(100*(x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)


def logistic_nll_vectorised(w, X, y):
    z = X @ w
    return np.mean(np.log1p(np.exp(-z)) + (1 - y)*z)


def mlp_loss_vectorised(W1, b1, W2, b2, w3, b3, X, y):
    h1 = np.maximum(X @ W1.T + b1, 0.0)
    h2 = np.maximum(h1 @ W2.T + b2, 0.0)
    score = h2 @ w3 + b3
    data_loss = np.mean(np.maximum(1.0 - y*score, 0.0))
    squares = np.sum(W1**2) + np.sum(b1**2) + np.sum(W2**2) + np.sum(b2**2) + np.sum(w3**2) + b3**2
    return data_loss + ALPHA*squares


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------
MLP_HIDDEN = 16
TRUE_K, TRUE_C = 4.0, 0.3


def make_moons(n_samples, noise, rng):
    """Two interleaving half circles (scikit-learn's make_moons), labels -1 / +1."""
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    upper = np.linspace(0.0, math.pi, n_upper)
    lower = np.linspace(0.0, math.pi, n_lower)
    X = np.concatenate([np.stack([np.cos(upper), np.sin(upper)], axis=1),
                        np.stack([1.0 - np.cos(lower), 0.5 - np.sin(lower)], axis=1)])
    X += noise * rng.standard_normal(X.shape)
    return X, np.concatenate([-np.ones(n_upper), np.ones(n_lower)])


def simulate(k, c, steps):
    xs = np.empty(steps)
    x, v = 1.0, 0.0
    for t in range(steps):
        x, v = x + DT * v, v + DT * (-k * x - c * v)
        xs[t] = x
    return xs


def make_args(problem, size, rng):
    """One argument tuple for `problem` at `size` (the data size: n, rows, points or steps)."""
    if problem == "rosen":
        return (rng.uniform(-2.0, 2.0, size),)
    if problem == "logistic":
        X = rng.standard_normal((size, 10))
        w_true = rng.standard_normal(10)
        y = (rng.uniform(size=size) < 1.0 / (1.0 + np.exp(-X @ w_true))).astype(float)
        return (0.5 * rng.standard_normal(10), X, y)
    if problem == "mlp":
        X, y = make_moons(size, 0.1, rng)
        init = np.random.default_rng(int(rng.integers(0, 2**31)))  # micrograd's init: U(-1, 1) weights, 0 biases
        return (init.uniform(-1.0, 1.0, (MLP_HIDDEN, 2)), np.zeros(MLP_HIDDEN),
                init.uniform(-1.0, 1.0, (MLP_HIDDEN, MLP_HIDDEN)), np.zeros(MLP_HIDDEN),
                init.uniform(-1.0, 1.0, MLP_HIDDEN), 0.0, X, y)
    if problem == "oscillator":
        obs = simulate(TRUE_K, TRUE_C, size) + 0.05 * rng.standard_normal(size)
        return (float(rng.uniform(1.0, 6.0)), float(rng.uniform(0.0, 1.0)), obs)
    raise ValueError(problem)
