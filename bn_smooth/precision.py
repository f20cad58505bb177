"""The precision of the matrix products and convolutions in a run's programs.

JAX multiplies float32 at the backend's default precision, which is float32 only on CPUs:
TPUs multiply in bfloat16 passes, and GPUs from Ampere on in TensorFloat-32 (a 10-bit
mantissa). The probes measure effects of that size (gradient changes at eta = 1e-8,
cosines near 1), and the paper's runs were full float32. So every program a run builds is
traced at a named precision (config.precision: `train` for the training steps and the
evaluation, `probes` for every probe), `highest` by default; `default`, the backend's, is
the opt-in for speed. On a CPU the two compute the same.
"""

import functools

import jax
import jax.numpy as jnp

PRECISIONS = ("highest", "default")
HIGHEST = jax.lax.Precision.HIGHEST


def of(config, part: str) -> str:
    """config.precision.`part` ('train' or 'probes'); 'highest' where a config has none."""
    return (config.get("precision") or {}).get(part, "highest")


def describe(configs) -> str:
    """What figures and reports say of their runs' arithmetic, e.g. "float32 products at
    highest precision" (configs: dicts or ConfigDicts)."""
    settings = sorted({(of(c, "train"), of(c, "probes")) for c in configs})
    parts = [
        f"{t} precision" if t == p else f"{t} precision in training, {p} in the probes"
        for t, p in settings
    ]
    return "float32 products at " + "; ".join(parts)


def traced_at(precision: str, fn):
    """`fn` with every product traced at `precision` (wrap it before jax.jit)."""

    @functools.wraps(fn)
    def traced(*args, **kwargs):
        with jax.default_matmul_precision(precision):
            return fn(*args, **kwargs)

    return traced


def of_vectors():
    """The precision of a probe's own vector algebra (inner products, Lanczos): its
    program's where one is set (`traced_at`), else HIGHEST, so that the library's functions
    called on their own keep full float32 on every backend."""
    return None if jax.config.jax_default_matmul_precision is not None else HIGHEST


def tree_vdot(a, b):
    """The inner product of two pytrees, at `of_vectors()`."""
    # tensordot over every axis, not vdot: vdot ravels, which a sharded leaf pays for.
    dots = [
        jnp.tensordot(x, y, x.ndim, precision=of_vectors())
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    ]
    return sum(dots[1:], dots[0])
