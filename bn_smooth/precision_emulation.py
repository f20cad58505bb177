"""What reduced-precision products would do to the measurements, emulated on a CPU.

The deep linear network of appendix A in functional form, its products pluggable: float64
(the reference), float32, and float32 with every product's operands rounded as a TPU's
bfloat16 pass or a GPU's TensorFloat-32 rounds them (bn_smooth.rounding). Each measures,
with the library's own functions, the loss, figure 4's line search (the gradient change at
the smallest and the largest step size, beta_eff), the ICS cosine of Definition 2.1 and
lambda_1; `relative_errors` compares each against float64. experiments.precision_emulation
writes the table of docs/precision.md.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from bn_smooth import curvature, ics, landscape, models, norms, rounding, tasks, train

FORMATS = ("float32", "tf32", "bfloat16")  # each against float64
MEASURES = (
    "loss",
    "gradient change, smallest eta",
    "gradient change, largest eta",
    "beta_eff",
    "ICS cosine, last layer",
    "ICS 1 - cosine, last layer",
    "lambda_1",
)


def dln_loss(params, x, y, matmul, normalized: bool):
    """models.DeepLinearNet's loss (summed squared error), every product by `matmul`."""
    layers = models.layer_order(params)
    for i, name in enumerate(layers):
        x = matmul(x, params[name]["dense"]["kernel"])
        if normalized and i < len(layers) - 1:
            x = norms.batch_standardize(x, norms.BatchNorm.epsilon)[0]
    return jnp.sum(jnp.square(x - y))


def matmul_of(fmt: str):
    if fmt in ("float64", "float32"):
        return functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
    return rounding.rounded_matmul(rounding.MANTISSA_BITS[fmt])


def lambda_1(loss_fn, params, num_steps: int):
    """The top Hessian eigenvalue by Lanczos, HVPs reverse over reverse (custom VJPs, as
    the rounded products are, have no forward mode)."""
    flat, unravel = ravel_pytree(params)

    def matvec(v):
        def along(p):
            return optax.tree.vdot(jax.grad(loss_fn)(p), unravel(v))

        return ravel_pytree(jax.grad(along)(params))[0]

    v0 = jax.random.normal(jax.random.key(1), flat.shape, flat.dtype)
    values, _ = curvature.lanczos(matvec, v0, num_steps, jax.random.key(2)).eigh()
    return jnp.max(values)


def measurer(fmt: str, config):
    """(data, params, after) -> every measure of MEASURES at `params` (`after`: one step
    later, for ICS) on `data` (x, y), in `fmt`, compiled once; float64 is double precision
    throughout (call it under jax.enable_x64)."""
    dtype = jnp.float64 if fmt == "float64" else jnp.float32
    section = config.probe.landscape
    etas = config.lr * np.geomspace(section.eta_min, section.eta_max, section.num_etas)

    @jax.jit
    def measures(data, params, after):
        loss_fn = functools.partial(
            dln_loss, x=data[0], y=data[1], matmul=matmul_of(fmt), normalized=config.norm == "batch"
        )
        search = landscape.gradient_line_search(loss_fn, params, etas, strategy="map")
        layers = models.layer_order(params)
        last = ics.internal_covariate_shift(loss_fn, params, after, layers, strategy="map")
        cosine = last[layers[-1]].cosine
        return {
            "loss": search.loss0,
            "gradient change, smallest eta": search.grad_dists[0],
            "gradient change, largest eta": search.grad_dists[-1],
            "beta_eff": search.beta_eff,
            "ICS cosine, last layer": cosine,
            "ICS 1 - cosine, last layer": 1 - cosine,
            "lambda_1": lambda_1(loss_fn, params, config.probe.curvature.num_steps),
        }

    def measure(data, params, after) -> dict:
        cast = functools.partial(jax.tree.map, lambda a: jnp.asarray(a, dtype))
        return {k: float(v) for k, v in measures(*cast((data, params, after))).items()}

    return measure


def states(config, steps: int):
    """The data (x, y), and {step: (params, params one GD step later)} at initialization
    and after `steps` steps, trained in float32 by the library (the DLN's training does
    not depend on the machine)."""
    task, data = tasks.make_task(config)
    tx = train.make_optimizer(config)
    state = train.init_state(task, tx, config.seed)
    step = train.make_train_step(task, tx)
    out, done = {}, 0
    for target in (0, steps):
        while done < target:
            state, _ = step(state, data, None)
            done += 1
        nxt, _ = step(state, data, None)
        out[target] = (jax.device_get(state.params), jax.device_get(nxt.params))
    return (np.asarray(data.train_inputs), np.asarray(data.train_targets)), out


def relative_errors(config, steps: int) -> list[dict]:
    """Per state and measure: the float64 value and each format's relative error."""
    data, by_step = states(config, steps)
    with jax.enable_x64(True):
        in_float64 = measurer("float64", config)
        reference = {s: in_float64(data, *pair) for s, pair in by_step.items()}
    measures = {fmt: measurer(fmt, config) for fmt in FORMATS}
    rows = []
    for step, (params, after) in by_step.items():
        values = {fmt: measure(data, params, after) for fmt, measure in measures.items()}
        for name in MEASURES:
            exact = reference[step][name]
            rows.append(
                dict(
                    step=step,
                    measure=name,
                    float64=exact,
                    **{f: abs(values[f][name] - exact) / abs(exact) for f in FORMATS},
                )
            )
    return rows
