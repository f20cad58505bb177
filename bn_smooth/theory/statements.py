"""The statements of section 4 and appendix C, each a check on one instance.

Every check takes an instance and its `quantities` and returns `lhs` and `rhs`
of `lhs <= rhs` (or `==`) and a `scale` (the size of the terms), so that a
verdict is read off the largest relative violation and the smallest slack.
bn_smooth.theory.table lists what the table shows, each with the form it checks.
"""

import jax
import jax.numpy as jnp
import numpy as np

from bn_smooth.theory.instances import UNIT, normalize
from bn_smooth.theory.trust_region import max_quadratic_on_ball


def _lipschitz_rhs(g, q):
    """gamma^2/sigma^2 (||g||^2 - <1,g>^2/m - <g,yhat>^2/m): the right side of Theorem 4.1."""
    m = q["m"]
    return (q["gamma"] / q["sigma"]) ** 2 * (g @ g - jnp.sum(g) ** 2 / m - (g @ q["yhat"]) ** 2 / m)


def _lipschitz_scale(q, *grads):
    """The size of the terms of Theorem 4.1, to judge a violation against."""
    return (q["gamma"] / q["sigma"]) ** 2 * jnp.max(jnp.stack([g @ g for g in grads]))


# ---------------------------------------------------------------------------
# The statements. Each maps an instance to {"lhs", "rhs", ...conditions}.


def fact_c1(inst, q):
    """Fact C.1: dL^/dy_j = gamma/(m sigma) (m g - sum g - yhat <g, yhat>), g = dL^/dz_j."""
    g, m = q["g_hat"], q["m"]
    closed = q["gamma"] / (m * q["sigma"]) * (m * g - jnp.sum(g) - q["yhat"] * (g @ q["yhat"]))
    return {
        "lhs": q["grad_y"],
        "rhs": closed,
        "scale": q["gamma"] / q["sigma"] * jnp.linalg.norm(g),
    }


def fact_c2(inst, q):
    """Fact C.2: d yhat_b / d y_k = (1[b=k] - 1/m - yhat_b yhat_k / m) / sigma."""
    y = inst.x @ inst.w
    m = q["m"]
    jac = jax.jacobian(lambda col: normalize(y.at[:, UNIT].set(col))[0][:, UNIT])(y[:, UNIT])
    closed = (jnp.eye(m) - 1 / m - jnp.outer(q["yhat"], q["yhat"]) / m) / q["sigma"]
    return {"lhs": jac, "rhs": closed, "scale": 1 / q["sigma"]}


def theorem_4_1_identity(inst, q):
    """Theorem 4.1 as proved (eq. 9), with g = dL^/dz_j: an equality."""
    return {
        "lhs": q["grad_y"] @ q["grad_y"],
        "rhs": _lipschitz_rhs(q["g_hat"], q),
        "scale": _lipschitz_scale(q, q["g_hat"]),
    }


def theorem_4_1_printed(inst, q):
    """Theorem 4.1 as printed, with dL/dy_j of the standard network at its own y."""
    return {
        "lhs": q["grad_y"] @ q["grad_y"],
        "rhs": _lipschitz_rhs(q["grad_std"], q),
        "scale": _lipschitz_scale(q, q["g_hat"], q["grad_std"]),
    }


def _curvature_terms(q):
    g = q["grad_y"]
    scale = (q["gamma"] / q["sigma"]) ** 2
    separation = q["gamma"] / (q["m"] * q["sigma"] ** 2) * (q["g_hat"] @ q["yhat"]) * (g @ g)
    return g, scale, separation


def _curvature_scale(q, g, scale, separation):
    """The size of the terms of Theorem 4.2, to judge a violation against."""
    return scale * (g @ g) * jnp.abs(jnp.linalg.eigvalsh(q["H"])).max() + jnp.abs(separation)


def _conditions(q):
    return {
        "hessian_psd": jnp.linalg.eigvalsh(q["H"]).min() >= -1e-10,
        "yhat_dot_ghat_positive": q["g_hat"] @ q["yhat"] > 0,
    }


def theorem_4_2_first(inst, q):
    """Theorem 4.2, first statement, with g = dL^/dy_j:

    g' H_y g <= gamma^2/sigma^2 g' H g - gamma/(m sigma^2) <g_hat, yhat> ||g||^2.
    """
    g, scale, separation = _curvature_terms(q)
    return {
        "lhs": g @ q["H_y"] @ g,
        "rhs": scale * (g @ q["H"] @ g) - separation,
        "scale": _curvature_scale(q, q["g_hat"], scale, separation),
        **_conditions(q),
    }


def theorem_4_2_second(inst, q):
    """Theorem 4.2, second statement, with g = dL^/dy_j:

    g' H_y g <= gamma^2/sigma^2 (g_hat' H g_hat - <g_hat, yhat> ||g||^2 / (m gamma)).

    Its extra assumption, that H "preserves the relative norms" of g_hat and g,
    is read as equal Rayleigh quotients; `assumption_gap` measures it.
    """
    g, scale, separation = _curvature_terms(q)
    gh = q["g_hat"]
    rayleigh = lambda v: v @ q["H"] @ v / (v @ v)  # noqa: E731
    return {
        "lhs": g @ q["H_y"] @ g,
        "rhs": scale * (gh @ q["H"] @ gh) - separation,
        "scale": _curvature_scale(q, gh, scale, separation),
        "assumption_gap": jnp.abs(rayleigh(g) - rayleigh(gh)),
        "grad_not_larger": g @ g <= gh @ gh,
        **_conditions(q),
    }


def observation_4_3(inst, q, epsilon: float = 1e-5):
    """Observation 4.3 on the library's BatchNorm: gamma = sqrt(var + eps), beta = mu give z = y."""
    from bn_smooth import norms

    y = inst.x @ inst.w
    bn = norms.get_norm("batch", epsilon=epsilon)()
    variables = bn.init(jax.random.key(0), y, train=False)
    variables["params"] = {"scale": jnp.sqrt(y.var(0) + epsilon), "bias": y.mean(0)}
    z, _ = bn.apply(variables, y, train=True, mutable=["batch_stats"])
    return {"lhs": z, "rhs": y, "scale": jnp.abs(y).max()}


def theorem_4_4(inst, q, lam: float = 2.0):
    """Theorem 4.4 with the activation gradients held fixed, as its proof does.

    For fixed v, max_{||X||_2 <= lam} ||X^T v||^2 = lam^2 ||v||^2 (eqs. 10, 16, 18),
    so g_hat_j = lam^2 ||dL^/dy_j||^2 and g_j = lam^2 ||dL/dy_j||^2 (squared norms).
    Corrected: g_hat_j <= gamma^2/sigma^2 (g_j - lam^2 m mu_g^2 - lam^2 <dL/dy_j, yhat>^2 / m),
    an equality under the identical-loss reading dL/dy_j = g_hat.
    """
    g, m = q["g_hat"], q["m"]
    g_hat_j = lam**2 * (q["grad_y"] @ q["grad_y"])
    g_j = lam**2 * (g @ g)
    mu_g = jnp.mean(g)
    scale = (q["gamma"] / q["sigma"]) ** 2
    corrected = scale * (g_j - lam**2 * m * mu_g**2 - lam**2 * (g @ q["yhat"]) ** 2 / m)
    printed = scale * (g_j**2 - m * mu_g**2 - lam**2 * (g @ q["yhat"]) ** 2)
    eq17 = lam**2 * scale * (g @ g - jnp.sum(g) ** 2 / m - (g @ q["yhat"]) ** 2 / jnp.sqrt(m))
    return {
        "lhs": g_hat_j,
        "corrected": corrected,
        "printed": printed,
        "eq17": eq17,
        "scale": scale * jnp.maximum(g_j, g_j**2),
    }


def theorem_c_1(inst, q):
    """Theorem C.1 (minimax smoothness), with activation-space quantities held fixed.

    As in its proof, grad_W = X' v and Hess_W = X' A X, so the quantity is
    (M v)' A (M v) with M = X X', 0 <= M <= lam^2 I (d >= m). {M v} is exactly the
    ball ||w - lam^2 v/2|| <= lam^2 ||v||/2, so both maxima are trust-region
    problems, solved exactly by `finish_c_1`; everything is in units of lam^4.
    BN side: v = dL^/dy_j, A = d2L^/dy_j2; standard side (identical loss):
    v = g_hat, A = H. kappa = <g_hat, yhat> ||dL^/dy_j||^2 / (m gamma), the
    separation of Theorem 4.2. Step (58) of the proof takes the BN maximum to be
    its value at M = lam^2 I.

    What holds (`as_proved`): at M = lam^2 I the BN value is exactly Theorem 4.2's
    lam^4 (gamma^2/sigma^2 g'Hg - separation) with g = dL^/dy_j = (gamma/sigma) P g_hat
    (P projects out 1 and yhat). P g_hat lies on the standard side's ball
    (||P g_hat||^2 = <P g_hat, g_hat>), so g'Hg <= (gamma/sigma)^2 max_ball w'Hw:
    the proof's value is at most gamma^2/sigma^2 (gamma^2/sigma^2 max_X beta - lam^4 kappa).
    """
    g, gh = q["grad_y"], q["g_hat"]
    kappa = (gh @ q["yhat"]) * (g @ g) / (q["m"] * q["gamma"])
    scale = (q["gamma"] / q["sigma"]) ** 2
    size = scale * (gh @ gh) ** 2 * jnp.abs(jnp.linalg.eigvalsh(q["H"])).max() + jnp.abs(
        scale * kappa
    )
    return {
        "g": g,
        "H_y": q["H_y"],
        "g_hat": gh,
        "H": q["H"],
        "kappa": kappa,
        "bn_scale": scale,
        "at_identity": g @ q["H_y"] @ g,
        "size": size,
        **_conditions(q),
    }


def finish_c_1(out) -> dict:
    """The host half of `theorem_c_1`: both maxima, exactly."""
    norm = np.linalg.norm
    bn_max = max_quadratic_on_ball(out["H_y"], out["g"] / 2, norm(out["g"], axis=-1) / 2)
    std_max = max_quadratic_on_ball(out["H"], out["g_hat"] / 2, norm(out["g_hat"], axis=-1) / 2)
    scale = out["bn_scale"]
    return {
        "lhs": bn_max,
        "printed": scale * (std_max - out["kappa"]),
        "as_proved": scale * (scale * std_max - out["kappa"]),
        "at_identity": out["at_identity"],
        "scale": np.asarray(out["size"]) + np.abs(bn_max) + 1e-300,
        **{k: out[k] for k in ("hessian_psd", "yhat_dot_ghat_positive")},
    }


def lemma_4_5(key, dim: int = 12):
    """Lemma 4.5 for the closest BN optimum on the ray {a W*, a > 0}, with <W0, W*> > 0.

    ||W0 - a* W*||^2 vs ||W0 - W*||^2 - (||W*||^2 - <W*, W0>)^2 / ||W*||^2.
    """
    k0, k1 = jax.random.split(key)
    w0 = jax.random.normal(k0, (dim,))
    w_star = jax.random.normal(k1, (dim,)) * 3.0
    w_star = jnp.where(w0 @ w_star > 0, w_star, -w_star)  # the lemma's condition
    a = (w0 @ w_star) / (w_star @ w_star)  # the closest point of the ray
    lhs = jnp.sum((w0 - a * w_star) ** 2)
    nw = w_star @ w_star
    rhs = jnp.sum((w0 - w_star) ** 2) - (nw - w_star @ w0) ** 2 / nw
    return {"lhs": lhs, "rhs": rhs, "scale": w0 @ w0}


def scale_invariance(inst, q, a: float, epsilon: float = 1e-5):
    """BN((aW)x) = BN(Wx) on the library's BatchNorm, and the error its eps explains.

    With eps, BN(a y) - BN(y) = yhat * (1/sqrt(1 + eps/(a^2 var)) - 1/sqrt(1 + eps/var))
    per unit; `explained` is that difference, computed in closed form.
    """
    from bn_smooth import norms

    y = inst.x @ inst.w
    bn = norms.get_norm("batch", epsilon=epsilon, use_scale=False, use_bias=False)()
    variables = bn.init(jax.random.key(0), y, train=False)

    def apply(v):
        return bn.apply(variables, v, train=True, mutable=["batch_stats"])[0]

    var = y.var(0)
    yhat = (y - y.mean(0)) / jnp.sqrt(var)
    explained = yhat * (1 / jnp.sqrt(1 + epsilon / (a**2 * var)) - 1 / jnp.sqrt(1 + epsilon / var))
    return {"lhs": apply(a * y) - apply(y), "rhs": explained, "scale": jnp.abs(yhat).max()}
