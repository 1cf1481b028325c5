"""Objectives from autograd's examples, taken as written.

Source: HIPS/autograd, examples/*.py (the commit of each file is in its entry).  Licence: MIT, Copyright (c) 2014
by the President and Fellows of Harvard University; the licence text is in LICENSES.md.

``autograd.numpy`` is NumPy here and ``autograd.scipy`` is SciPy.  Each function's own adaptation is in its entry
and in a comment where the code changed: a `params` list of (W, b) pairs becomes separate arrays that the function
packs into the same list, a closure's captured values become arguments, a random draw becomes an argument.
"""

import numpy as np
from scipy.special import gammaln, logsumexp
from scipy.stats import multivariate_normal as mvn
from scipy.stats import norm

from .spec import Entry, Origin, one_hot
from . import loops

AUTOGRAD = Origin("autograd", "HIPS/autograd", "MIT",
                  "Copyright (c) 2014 by the President and Fellows of Harvard University")


# examples/rosenbrock.py
def rosenbrock(x):
    return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2


# examples/tanh.py (elementwise_grad(tanh) is the gradient of the sum)
def tanh(x):
    return np.sum((1.0 - np.exp(-x)) / (1.0 + np.exp(-x)))


# examples/logistic_regression.py
def sigmoid(x):
    return 0.5*(np.tanh(x) + 1.0)   # Output ranges from 0 to 1.


def predictions(weights, inputs):
    return sigmoid(np.dot(inputs, weights))   # Outputs probabilities.


def loss(weights, inputs, targets):
    preds = predictions(weights, inputs)
    log_lik = np.sum(np.log(preds) * targets) \
            + np.sum(np.log(1 - preds) * (1 - targets))
    return -log_lik


# examples/neural_net.py
def neural_net_predict(params, inputs):
    """Implements a deep neural network for classification."""
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.tanh(outputs)
    return outputs - logsumexp(outputs, axis=1, keepdims=True)


def l2_norm(params):
    """Computes l2 norm of params by flattening them into a vector."""
    flattened = np.concatenate([np.ravel(a) for layer in params for a in layer])  # was autograd.misc.flatten
    return np.dot(flattened, flattened)


def log_posterior(W1, b1, W2, b2, inputs, targets, L2_reg):
    params = [(W1, b1), (W2, b2)]  # was the argument `params`
    log_prior = -L2_reg * l2_norm(params)
    log_lik = np.sum(neural_net_predict(params, inputs) * targets)
    return log_prior + log_lik


# examples/neural_net_regression.py
def nn_predict(params, inputs, nonlinearity=np.tanh):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = nonlinearity(outputs)
    return outputs


def logprob(W1, b1, W2, b2, W3, b3, inputs, targets, noise_scale=0.1):
    weights = [(W1, b1), (W2, b2), (W3, b3)]  # was the argument `weights`
    predictions = nn_predict(weights, inputs)
    return np.sum(norm.logpdf(predictions, targets, noise_scale))


# examples/gaussian_process.py (make_gp_funs's closures, with cov_func = rbf_covariance)
def unpack_kernel_params(params):
    mean = params[0]
    cov_params = params[2:]
    noise_scale = np.exp(params[1]) + 0.0001
    return mean, cov_params, noise_scale


def rbf_covariance(kernel_params, x, xp):
    output_scale = np.exp(kernel_params[0])
    lengthscales = np.exp(kernel_params[1:])
    diffs = np.expand_dims(x / lengthscales, 1) - np.expand_dims(xp / lengthscales, 0)
    return output_scale * np.exp(-0.5 * np.sum(diffs**2, axis=2))


def log_marginal_likelihood(params, x, y):
    mean, cov_params, noise_scale = unpack_kernel_params(params)
    cov_y_y = rbf_covariance(cov_params, x, x) + noise_scale * np.eye(len(y))
    prior_mean = mean * np.ones(len(y))
    return mvn.logpdf(y, prior_mean, cov_y_y)


# examples/gmm.py (the params dict becomes its three arrays)
def log_normalize(x):
    return x - logsumexp(x)


def unpack_gmm_params(log_proportions, means, lower_triangles):
    normalized_log_proportions = log_normalize(log_proportions)
    return normalized_log_proportions, means, lower_triangles


def gmm_log_likelihood(log_proportions, means, lower_triangles, data):
    cluster_lls = []
    for log_proportion, mean, cov_sqrt in zip(*unpack_gmm_params(log_proportions, means, lower_triangles)):
        cov = np.dot(cov_sqrt.T, cov_sqrt)
        cluster_lls.append(log_proportion + mvn.logpdf(data, mean, cov))
    return np.sum(logsumexp(np.vstack(cluster_lls), axis=0))


# examples/negative_binomial_maxlike.py (fit_maxlike's lambda, with the data x as an argument)
def negbin_loglike(r, p, x):
    # the negative binomial log likelihood we want to maximize
    return gammaln(r+x) - gammaln(r) - gammaln(x+1) + x*np.log(p) + r*np.log(1-p)


def loglike(r, p, x):
    return np.sum(negbin_loglike(r, p, x))


# examples/black_box_svi.py (the closure's D and its random draw become arguments; logprob is the example's)
def gaussian_entropy(log_std, D):
    return 0.5 * D * (1.0 + np.log(2*np.pi)) + np.sum(log_std)


def svi_log_posterior(x, t):
    """An example 2D intractable distribution."""
    mu, log_sigma = x[:, 0], x[:, 1]
    prior       = norm.logpdf(log_sigma, 0, 1.35)
    likelihood  = norm.logpdf(mu,        0, np.exp(log_sigma))
    return prior + likelihood


def variational_objective(params, draws, D, t):
    """Provides a stochastic estimate of the variational lower bound."""
    mean, log_std = params[:D], params[D:]  # was unpack_params(params)
    samples = draws * np.exp(log_std) + mean  # draws was rs.randn(num_samples, D)
    lower_bound = gaussian_entropy(log_std, D) + np.mean(svi_log_posterior(samples, t))
    return -lower_bound


def _network(rng, n, sizes):
    """Weights and biases for layer sizes, scaled as autograd's init_random_params does (scale 0.1 -> 0.5 here, so
    the tanh layers are not all linear)."""
    arrays = []
    for m, k in zip(sizes[:-1], sizes[1:]):
        arrays += [0.5 * rng.standard_normal((m, k)), 0.5 * rng.standard_normal(k)]
    return arrays


def _lower_triangles(rng, k, d):
    return np.tril(0.2 * rng.standard_normal((k, d, d))) + np.eye(d)


def _entry(name, function, wrt, make, path, commit, adaptation, sized=True, loop=None, largest=None):
    return Entry(f"autograd.{name}", function, wrt, make, AUTOGRAD, path, commit, adaptation, sized=sized, loop=loop,
                 largest=largest)


ENTRIES = [
    _entry("rosenbrock", rosenbrock, ("x",), lambda rng, n: (rng.uniform(-2, 2, 2),), "examples/rosenbrock.py",
           "03b7ac8ece9aa0d00ba54846af25ff914017de26", "none", sized=False),
    _entry("tanh", tanh, ("x",), lambda rng, n: (rng.uniform(-7, 7, n),), "examples/tanh.py",
           "03b7ac8ece9aa0d00ba54846af25ff914017de26", "summed: elementwise_grad(tanh) is the gradient of the sum",
           loop=loops.tanh),
    _entry("logistic_regression.loss", loss, ("weights",),
           lambda rng, n: (rng.standard_normal(3), rng.standard_normal((n, 3)), (rng.random(n) > 0.5) * 1.0),
           "examples/logistic_regression.py", "057f6556de388bddf94620330405900ee3c65009",
           "none (targets are 0/1 floats, not booleans)", loop=loops.logistic_loss),
    _entry("neural_net.log_posterior", log_posterior, ("W1", "b1", "W2", "b2"),
           lambda rng, n: (*_network(rng, n, (3, 5, 3)), rng.standard_normal((n, 3)), one_hot(rng, n, 3), 0.1),
           "examples/neural_net.py", "03b7ac8ece9aa0d00ba54846af25ff914017de26",
           "params list -> W1, b1, W2, b2 packed into it; autograd.misc.flatten -> np.concatenate of np.ravel"),
    _entry("neural_net_regression.logprob", logprob, ("W1", "b1", "W2", "b2", "W3", "b3"),
           lambda rng, n: (*_network(rng, n, (1, 4, 4, 1)), rng.uniform(-2, 2, (n, 1)),
                           rng.uniform(-1, 1, (n, 1)), 0.1),
           "examples/neural_net_regression.py", "03b7ac8ece9aa0d00ba54846af25ff914017de26",
           "weights list -> W1, b1, W2, b2, W3, b3 packed into it"),
    _entry("gaussian_process.log_marginal_likelihood", log_marginal_likelihood, ("params",),
           lambda rng, n: (0.1 * rng.standard_normal(4), rng.uniform(-2, 2, (n, 1)), rng.uniform(-0.5, 0.5, n)),
           "examples/gaussian_process.py", "172a8f91075043d3219beb66d65c2a536f049617",
           "make_gp_funs's closures as module functions, cov_func = rbf_covariance",
           largest=1000),  # an n x n covariance: 80 GB at n = 100000
    _entry("gmm.gmm_log_likelihood", gmm_log_likelihood, ("log_proportions", "means", "lower_triangles"),
           lambda rng, n: (0.1 * rng.standard_normal(3), rng.standard_normal((3, 2)), _lower_triangles(rng, 3, 2),
                           rng.standard_normal((n, 2))),
           "examples/gmm.py", "03b7ac8ece9aa0d00ba54846af25ff914017de26",
           "params dict -> its three arrays as arguments"),
    _entry("negative_binomial_maxlike.loglike", loglike, ("r", "p"),
           lambda rng, n: (4.0, 0.4, rng.poisson(5.0, n) * 1.0),
           "examples/negative_binomial_maxlike.py", "0c1c706afcc0d1ab246f23e09957e0eeb457f78a",
           "fit_maxlike's lambda as a function, the data x an argument"),
    _entry("black_box_svi.variational_objective", variational_objective, ("params",),
           lambda rng, n: (np.array([-1.0, 0.5, -0.5, -1.0]), rng.standard_normal((n, 2)), 2, 0),
           "examples/black_box_svi.py", "03346083220e4979cf15d959775b40e3d1f03664",
           "closure values D and rs.randn(num_samples, D) as arguments; unpack_params inlined"),
]
