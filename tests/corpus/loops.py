"""Hand-written loop versions of corpus functions: the same mathematics, in the element loops symgrad takes today.

Written for this corpus (not taken from the projects).  Each has the same arguments as the function it stands
for, so the harness checks it against the same references, and the report times it beside the vectorised form.
"""

import math

EPS = 2.220446049250313e-16  # np.finfo(np.float64).eps, which sklearn clips probabilities to


def ackley(x):
    total = 0.0
    d = x.shape[1]
    for i in range(x.shape[0]):
        squares = 0.0
        cosines = 0.0
        for j in range(d):
            squares += x[i, j] ** 2
            cosines += math.cos(2 * math.pi * x[i, j])
        total += -20.0 * math.exp(-0.2 * math.sqrt(squares / d)) - math.exp(cosines / d) + 20.0 + math.e
    return total


def beale(x):
    total = 0.0
    for i in range(x.shape[0]):
        a = x[i, 0]
        b = x[i, 1]
        total += (1.5 - a + a * b) ** 2 + (2.25 - a + a * b ** 2) ** 2 + (2.625 - a + a * b ** 3) ** 2
    return total


def himmelblau(x):
    total = 0.0
    for i in range(x.shape[0]):
        total += (x[i, 0] ** 2 + x[i, 1] - 11) ** 2 + (x[i, 0] + x[i, 1] ** 2 - 7) ** 2
    return total


def rastrigin(x):
    total = 0.0
    for i in range(x.shape[0]):
        total += 10.0 * x.shape[1]
        for j in range(x.shape[1]):
            total += x[i, j] ** 2 - 10.0 * math.cos(2.0 * math.pi * x[i, j])
    return total


def rosenbrock_population(x):
    total = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1] - 1):
            total += 100 * (x[i, j + 1] - x[i, j] ** 2) ** 2 + (1 - x[i, j]) ** 2
    return total


def sphere(x):
    total = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            total += x[i, j] ** 2
    return total


def griewank(x):
    total = 0.0
    for i in range(x.shape[0]):
        squares = 0.0
        product = 1.0
        for j in range(x.shape[1]):
            squares += x[i, j] ** 2
            product *= math.cos(x[i, j] / math.sqrt(j + 1))
        total += 1 + squares / 4000 - product
    return total


def schwefel(x):
    total = 0.0
    for i in range(x.shape[0]):
        total += 418.9829 * x.shape[1]
        for j in range(x.shape[1]):
            total -= x[i, j] * math.sin(math.sqrt(abs(x[i, j])))
    return total


def zakharov(x):
    total = 0.0
    for i in range(x.shape[0]):
        a = 0.0
        for j in range(x.shape[1]):
            a += 0.5 * (j + 1) * x[i, j]
            total += x[i, j] ** 2
        total += a ** 2 + a ** 4
    return total


def tanh(x):
    total = 0.0
    for i in range(len(x)):
        total += (1.0 - math.exp(-x[i])) / (1.0 + math.exp(-x[i]))
    return total


def row_dot(X, i, w):
    """X[i] @ w, the linear model of both logistic losses."""
    z = 0.0
    for j in range(X.shape[1]):
        z += X[i, j] * w[j]
    return z


def logistic_loss(weights, inputs, targets):
    log_lik = 0.0
    for i in range(inputs.shape[0]):
        p = 0.5 * (math.tanh(row_dot(inputs, i, weights)) + 1.0)
        log_lik += math.log(p) * targets[i] + math.log(1 - p) * (1 - targets[i])
    return -log_lik


def squared_loss(y_true, y_pred):
    total = 0.0
    for i in range(y_true.shape[0]):
        for j in range(y_true.shape[1]):
            total += (y_true[i, j] - y_pred[i, j]) ** 2
    return total / (y_true.shape[0] * y_true.shape[1]) / 2


def binary_log_loss(y_true, y_prob):
    total = 0.0
    for i in range(y_prob.shape[0]):
        p = min(max(y_prob[i, 0], EPS), 1 - EPS)
        total += y_true[i, 0] * math.log(p) + (1 - y_true[i, 0]) * math.log(1 - p)
    return -total / y_prob.shape[0]


def logistic_loss_pm(w, X, y, alpha):
    total = 0.0
    for i in range(X.shape[0]):
        yz = y[i] * row_dot(X, i, w)
        if yz > 0:
            total += math.log(1 + math.exp(-yz))
        else:
            total += -yz + math.log(1 + math.exp(yz))
    penalty = 0.0
    for j in range(len(w)):
        penalty += w[j] * w[j]
    return total + .5 * alpha * penalty
