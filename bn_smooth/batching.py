"""Evaluating a function at many points (step sizes, layers, grid cells) inside jit.

How is a performance choice per backend, not a matter of meaning: `vmap` runs
all points as one batched program, `map` (lax.map) runs them one after another
in a compiled loop, `unroll` traces the function once per point. All three give
the same values and are themselves jit- and vmap-able.
"""

import jax
import jax.numpy as jnp

from bn_smooth.errors import ConfigError

STRATEGIES = ("vmap", "map", "unroll")


def default_strategy(over: str = "points") -> str:
    """The strategy measured fastest for probes on the current backend.

    `over`: "points" (step sizes, grid cells: the same computation at each) or
    "layers" (ICS: layer i's gradient at its own mix). On CPU (measurements in
    docs/speed.md):

    - points: `map`, the fastest to run and several times faster to compile
      than `unroll`;
    - layers: `unroll`. Unrolled, XLA keeps of each mix's backward pass only
      what its own layer's gradient needs, where a loop or a batch computes
      every layer's gradient at every mix; with static indices (ics.py) the
      mixes also share their forward pass through the updated layers.

    Accelerators batch well under vmap. Small dense models (the DLN) compile
    much faster under lax.map, which their config selects.
    """
    if over not in ("points", "layers"):
        raise ValueError(f"over must be 'points' or 'layers', not {over!r}")
    if jax.default_backend() != "cpu":
        return "vmap"
    return "map" if over == "points" else "unroll"


def batched_map(fn, xs, strategy: str | None = None, over: str = "points"):
    """[fn(x) for x in xs] stacked along a new leading axis, xs a pytree of arrays.

    `strategy` None: `default_strategy(over)`.
    """
    strategy = strategy or default_strategy(over)
    if strategy == "vmap":
        return jax.vmap(fn)(xs)
    if strategy == "map":
        return jax.lax.map(fn, xs)
    if strategy == "unroll":
        n = jax.tree.leaves(xs)[0].shape[0]
        outs = [fn(jax.tree.map(lambda a, i=i: a[i], xs)) for i in range(n)]
        return jax.tree.map(lambda *o: jnp.stack(o), *outs)
    raise ConfigError(f"unknown batching strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
