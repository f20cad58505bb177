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
from bn_smooth.paper import precision_report
from experiments import cli

_SCALE = flags.DEFINE_enum("scale", "cpu", ["cpu", "smoke"], "The DLN config's scale.")
_STEPS = flags.DEFINE_integer("steps", 1000, "The trained state: after this many GD steps.")
_OUT = flags.DEFINE_string("out", "figures/precision_emulation.md", "Where to write the table.")


def relative_errors(scale: str, steps: int) -> dict[str, list[dict]]:
    """{norm: bn_smooth.precision_emulation.relative_errors of the DLN with it}."""
    return {
        norm: precision_emulation.relative_errors(
            dln.get_config(f"norm={norm},scale={scale}"), steps
        )
        for norm in precision_report.NETWORKS
    }


def main(argv):
    cli.check_no_arguments(argv)
    cli.setup()
    errors = relative_errors(_SCALE.value, _STEPS.value)
    text = precision_report.markdown(errors, _SCALE.value, _STEPS.value)
    Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
    Path(_OUT.value).write_text(text)
    print(text)


if __name__ == "__main__":
    cli.run(main)
