"""The learning-rate sweep's summary (lr_sweep.json), table (lr_sweep.md) and figure
(lr_sweep.png): per network and learning rate, the final loss, where it went non-finite,
whether it trains (bn_smooth.sweep_results), and the largest learning rate that does.
Claim C8 of REPORT.md reads the summary (bn_smooth/paper/lr_claim.py)."""

import json
from pathlib import Path

import numpy as np

from bn_smooth import sweep_results
from bn_smooth.norms import LABELS as NORM_LABELS
from bn_smooth.paper import panels
from bn_smooth.paper.markdown import fmt, read_summary, table

SUMMARY, MARKDOWN, FIGURE = "lr_sweep.json", "lr_sweep.md", "lr_sweep.png"
NETWORKS = {"vgg": "VGG", "dln": "DLN"}


def summarize(config, runs) -> dict:
    """{scale, seed, trains_rule, runs: {name: sweep_results.summary + task, norm,
    num_steps, description}} of the sweep runs that exist."""
    return {
        "scale": config.scale,
        "seed": config.seed,
        "trains_rule": sweep_results.TRAINS,
        "runs": {
            name: {
                "task": run.config["task"],
                "norm": run.norm,
                "num_steps": run.num_steps,
                "description": run.description(),
                "status": run.status["message"],
                **sweep_results.summary(run),
            }
            for name, run in runs.items()
        },
    }


def load(folder) -> dict | None:
    return read_summary(folder, SUMMARY)


def largest(entry: dict) -> str:
    """The largest learning rate that trains, as text: '>= x' at the grid's top."""
    if entry["largest_trainable"] is None:
        return f"none (of {fmt(min(entry['lrs']))} to {fmt(max(entry['lrs']))})"
    return (">= " if entry["largest_is_top"] else "") + fmt(entry["largest_trainable"])


def _outcome(entry: dict, i: int) -> str:
    if entry["diverged_at"][i] is not None:
        return f"diverged at step {entry['diverged_at'][i]:,}"
    return "trains" if entry["trains"][i] else "does not train"


def run_table(entry: dict) -> str:
    vgg = entry["task"] == "vgg_cifar"
    head = ["lr", "loss at step 0", "final loss / reference", "outcome", "as fixed"]
    head += ["final train acc.", "test acc."] if vgg else []
    rows = []
    for i, lr in enumerate(entry["lrs"]):
        row = [
            fmt(lr),
            fmt(entry["initial_loss"][i]),
            fmt(entry["final_loss"][i] / entry["reference_loss"][i]),
            _outcome(entry, i),
            "trains" if entry["trains_as_fixed"][i] else "does not",
        ]
        if vgg:
            row += [fmt(entry["final_accuracy"][i]), fmt(entry["test_accuracy"][i])]
        rows.append(row)
    return table(head, rows)


def write(figures, summary: dict, seconds: dict, command: str):
    """figures/lr_sweep.json and figures/lr_sweep.md."""
    figures = Path(figures)
    (figures / SUMMARY).write_text(json.dumps(summary, indent=1, allow_nan=True))
    lines = [
        "# The learning-rate sweep: the largest learning rate at which each network trains\n",
        f"Made with `python -m experiments.lr_sweep {command}` at the **{summary['scale']}** "
        f"scale, seed {summary['seed']}: {sum(seconds.values()) / 60:.1f} min on this "
        f"machine. The figure is [{FIGURE}]({FIGURE}); claim C8 of REPORT.md reads it.\n",
        "Each network is one run: one model per learning rate, trained side by side in one "
        "vmapped program, each the run it would be alone (bn_smooth.sweep). A model "
        "*trains* when its loss stays finite and its final training loss (the running mean "
        f"over the last 1/30 of the steps) is at most {summary['trains_rule']:g} times its "
        "reference loss: its loss at step 0, or for VGG the chance loss ln 10 where that is "
        "lower. The grids were fixed before the runs, and so was the rule, with the loss at "
        "step 0 alone (column *as fixed*): BatchNorm's VGG starts at 3.8, above chance, "
        "and passed that rule at learning rates where its accuracy stayed at chance, so the "
        "reference was changed after the runs; both are reported.\n",
    ]
    for name, entry in summary["runs"].items():
        lines += [
            f"## {NETWORKS[name.split('_')[0]]}, {NORM_LABELS.get(entry['norm'], entry['norm'])}"
            f" ({name})\n",
            f"{entry['description']}; {entry['status']}. Largest learning rate that trains: "
            f"**{largest(entry)}** (by the rule as fixed: "
            f"{fmt(entry['largest_as_fixed']) if entry['largest_as_fixed'] else 'none'}).\n",
            run_table(entry),
        ]
    (figures / MARKDOWN).write_text("\n".join(lines))


def figure(summary: dict, stamp: str):
    """Final loss over the reference loss against the learning rate, one panel per
    network; a cross where a model's loss went non-finite, the rule's line dashed."""
    tasks = list(dict.fromkeys(name.split("_")[0] for name in summary["runs"]))
    fig = panels.new(1, len(tasks), width=4.6)
    axes = np.atleast_1d(fig.subplots(1, len(tasks)))
    for ax, task in zip(axes, tasks, strict=True):
        for name, entry in summary["runs"].items():
            if name.split("_")[0] != task:
                continue
            lrs = np.array(entry["lrs"])
            rel = np.array(entry["final_loss"], float) / np.array(entry["reference_loss"], float)
            color = panels.COLORS.get(entry["norm"], "black")
            label = f"{NORM_LABELS.get(entry['norm'], entry['norm'])}: up to {largest(entry)}"
            ax.plot(lrs, rel, "o-", color=color, label=label)
            bad = np.array([d is not None for d in entry["diverged_at"]])
            ax.plot(  # at the top of the panel: a diverged model has no final loss
                lrs[bad],
                np.full(bad.sum(), 0.97),
                "x",
                color=color,
                markersize=9,
                transform=ax.get_xaxis_transform(),
            )
        ax.axhline(
            summary["trains_rule"], color="0.4", linestyle="--", linewidth=1, label="trains below"
        )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="learning rate",
            ylabel="final loss / reference loss",
            title=f"{NETWORKS[task]} (x: diverged)",
        )
        ax.legend(fontsize=7)
    return panels.finish(fig, "The largest learning rate that trains (claim C8)", stamp)
