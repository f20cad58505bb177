"""Numerical checks of section 4 and appendix C, in float64, with JAX autodiff.

The setup is figure 5: inputs X (m x d), a fully connected layer y = X W,
optionally BatchNorm z = gamma * yhat + beta with yhat = (y - mu) / sigma
(exact batch statistics, no eps), then a downstream loss L (a random MLP with
softmax cross-entropy or an l2 loss). Everything is measured for one unit j.

Notation as in the paper: g_hat = dL^/dz_j (the gradient the BN network
sees above the normalization), grad_y = dL^/dy_j, H = d2L^/dz_j2. The
paper's proofs assume the "identical loss" setup, dL^/dz_j = dL/dy_j and
equal Hessians; each check says which reading it tests.

Every check takes an instance and its `quantities` and returns `lhs` and `rhs`
of `lhs <= rhs` (or `==`) and a `scale` (the size of the terms), so that a
verdict is read off the largest relative violation and the smallest slack.
Call these inside `jax.enable_x64(True)`.
"""

import dataclasses
import platform
from collections.abc import Callable
from pathlib import Path

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


def sample(key, m: int, loss: str = "xent", d: int = 6, n: int = 4, hidden: int = 16,
           outputs: int = 5) -> Instance:
    """Random X, W, gamma, beta and a downstream loss: 'xent', 'l2', 'quadratic' or 'linear'."""
    k = jax.random.split(key, 8)
    x = jax.random.normal(k[0], (m, d)) * jax.random.uniform(k[1], (), minval=0.2, maxval=3.0)
    w = jax.random.normal(k[2], (d, n))
    gamma = jax.random.uniform(k[3], (n,), minval=0.2, maxval=3.0)
    beta = jax.random.normal(k[4], (n,))
    mlp = (jax.random.normal(k[5], (n, hidden)) / np.sqrt(n), jnp.zeros(hidden),
           jax.random.normal(k[6], (hidden, outputs)) / np.sqrt(hidden))
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
        "m": inst.m, "y": y[:, j], "yhat": yhat[:, j], "sigma": sigma[j], "mu": mu[j],
        "gamma": inst.gamma[j],
        "g_hat": jax.grad(f_z)(z[:, j]),  # dL^/dz_j
        "grad_y": jax.grad(f_y)(y[:, j]),  # dL^/dy_j
        "grad_std": jax.grad(lambda yy: downstream(inst, yy))(y)[:, j],  # dL/dy_j, no BN
        "H": jax.hessian(f_z)(z[:, j]),  # d2L^/dz_j2
        "H_y": jax.hessian(f_y)(y[:, j]),  # d2L^/dy_j2
    }


def _lipschitz_rhs(g, q):
    """gamma^2/sigma^2 (||g||^2 - <1,g>^2/m - <g,yhat>^2/m): the right side of Theorem 4.1."""
    m = q["m"]
    return (q["gamma"] / q["sigma"]) ** 2 * (
        g @ g - jnp.sum(g) ** 2 / m - (g @ q["yhat"]) ** 2 / m)


def _lipschitz_scale(q, *grads):
    """The size of the terms of Theorem 4.1, to judge a violation against."""
    return (q["gamma"] / q["sigma"]) ** 2 * jnp.max(jnp.stack([g @ g for g in grads]))


# ---------------------------------------------------------------------------
# The statements. Each maps an instance to {"lhs", "rhs", ...conditions}.


def fact_c1(inst, q):
    """Fact C.1: dL^/dy_j = gamma/(m sigma) (m g - sum g - yhat <g, yhat>), g = dL^/dz_j."""
    g, m = q["g_hat"], q["m"]
    closed = q["gamma"] / (m * q["sigma"]) * (m * g - jnp.sum(g) - q["yhat"] * (g @ q["yhat"]))
    return {"lhs": q["grad_y"], "rhs": closed,
            "scale": q["gamma"] / q["sigma"] * jnp.linalg.norm(g)}


def fact_c2(inst, q):
    """Fact C.2: d yhat_b / d y_k = (1[b=k] - 1/m - yhat_b yhat_k / m) / sigma."""
    y = inst.x @ inst.w
    m = q["m"]
    jac = jax.jacobian(lambda col: normalize(y.at[:, UNIT].set(col))[0][:, UNIT])(y[:, UNIT])
    closed = (jnp.eye(m) - 1 / m - jnp.outer(q["yhat"], q["yhat"]) / m) / q["sigma"]
    return {"lhs": jac, "rhs": closed, "scale": 1 / q["sigma"]}


def theorem_4_1_identity(inst, q):
    """Theorem 4.1 as proved (eq. 9), with g = dL^/dz_j: an equality."""
    return {"lhs": q["grad_y"] @ q["grad_y"], "rhs": _lipschitz_rhs(q["g_hat"], q),
            "scale": _lipschitz_scale(q, q["g_hat"])}


def theorem_4_1_printed(inst, q):
    """Theorem 4.1 as printed, with dL/dy_j of the standard network at its own y."""
    return {"lhs": q["grad_y"] @ q["grad_y"], "rhs": _lipschitz_rhs(q["grad_std"], q),
            "scale": _lipschitz_scale(q, q["g_hat"], q["grad_std"])}


def _curvature_terms(q):
    g = q["grad_y"]
    scale = (q["gamma"] / q["sigma"]) ** 2
    separation = q["gamma"] / (q["m"] * q["sigma"] ** 2) * (q["g_hat"] @ q["yhat"]) * (g @ g)
    return g, scale, separation


def _curvature_scale(q, g, scale, separation):
    """The size of the terms of Theorem 4.2, to judge a violation against."""
    return scale * (g @ g) * jnp.abs(jnp.linalg.eigvalsh(q["H"])).max() + jnp.abs(separation)


def _conditions(q):
    return {"hessian_psd": jnp.linalg.eigvalsh(q["H"]).min() >= -1e-10,
            "yhat_dot_ghat_positive": q["g_hat"] @ q["yhat"] > 0}


def theorem_4_2_first(inst, q):
    """Theorem 4.2, first statement, with g = dL^/dy_j:

    g' H_y g <= gamma^2/sigma^2 g' H g - gamma/(m sigma^2) <g_hat, yhat> ||g||^2.
    """
    g, scale, separation = _curvature_terms(q)
    return {"lhs": g @ q["H_y"] @ g, "rhs": scale * (g @ q["H"] @ g) - separation,
            "scale": _curvature_scale(q, q["g_hat"], scale, separation), **_conditions(q)}


def theorem_4_2_second(inst, q):
    """Theorem 4.2, second statement, with g = dL^/dy_j:

    g' H_y g <= gamma^2/sigma^2 (g_hat' H g_hat - <g_hat, yhat> ||g||^2 / (m gamma)).

    Its extra assumption, that H "preserves the relative norms" of g_hat and g,
    is read as equal Rayleigh quotients; `assumption_gap` measures it.
    """
    g, scale, separation = _curvature_terms(q)
    gh = q["g_hat"]
    rayleigh = lambda v: v @ q["H"] @ v / (v @ v)  # noqa: E731
    return {"lhs": g @ q["H_y"] @ g, "rhs": scale * (gh @ q["H"] @ gh) - separation,
            "scale": _curvature_scale(q, gh, scale, separation),
            "assumption_gap": jnp.abs(rayleigh(g) - rayleigh(gh)),
            "grad_not_larger": g @ g <= gh @ gh, **_conditions(q)}


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
    return {"lhs": g_hat_j, "corrected": corrected, "printed": printed, "eq17": eq17,
            "scale": scale * jnp.maximum(g_j, g_j**2)}


def max_quadratic_on_ball(a, center, radius, iterations: int = 200):
    """max of w'Aw over ||w - center|| <= radius, exactly (a trust-region subproblem).

    numpy, batched over leading axes. By the S-lemma the maximum equals the
    minimum over nu >= max(lambda_max(A), 0) of the dual
    g(nu) = nu r^2 + sum_i c_i^2 nu e_i / (nu - e_i) (e, c: A's eigenvalues and
    the center in its eigenbasis). g is convex with g' = r^2 - phi(nu), where
    phi(nu) = sum_i c_i^2 e_i^2 / (nu - e_i)^2 decreases, so bisection on
    phi = r^2 finds the minimizer; if phi <= r^2 already at the lower end (the
    "hard case", or A negative semi-definite) the minimum is there. (Run on the
    host: as a lax loop inside the large vmapped float64 program it stalled XLA:CPU.)
    """
    e, q = np.linalg.eigh(np.asarray(a, np.float64))
    c2 = np.einsum("...ij,...i->...j", q, np.asarray(center, np.float64)) ** 2
    r2 = np.asarray(radius, np.float64) ** 2
    scale = np.abs(e).max(-1) + 1e-300
    lo = np.maximum(e[..., -1], 0.0) + 1e-12 * scale

    def safe_sum(terms_fn, nu):  # components with c_i = 0 contribute 0 (also at nu = e_i)
        gap = np.maximum(nu[..., None] - e, 1e-300)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(c2 > 0, terms_fn(gap), 0.0).sum(-1)

    def phi(nu):
        return safe_sum(lambda gap: c2 * e**2 / gap**2, nu)

    left = lo
    right = lo + np.sqrt((c2 * e**2).sum(-1) / np.maximum(r2, 1e-300)) + scale  # phi <= r2
    for _ in range(iterations):
        mid = (left + right) / 2
        above = phi(mid) > r2
        left, right = np.where(above, mid, left), np.where(above, right, mid)
    nu = np.where(phi(lo) <= r2, lo, right)
    return nu * r2 + safe_sum(lambda gap: c2 * nu[..., None] * e / gap, nu)


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
        scale * kappa)
    return {"g": g, "H_y": q["H_y"], "g_hat": gh, "H": q["H"], "kappa": kappa,
            "bn_scale": scale, "at_identity": g @ q["H_y"] @ g, "size": size,
            **_conditions(q)}


def finish_c_1(out) -> dict:
    """The host half of `theorem_c_1`: both maxima, exactly."""
    norm = np.linalg.norm
    bn_max = max_quadratic_on_ball(out["H_y"], out["g"] / 2, norm(out["g"], axis=-1) / 2)
    std_max = max_quadratic_on_ball(out["H"], out["g_hat"] / 2, norm(out["g_hat"], axis=-1) / 2)
    scale = out["bn_scale"]
    return {"lhs": bn_max, "printed": scale * (std_max - out["kappa"]),
            "as_proved": scale * (scale * std_max - out["kappa"]),
            "at_identity": out["at_identity"],
            "scale": np.asarray(out["size"]) + np.abs(bn_max) + 1e-300,
            **{k: out[k] for k in ("hessian_psd", "yhat_dot_ghat_positive")}}


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


# ---------------------------------------------------------------------------
# The table


@dataclasses.dataclass(frozen=True)
class Statement:
    name: str
    form: str  # "as printed", "as proved", "corrected", ...
    relation: str  # "==" or "<="
    check: Callable  # instance -> dict with lhs, the rhs under `rhs`, scale
    rhs: str = "rhs"
    losses: tuple = ("xent", "l2")
    lhs: str = "lhs"
    host: Callable | None = None  # a numpy step after the compiled one, if any


STATEMENTS = (
    Statement("Fact C.1", "as printed", "==", fact_c1),
    Statement("Fact C.2", "as printed", "==", fact_c2),
    Statement("Theorem 4.1", "as proved (eq. 9), dL/dy = dL^/dz", "==", theorem_4_1_identity),
    Statement("Theorem 4.1", "as printed, dL/dy of the standard network", "<=",
              theorem_4_1_printed),
    Statement("Theorem 4.2 (first)", "as printed, dL/dy = dL^/dz", "<=", theorem_4_2_first),
    Statement("Theorem 4.2 (second)", "as printed, H = I (assumption exact)", "<=",
              theorem_4_2_second, losses=("quadratic",)),
    Statement("Theorem 4.2 (second)", "as printed, MLP losses (assumption approximate)", "<=",
              theorem_4_2_second),
    Statement("Observation 4.3", "library BatchNorm, gamma = sqrt(var + eps), beta = mu", "==",
              observation_4_3),
    Statement("Theorem 4.4", "corrected: squared norms, lambda^2 on every term, 1/m", "<=",
              theorem_4_4, rhs="corrected"),
    Statement("Theorem 4.4", "as printed", "<=", theorem_4_4, rhs="printed"),
    Statement("Theorem 4.4, eq. 17", "as printed (1/sqrt(m))", "<=", theorem_4_4, rhs="eq17"),
    Statement("Theorem C.1", "as printed (max over ||X|| <= lambda, exact)", "<=", theorem_c_1,
              rhs="printed", host=finish_c_1),
    Statement("Theorem C.1", "as printed, H = I (Theorem 4.2's assumption exact)", "<=",
              theorem_c_1, rhs="printed", losses=("quadratic",), host=finish_c_1),
    Statement("Theorem C.1", "as printed, L linear in z (H = 0): no constant on the standard "
              "maximum helps", "<=", theorem_c_1, rhs="printed", losses=("linear",),
              host=finish_c_1),
    Statement("Theorem C.1", "as proved: at the proof's maximizer XX' = lambda^2 I, "
              "gamma^4/sigma^4 on the standard maximum", "<=", theorem_c_1, lhs="at_identity",
              rhs="as_proved", host=finish_c_1),
    Statement("Theorem C.1, step (58)", "max over X equals the value at XX' = lambda^2 I",
              "==", theorem_c_1, rhs="at_identity", host=finish_c_1),
    Statement("Lemma 4.5 scale invariance", "library BatchNorm, eps = 1e-5, a = 0.01",
              "==", lambda inst, q: scale_invariance(inst, q, 0.01)),
)

BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
TOLERANCE = 1e-8  # relative to each instance's scale; float64 round-off is ~1e-15


def _violations(out, relation, lhs_key, rhs_key):
    """Per instance: relative violation and relative slack (None for equalities)."""
    lhs, rhs = np.asarray(out[lhs_key]), np.asarray(out[rhs_key])
    scale = np.maximum(np.asarray(out["scale"]), 1e-300).reshape(-1, *[1] * (lhs.ndim - 1))
    diff = (lhs - rhs) / scale
    axes = tuple(range(1, diff.ndim))
    if relation == "==":
        return np.abs(diff).max(axis=axes) if axes else np.abs(diff), None
    return np.maximum(diff, 0), -diff


def _evaluate_group(statements, m: int, loss: str, keys):
    """All `statements` on the instances of `keys`: one compiled program per (m, loss)."""

    # Statements that share a check (the forms of 4.4 and of C.1) share its evaluation.
    checks = list(dict.fromkeys(st.check for st in statements))

    def one(key):
        inst = sample(key, m, loss)
        q = quantities(inst)
        return [check(inst, q) for check in checks]

    outs = dict(zip(checks, jax.device_get(jax.jit(jax.vmap(one))(keys)), strict=True))
    finished = {}
    for st in statements:
        if st.check not in finished:
            finished[st.check] = st.host(outs[st.check]) if st.host else outs[st.check]
    return [finished[st.check] for st in statements]


def _summarize(st: Statement, outs: list[tuple[int, str, dict]]) -> dict:
    violations, slacks, worst, extras = [], [], None, {}
    for m, loss, out in outs:
        v, sl = _violations(out, st.relation, st.lhs, st.rhs)
        violations.append(v)
        if sl is not None:
            slacks.append(sl)
        for key in ("hessian_psd", "yhat_dot_ghat_positive", "grad_not_larger"):
            if key in out:
                extras.setdefault(key, []).append(np.asarray(out[key]))
        i = int(np.argmax(v))
        if worst is None or v[i] > worst["violation"]:
            worst = {"violation": float(v[i]), "m": m, "loss": loss,
                     "lhs": float(np.ravel(out[st.lhs][i])[0]),
                     "rhs": float(np.ravel(out[st.rhs][i])[0])}
    violations = np.concatenate(violations)
    if np.isnan(violations).any():
        raise FloatingPointError(f"{st.name} ({st.form}): NaN on {np.isnan(violations).sum()} "
                                 "instances; the check itself is broken there")
    result = {"statement": st.name, "form": st.form, "relation": st.relation,
              "instances": len(violations), "max_violation": float(violations.max()),
              "min_slack": float(np.concatenate(slacks).min()) if slacks else None,
              "violated": int((violations > TOLERANCE).sum()), "worst": worst}
    for key, parts in extras.items():
        result[key] = float(np.concatenate(parts).mean())
    for key in ("grad_not_larger", "yhat_dot_ghat_positive"):  # violations where it holds
        if key in extras:
            ok = np.concatenate(extras[key]).astype(bool)
            result[f"violated_when_{key}"] = int((violations[ok] > TOLERANCE).sum())
    result["verdict"] = _verdict(result)
    return result


def run_statements(statements, instances: int, seed: int = 0,
                   batch_sizes=BATCH_SIZES) -> list[dict]:
    """Each statement on about `instances` instances spread over batch sizes and its losses."""
    outs = {st: [] for st in statements}
    losses = sorted({loss for st in statements for loss in st.losses})
    for loss in losses:
        group = [st for st in statements if loss in st.losses]
        # Statements evaluated together share their losses, hence one count per group.
        per_group = -(-instances // (len(batch_sizes) * len(group[0].losses)))
        for m in batch_sizes:
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), m), len(loss))
            results = _evaluate_group(group, m, loss, jax.random.split(key, per_group))
            for st, out in zip(group, results, strict=True):
                outs[st].append((m, loss, out))
    return [_summarize(st, outs[st]) for st in statements]


def _verdict(r) -> str:
    if r["violated"] == 0:
        verdict = "holds (equality)" if r["relation"] == "==" else "holds"
    else:
        w = r["worst"]
        verdict = (f"false: {r['violated']}/{r['instances']} violated; e.g. m={w['m']}, "
                   f"{w['loss']} loss: lhs {w['lhs']:.4g} > rhs {w['rhs']:.4g}")
    if "violated_when_grad_not_larger" in r:
        verdict += (f"; {r['violated_when_grad_not_larger']} violated where "
                    f"norm(dL^/dy) <= norm(g_hat) ({r['grad_not_larger']:.0%} of instances)")
    if "hessian_psd" in r:
        verdict += (f"; H PSD on {r['hessian_psd']:.0%}, <yhat, g_hat> > 0 on "
                    f"{r['yhat_dot_ghat_positive']:.0%}")
        if r["violated"]:
            verdict += f" ({r['violated_when_yhat_dot_ghat_positive']} violations among those)"
    return verdict


def lemma_4_5_rows(instances: int, seed: int = 0) -> dict:
    keys = jax.random.split(jax.random.key(seed), instances)
    out = jax.jit(jax.vmap(lemma_4_5))(keys)
    v, _ = _violations(out, "==", "lhs", "rhs")
    r = {"statement": "Lemma 4.5", "form": "closest optimum on the ray {a W*}, <W0, W*> > 0",
         "relation": "==", "instances": instances, "max_violation": float(v.max()),
         "min_slack": None, "violated": int((v > TOLERANCE).sum()), "worst": None}
    r["verdict"] = _verdict(r)
    return r


def check_all(instances: int = 1000, seed: int = 0, batch_sizes=BATCH_SIZES) -> list[dict]:
    """Every statement on `instances` random instances each (call under enable_x64)."""
    return (run_statements(STATEMENTS, instances, seed, batch_sizes)
            + [lemma_4_5_rows(instances, seed)])


def markdown_table(rows) -> str:
    head = ("| statement | form checked | relation | instances | largest violation | "
            "smallest slack | verdict |\n|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        slack = "-" if r["min_slack"] is None else f"{r['min_slack']:.3g}"
        cells = [r["statement"], r["form"], r["relation"], r["instances"],
                 f"{r['max_violation']:.3g}", slack, r["verdict"]]
        # A literal '|' (as in ||X||) would split a markdown cell.
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return head + "\n".join(lines) + "\n"


TABLE_NOTES = """
## Reading the table

Setup of section 4.1 and figure 5: X (m x d) -> y = XW -> BatchNorm (exact batch
statistics) -> z = gamma * yhat + beta -> a downstream loss (a random two-layer
ReLU MLP with softmax cross-entropy or an l2 loss; `quadratic` is
1/2 ||z - t||^2). Batch sizes m = 2, 4, ..., 256; random gamma, beta, W, X;
float64 and JAX autodiff. A violation is (lhs - rhs) divided by the size of
the terms on that instance; anything above 1e-8 counts.

- **Facts C.1 and C.2** hold exactly.
- **Theorem 4.1.** The proof (eqs. 3-9) establishes an *equality*,
  ||dL^/dy_j||^2 = gamma^2/sigma_j^2 (||g||^2 - <1,g>^2/m - <g,yhat_j>^2/m) with
  g = dL^/dz_j, the gradient the BN network sees above the normalization; the
  printed inequality is then the equality under the setup's assumption
  dL^/dz_j = dL/dy_j. Read literally, with dL/dy_j the gradient of the
  standard network at its own activations, the inequality is false (counterexamples above).
- **Theorem 4.2, first statement**, holds, and with equality: along g = dL^/dy_j,
  which is orthogonal to 1 and yhat_j, the Hessian through BatchNorm is exactly
  gamma^2/sigma^2 g'Hg - gamma/(m sigma^2) <g_hat, yhat> ||g||^2. Its sign
  conditions (H PSD, <yhat, g_hat> > 0) are not needed for the identity; they
  only make the separation term a reduction.
- **Theorem 4.2, second statement**, is false as printed even when its extra
  assumption holds exactly (a quadratic loss, H = I, so every direction has the
  same Rayleigh quotient): it then reduces to ||dL^/dy_j|| <= ||g_hat||, which
  fails when gamma > sigma_j. The table counts the violations among the
  instances where ||dL^/dy_j|| <= ||g_hat|| (implied by gamma <= sigma_j, via
  Theorem 4.1), the condition under which the statement follows.
- **Observation 4.3** holds on the library's BatchNorm (gamma = sqrt(var + eps), beta = mu).
- **Theorem 4.4.** With the activation gradients held fixed, as the proof does,
  max_{||X|| <= lambda} ||X^T v||^2 = lambda^2 ||v||^2. The true form is
  g_hat_j <= gamma^2/sigma_j^2 (g_j - lambda^2 m mu_g^2 - lambda^2 <dL/dy_j, yhat_j>^2 / m)
  with g_j, g_hat_j the maxima of the *squared* gradient norms (an equality
  under the identical-loss reading). The printed statement (g_j^2, no lambda^2
  on the mean term, no 1/m on the last) and eq. 17 (1/sqrt(m) where eq. 9 gives
  1/m) are false.
- **Lemma 4.5** holds with equality for the closest BN optimum on the ray
  {a W*, a > 0} (BatchNorm is scale invariant, so the whole ray is optimal);
  scale invariance BN((aW)x) = BN(Wx) holds on the library's BatchNorm up to
  exactly the difference its eps predicts.
- **Theorem C.1** (minimax smoothness). With the activation-space gradient
  and Hessian held fixed, as its proof does, the quantity is (Mv)'A(Mv) with
  M = XX' and 0 <= M <= lambda^2 I; {Mv} is exactly the ball
  ||w - lambda^2 v/2|| <= lambda^2 ||v||/2, so both maxima are trust-region
  problems, solved exactly here (S-lemma dual, bisection; primal points
  certify the value in the tests). Step (58) of the proof takes the maximum to
  be the value at XX' = lambda^2 I, which is only a lower bound, and the
  printed bound fails on many instances, including ones where H is PSD and
  <yhat, g_hat> > 0 (see the counts in the table). No constant in front of the
  standard maximum repairs it: with a loss linear in z (H = 0) the right side
  is -lambda^4 gamma^2/sigma^2 kappa whatever the constant, while BatchNorm's own
  curvature (its Hessian maps yhat to -dL^/dy_j / sigma) lifts the left side
  above it. **What is true** is the statement at the proof's maximizer:
  lambda^4 g'H_y g <= gamma^2/sigma^2 (gamma^2/sigma^2 max_{||X|| <= lambda} beta
  - lambda^4 kappa), with g = dL^/dy_j, because g = (gamma/sigma) P g_hat and
  P g_hat lies on the standard side's ball.
"""


def write_markdown(rows, path, command: str, seconds: float):
    """The table, how it was made, and TABLE_NOTES (what each verdict means), as markdown."""
    header = (f"# Section 4 and appendix C, checked numerically\n\n{command} ({seconds:.0f} s "
              f"on {platform.machine()}, jax {jax.__version__}).\n\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + markdown_table(rows) + TABLE_NOTES)
