"""What reduced-precision products would change in the measurements: the deep linear
network's line search, ICS and lambda_1 with every product's operands rounded as a TPU's
bfloat16 pass and a GPU's TensorFloat-32 round them, against float64
(bn_smooth.precision_emulation).

    python -m experiments.precision_emulation --out=figures/precision_emulation.md

At the DLN's cpu (= paper) scale, both networks, at initialization and after 1,000 GD
steps: 40 seconds on 2 cores. docs/precision.md shows the table it writes.
"""

from pathlib import Path

from absl import flags

from bn_smooth import precision_emulation
from bn_smooth.configs import dln
from bn_smooth.paper.markdown import fmt, table
from experiments import cli

_SCALE = flags.DEFINE_enum("scale", "cpu", ["cpu", "smoke"], "The DLN config's scale.")
_STEPS = flags.DEFINE_integer("steps", 1000, "The trained state: after this many GD steps.")
_OUT = flags.DEFINE_string("out", "figures/precision_emulation.md", "Where to write the table.")

NETWORKS = {"none": "Standard", "batch": "Standard + BatchNorm"}
HEADER = ["network", "measure", "step", "float64 value", "float32", "TF32", "bfloat16"]


def rows_of(scale: str, steps: int) -> list[list[str]]:
    out = []
    for norm, label in NETWORKS.items():
        config = dln.get_config(f"norm={norm},scale={scale}")
        for r in precision_emulation.relative_errors(config, steps):
            errors = [fmt(r[f]) for f in precision_emulation.FORMATS]
            out.append([label, r["measure"], f"{r['step']:,}", fmt(r["float64"]), *errors])
    return out


def main(argv):
    cli.check_no_arguments(argv)
    cli.setup()
    rows = rows_of(_SCALE.value, _STEPS.value)
    config = dln.get_config(f"scale={_SCALE.value}")
    text = "\n".join(
        [
            "# Reduced-precision products, emulated: relative error against float64\n",
            f"Made with `python -m experiments.precision_emulation --scale={_SCALE.value} "
            f"--steps={_STEPS.value}`: the {config.model.depth}-layer DLN on "
            f"{config.num_samples:,} samples, at initialization and after {_STEPS.value:,} "
            f"GD steps at lr {config.lr:g}; the line search at {config.probe.landscape.num_etas} "
            f"step sizes in [{config.probe.landscape.eta_min:g}, "
            f"{config.probe.landscape.eta_max:g}] x lr, ICS of the last layer with the GD "
            f"update, lambda_1 from {config.probe.curvature.num_steps} Lanczos steps. Each "
            "column is |value - float64| / |float64|; TF32 and bfloat16 round both operands "
            "of every product (forward, backward, and the HVPs') to 10 and 7 mantissa bits.\n",
            table(HEADER, rows),
            "",
        ]
    )
    Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_OUT.value).write_text(text)
    print(text)


if __name__ == "__main__":
    cli.run(main)
