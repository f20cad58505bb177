"""Beyond BatchNorm: every normalizer that uses no batch statistics, beside the standard
and the BatchNorm VGG, under the same instruments (issue "Beyond BatchNorm").

    python -m experiments.norm_comparison \
        --config=bn_smooth/configs/norm_comparison.py:scale=cpu --workdir=runs/norm_comparison

Each run trains in `workdir/<name>` (bn_smooth/configs/norm_comparison.py); finished runs
are skipped and interrupted ones resume, so re-running the command only does what is
missing and rewrites the comparison's table (norm_comparison.md and .json) and figure
(norm_comparison.png) in --figures (default: WORKDIR/figures).
"""

import sys

from bn_smooth import precision
from bn_smooth.paper import norm_comparison
from experiments import cli, study


def write(config, runs, figures, times, messages) -> str:
    summary = norm_comparison.summarize(config, runs)
    norm_comparison.write(figures, summary, times.seconds, command=" ".join(sys.argv[1:]))
    stamp = (
        f"bn_smooth norm_comparison, scale={config.scale}, seed {config.seed}: "
        f"{len(config.norms)} normalizers; {precision.describe(r.config for r in runs.values())}"
    )
    norm_comparison.figure(summary, runs, stamp).savefig(figures / norm_comparison.FIGURE, dpi=110)
    return (
        f"{len(messages)} runs; verdict: {summary['verdict']}; wrote "
        f"{norm_comparison.MARKDOWN}, {norm_comparison.SUMMARY} and {norm_comparison.FIGURE} "
        f"to {figures}/"
    )


main = study.main("norm_comparison", write)

if __name__ == "__main__":
    cli.run(main)
