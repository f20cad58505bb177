"""Where the VGG training step's time goes, layer by layer.

    pip install -e ".[bench]"
    python -m experiments.benchmark_layers [--widths=0.125,0.25,1] [--formulation=winograd]

Times every 3x3 convolution and 2x2 max pooling of VGG-11 on CIFAR-10 shapes,
forward and backward as a training step runs them (the first convolution
without its input's gradient), batch 128, float32: ours with the formulation
the layer gets by default (bn_smooth.layers), STEPS_PER_CALL times in one
lax.scan as the training loop's windows run them, against PyTorch eager's
`F.conv2d` / `F.max_pool2d` (NCHW, as the benchmark's reference network) as
many times in a Python loop; median of repeats after a warm-up, in one
process, in milliseconds per step. Ratio = PyTorch / ours.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from bn_smooth import layers, models
from experiments.timing import median_time
from experiments.torch_reference import BATCH, STEPS_PER_CALL

_WIDTHS = flags.DEFINE_list("widths", ["0.125", "0.25", "1"], "VGG-11 widths to time.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats per layer (median).")
_FORMULATION = flags.DEFINE_enum(
    "formulation",
    None,
    layers.FORMULATIONS,
    "Time every convolution in this formulation (default: the one each layer gets by default).",
)
_OUT = flags.DEFINE_string(
    "layers_json_out", "benchmark_layers.json", "Where to write the rows as JSON."
)


def as_training_runs(loss, params, *inputs):
    """STEPS_PER_CALL gradient steps on `params` in one lax.scan, as the training loop's
    windows run them (alone, a jitted step also pays for faulting in XLA:CPU's temporaries,
    up to several times the convolution's time on the narrow layers)."""
    grad = jax.value_and_grad(loss)

    @jax.jit
    def window(params, inputs):
        def step(params, _):
            value, g = grad(params, *inputs)
            return jax.tree.map(lambda p, d: p - 1e-6 * d, params, g), value

        return jax.lax.scan(step, params, None, length=STEPS_PER_CALL)

    return lambda: jax.block_until_ready(window(params, inputs))


def ours_conv(size, c_in, c_out, first, formulation=None):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((BATCH, size, size, c_in)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((3, 3, c_in, c_out)) / np.sqrt(9 * c_in), jnp.float32)
    r = jnp.asarray(rng.standard_normal((BATCH, size, size, c_out)), jnp.float32)
    if first:  # the images get no gradient
        return as_training_runs(
            lambda k, x, r: jnp.sum(layers.conv3x3(x, k, formulation) * r), k, x, r
        )
    return as_training_runs(lambda xk, r: jnp.sum(layers.conv3x3(*xk, formulation) * r), (x, k), r)


def ours_pool(size, channels):
    x = jnp.asarray(
        np.random.default_rng(0).standard_normal((BATCH, size, size, channels)), jnp.float32
    )
    return as_training_runs(lambda x: jnp.sum(layers.max_pool2x2(x) ** 2), x)


def torch_conv(size, c_in, c_out, first):
    import torch
    import torch.nn.functional as F

    x = torch.randn(BATCH, c_in, size, size, requires_grad=not first)
    w = torch.randn(c_out, c_in, 3, 3, requires_grad=True)
    r = torch.randn(BATCH, c_out, size, size)

    def run():
        for _ in range(STEPS_PER_CALL):
            (F.conv2d(x, w, padding=1) * r).sum().backward()

    return run


def torch_pool(size, channels):
    import torch
    import torch.nn.functional as F

    x = torch.randn(BATCH, channels, size, size, requires_grad=True)

    def run():
        for _ in range(STEPS_PER_CALL):
            (F.max_pool2d(x, 2) ** 2).sum().backward()

    return run


def print_row(width, layer, formulation, ours_s, torch_s):
    print(
        f"{width:>6g} {layer:<22} {formulation:<12} {ours_s * 1e3:>8.2f} "
        f"{torch_s * 1e3:>9.2f} {torch_s / ours_s:>10.2f}",
        flush=True,
    )


def main(argv):
    del argv
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    rows = []
    print(
        f"{'width':>6} {'layer':<22} {'formulation':<12} {'ours ms':>8} {'torch ms':>9} "
        f"{'torch/ours':>10}"
    )
    for width in map(float, _WIDTHS.value):
        for index, (size, c_in, c_out, pooled) in enumerate(models.vgg_conv_shapes("vgg11", width)):
            ops = [
                (
                    "conv",
                    f"{size}x{size} {c_in}->{c_out}",
                    _FORMULATION.value or layers.default_formulation((BATCH, size, size, c_in)),
                    ours_conv(size, c_in, c_out, index == 0, _FORMULATION.value),
                    torch_conv(size, c_in, c_out, index == 0),
                )
            ]
            if pooled:
                ops.append(
                    (
                        "pool",
                        f"{size}x{size} x{c_out}",
                        layers.default_formulation(),
                        ours_pool(size, c_out),
                        torch_pool(size, c_out),
                    )
                )
            for kind, shape, formulation, ours, ref in ops:
                ours_s = median_time(ours, _REPEATS.value) / STEPS_PER_CALL
                torch_s = median_time(ref, _REPEATS.value) / STEPS_PER_CALL
                rows.append(
                    {
                        "width": width,
                        "layer": f"{kind} {shape}",
                        "kind": kind,
                        "formulation": formulation,
                        "ours_s": ours_s,
                        "torch_s": torch_s,
                        "ratio": torch_s / ours_s,
                    }
                )
                print_row(width, rows[-1]["layer"], formulation, ours_s, torch_s)
        for kind in ("conv", "pool"):
            mine = [r for r in rows if r["width"] == width and r["kind"] == kind]
            print_row(
                width,
                f"all {kind}s",
                "",
                sum(r["ours_s"] for r in mine),
                sum(r["torch_s"] for r in mine),
            )
    with open(_OUT.value, "w") as f:
        json.dump(
            {
                "meta": {
                    "jax": jax.__version__,
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "batch": BATCH,
                    "repeats": _REPEATS.value,
                },
                "rows": rows,
            },
            f,
            indent=1,
        )
    print(f"wrote {_OUT.value}")


if __name__ == "__main__":
    app.run(main)
