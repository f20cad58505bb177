"""Random instances of the setup of figure 5 and the quantities every statement uses.

Inputs X (m x d), a fully connected layer y = X W, optionally BatchNorm
z = gamma * yhat + beta with yhat = (y - mu) / sigma (exact batch statistics,
no eps), then a downstream loss L. Everything is measured for one unit j.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

UNIT = 0  # the unit j every statement is checked on


@dataclasses.dataclass(frozen=True)
class Instance:
    """One random setup of figure 5; `loss` is 'xent' or 'l2'."""

    x: jax.Array
    w: jax.Array
    gamma: jax.Array
    beta: jax.Array
    mlp: tuple
    targets: jax.Array
    loss: str

    @property
    def m(self) -> int:
        return self.x.shape[0]


def sample(
    key, m: int, loss: str = "xent", d: int = 6, n: int = 4, hidden: int = 16, outputs: int = 5
) -> Instance:
    """Random X, W, gamma, beta and a downstream loss: 'xent', 'l2', 'quadratic' or 'linear'."""
    k = jax.random.split(key, 8)
    x = jax.random.normal(k[0], (m, d)) * jax.random.uniform(k[1], (), minval=0.2, maxval=3.0)
    w = jax.random.normal(k[2], (d, n))
    gamma = jax.random.uniform(k[3], (n,), minval=0.2, maxval=3.0)
    beta = jax.random.normal(k[4], (n,))
    mlp = (
        jax.random.normal(k[5], (n, hidden)) / np.sqrt(n),
        jnp.zeros(hidden),
        jax.random.normal(k[6], (hidden, outputs)) / np.sqrt(hidden),
    )
    if loss == "xent":
        targets = jax.random.randint(k[7], (m,), 0, outputs)
    elif loss in ("quadratic", "linear"):
        targets = jax.random.normal(k[7], (m, n))
    else:
        targets = jax.random.normal(k[7], (m, outputs))
    return Instance(x, w, gamma, beta, mlp, targets, loss)


def downstream(inst: Instance, z):
    """L(z): the MLP and its loss, averaged over the batch.

    'quadratic' is L(z) = 1/2 ||z - t||^2 with no MLP: its Hessian is the
    identity, so every vector has the same Rayleigh quotient (the extra
    assumption of Theorem 4.2's second statement holds exactly). 'linear' is
    L(z) = <t, z>: its Hessian is zero, so all curvature comes from BatchNorm.
    """
    if inst.loss == "quadratic":
        return 0.5 * jnp.sum((z - inst.targets) ** 2)
    if inst.loss == "linear":
        return jnp.sum(inst.targets * z)
    v1, c1, v2 = inst.mlp
    out = jax.nn.relu(z @ v1 + c1) @ v2
    if inst.loss == "xent":
        logp = jax.nn.log_softmax(out)
        return -jnp.mean(jnp.take_along_axis(logp, inst.targets[:, None], 1))
    return 0.5 * jnp.mean(jnp.sum((out - inst.targets) ** 2, -1))


def normalize(y):
    """(yhat, mu, sigma) per column, exact batch statistics."""
    mu = y.mean(0)
    sigma = jnp.sqrt(jnp.mean((y - mu) ** 2, 0))
    return (y - mu) / sigma, mu, sigma


def bn_loss(inst: Instance, y):
    """L^(y) = L(gamma * yhat + beta)."""
    return downstream(inst, inst.gamma * normalize(y)[0] + inst.beta)


def _column(f: Callable, full, j=UNIT):
    """f restricted to column j of `full`, as a function of that column."""
    return lambda col: f(full.at[:, j].set(col))


def quantities(inst: Instance) -> dict:
    """Every quantity the statements use, for unit j."""
    y = inst.x @ inst.w
    yhat, mu, sigma = normalize(y)
    z = inst.gamma * yhat + inst.beta
    j = UNIT
    f_z = _column(lambda zz: downstream(inst, zz), z)
    f_y = _column(lambda yy: bn_loss(inst, yy), y)
    return {
        "m": inst.m,
        "y": y[:, j],
        "yhat": yhat[:, j],
        "sigma": sigma[j],
        "mu": mu[j],
        "gamma": inst.gamma[j],
        "g_hat": jax.grad(f_z)(z[:, j]),  # dL^/dz_j
        "grad_y": jax.grad(f_y)(y[:, j]),  # dL^/dy_j
        "grad_std": jax.grad(lambda yy: downstream(inst, yy))(y)[:, j],  # dL/dy_j, no BN
        "H": jax.hessian(f_z)(z[:, j]),  # d2L^/dz_j2
        "H_y": jax.hessian(f_y)(y[:, j]),  # d2L^/dy_j2
    }
