"""docs/precision.md's table: the emulated effect of reduced-precision products on the DLN's
measurements (bn_smooth.precision_emulation), written by experiments.precision_emulation."""

from bn_smooth import precision_emulation
from bn_smooth.configs import dln
from bn_smooth.paper.markdown import fmt, table

NETWORKS = {"none": "Standard", "batch": "Standard + BatchNorm"}
HEADER = ["network", "measure", "step", "float64 value", "float32", "TF32", "bfloat16"]


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
