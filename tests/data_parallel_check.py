"""Run by test_sharding.py with two forced CPU devices: one and two devices, same numbers.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python tests/data_parallel_check.py DIR

Prints one JSON object: per device count, the losses, probe values, BatchNorm
running averages and how the batch was laid out.
"""

import json
import sys

import jax
import numpy as np

from bn_smooth import probes, tasks, train
from tests.conftest import dln_config, tiny_vgg_config


def run(config, num_devices: int) -> dict:
    config.num_devices = num_devices
    config.probe.curvature.update(dict(every=1, num_steps=6, exact=False))
    task, data = tasks.make_task(config)
    tx = train.make_optimizer(config)
    state = train.init_state(task, tx, config.seed)
    step_fn = train.make_train_step(task, tx)
    order = train.EpochOrder(task, data, state.stream("data"))
    x, _ = jax.jit(task.batch)(data, state.stream("data"), state.step, order(0))
    losses = []
    for t in range(config.num_steps):
        state, metrics = step_fn(state, data, order(t))
        losses.append(float(metrics["loss"]))
    p = probes.Probes(task, tx, config, state.params)
    landscape = p.run("landscape", state, data)
    ics = p.run("ics", state, data)
    curvature = p.run("curvature", state, data)
    return {
        "devices": len(jax.tree.leaves(state.params)[0].sharding.device_set),
        "batch_shards": sorted({tuple(s.data.shape) for s in x.addressable_shards}),
        "batch_devices": len(x.sharding.device_set),
        "losses": losses,
        "landscape": np.asarray(landscape["losses"]).tolist(),
        "grad_dists": np.asarray(landscape["grad_dists"]).tolist(),
        "ics_cosine": np.asarray(ics["cosine"]).tolist(),
        "curvature": np.asarray([*curvature["eigenvalues"][:2], curvature["hg_norm"]]).tolist(),
        "batch_stats": [np.asarray(v).tolist() for v in jax.tree.leaves(state.batch_stats)],
    }


if __name__ == "__main__":
    assert jax.device_count() == 2, "run with XLA_FLAGS=--xla_force_host_platform_device_count=2"
    from pathlib import Path

    vgg = tiny_vgg_config(Path(sys.argv[1]), norm="batch", num_steps=4)
    dln = dln_config(norm="batch", num_steps=3)
    print(
        json.dumps(
            {
                name: {n: run(config, n) for n in (1, 2)}
                for name, config in (("vgg", vgg), ("dln", dln))
            }
        )
    )
