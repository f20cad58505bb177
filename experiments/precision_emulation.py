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


def relative_errors(scale: str, steps: int) -> dict[str, list[dict]]:
    """{norm: bn_smooth.precision_emulation.relative_errors of the DLN with it}."""
    return {
        norm: precision_emulation.relative_errors(
            dln.get_config(f"norm={norm},scale={scale}"), steps
        )
        for norm in NETWORKS
    }


def markdown(errors: dict[str, list[dict]], scale: str, steps: int) -> str:
    """The page: what was measured, and one row per network, state and measure."""
    rows = [
        [
            NETWORKS[norm],
            r["measure"],
            f"{r['step']:,}",
            fmt(r["float64"]),
            *[fmt(r[f]) for f in precision_emulation.FORMATS],
        ]
        for norm, rows_of_norm in errors.items()
        for r in rows_of_norm
    ]
    config = dln.get_config(f"scale={scale}")
    search = config.probe.landscape
    return "\n".join(
        [
            "# Reduced-precision products, emulated: relative error against float64\n",
            f"Made with `python -m experiments.precision_emulation --scale={scale} "
            f"--steps={steps}`: the {config.model.depth}-layer DLN on "
            f"{config.num_samples:,} samples, at initialization and after {steps:,} GD steps "
            f"at lr {config.lr:g}; the line search at {search.num_etas} step sizes in "
            f"[{search.eta_min:g}, {search.eta_max:g}] x lr, ICS of the last layer with the GD "
            f"update, lambda_1 from {config.probe.curvature.num_steps} Lanczos steps. Each "
            "column is |value - float64| / |float64|; TF32 and bfloat16 round both operands "
            "of every product (forward, backward, and the HVPs') to 10 and 7 mantissa bits.\n",
            table(HEADER, rows),
            "",
        ]
    )


def main(argv):
    cli.check_no_arguments(argv)
    cli.setup()
    errors = relative_errors(_SCALE.value, _STEPS.value)
    text = markdown(errors, _SCALE.value, _STEPS.value)
    Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_OUT.value).write_text(text)
    print(text)


if __name__ == "__main__":
    cli.run(main)
