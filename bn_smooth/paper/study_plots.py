"""The C4 study's figure (experiments/c4_study.py): per-step ratios standard / BatchNorm by
setting, and each run's measures against the stability threshold.

`c4_study(settings, runs, stamp_text)` takes the study's settings (name, label, width,
seeds) and its runs by name (`<setting>_<norm>_lr<lr>_s<seed>`) and returns a Figure.
"""

import matplotlib.colors

from bn_smooth.paper import panels
from bn_smooth.summaries import matched_ratio

SETTING_COLORS = list(matplotlib.colors.TABLEAU_COLORS.values())
LR, LR_HIGH = 0.1, 0.5
MEMBER_STYLES = {f"none_lr{LR:g}": "-", f"batch_lr{LR:g}": "--", f"batch_lr{LR_HIGH:g}": ":"}


def _run(runs, setting, member, seed):
    run = runs.get(f"{setting['name']}_{member}_s{seed}")
    return None if run is None or run.diverged_at is not None else run


def _name(setting) -> str:
    return f"{setting['label']}, width {setting['width']:g}"


def ratio_panel(ax, settings, runs, measure: str, member: str, early_until: int):
    """The per-step ratio standard / BatchNorm of `measure` over training, seed 0 of each
    setting (thin: the other seeds), on a log axis with 1 and 30 marked."""
    for color, setting in zip(SETTING_COLORS, settings, strict=False):
        for k, seed in enumerate(setting["seeds"]):
            a, b = (_run(runs, setting, m, seed) for m in (f"none_lr{LR:g}", member))
            if a is None or b is None:
                continue
            steps, r = matched_ratio(*_measure(a, measure), *_measure(b, measure))
            ax.plot(
                steps,
                r,
                color=color,
                lw=1.3 if k == 0 else 0.5,
                label=_name(setting) if k == 0 else None,
            )
    for level, text in ((1, "1"), (30, "30x")):
        ax.axhline(level, color="0.3", lw=0.8, ls="--" if level > 1 else "-")
        ax.annotate(
            text,
            (1, level),
            xycoords=("axes fraction", "data"),
            fontsize=7,
            ha="right",
            va="bottom",
            color="0.3",
        )
    ax.axvline(early_until, color="0.6", lw=0.6, ls=":")
    ax.set(xlabel="step", ylabel=f"standard / BatchNorm: {measure}", yscale="log")
    ax.grid(alpha=0.3, which="both")


def _measure(run, measure):
    if measure == "lambda_1 lr/2":
        return run.sharpness()
    smooth = run.smoothness()
    return smooth["steps"], smooth[measure]


def threshold_panel(ax, settings, runs, measure: str):
    """`measure` (beta_eff lr/2 or lambda_1 lr/2) of every member, seed 0, against 1."""
    for color, setting in zip(SETTING_COLORS, settings, strict=False):
        for member, ls in MEMBER_STYLES.items():
            run = _run(runs, setting, member, setting["seeds"][0])
            if run is not None:
                ax.plot(*_measure(run, measure), color=color, ls=ls, lw=1.0)
    for member, ls in MEMBER_STYLES.items():
        norm, lr = member.split("_lr")
        ax.plot(
            [],
            [],
            color="0.3",
            ls=ls,
            label=f"{'Standard' if norm == 'none' else 'BatchNorm'}, LR={lr}",
        )
    ax.axhline(1, color="black", lw=0.8)
    ax.set(xlabel="step", ylabel=f"{measure} (1: stability threshold)", yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def distribution_panel(ax, summary):
    """The early per-step ratio of the gradient change per setting and comparison: the
    median, the 10th-90th percentile and the largest step."""
    labels, i = [], 0
    for color, setting in zip(SETTING_COLORS, summary["settings"], strict=False):
        for key, ratios in setting["ratios"].items():
            s = ratios["gradient change"]["early"]
            if not s["count"]:
                continue
            marker = "o" if key.endswith(f"lr{LR:g}") else "s"
            ax.errorbar(
                [i],
                [s["median"]],
                yerr=[[s["median"] - s["p10"]], [s["p90"] - s["median"]]],
                color=color,
                marker=marker,
                capsize=3,
            )
            ax.plot([i], [s["max"]], color=color, marker="^", ls="none")
            labels.append(f"{setting['label']} {setting['width']:g}\nBN lr {key.split('_lr')[1]}")
            i += 1
    ax.axhline(1, color="black", lw=0.8)
    ax.axhline(30, color="0.3", lw=0.8, ls="--")
    ax.set_xticks(range(len(labels)), labels, fontsize=6)
    ax.set(ylabel="standard / BatchNorm, gradient change", yscale="log")
    ax.set_title("(e) early window: median, 10-90%, ▲ largest step", fontsize=9)
    ax.grid(alpha=0.3, which="both", axis="y")


def c4_study(summary, study, runs, stamp_text: str):
    settings = study.settings
    fig = panels.new(2, 3, width=4.4, height=3.4)
    axes = fig.subplots(2, 3)
    member = f"batch_lr{LR:g}"
    for ax, measure, letter in (
        (axes[0, 0], "gradient change", "a"),
        (axes[0, 1], "gradient change / ||g||", "b"),
        (axes[0, 2], "beta_eff", "c"),
    ):
        ratio_panel(ax, settings, runs, measure, member, study.early_until)
        ax.set_title(f"({letter}) {measure}, standard / BatchNorm (LR=0.1)", fontsize=9)
    axes[0, 0].legend(fontsize=6)
    threshold_panel(axes[1, 0], settings, runs, "beta_eff lr/2")
    axes[1, 0].set_title("(d) beta_eff lr/2, seed 0", fontsize=9)
    distribution_panel(axes[1, 1], summary)
    threshold_panel(axes[1, 2], settings, runs, "lambda_1 lr/2")
    axes[1, 2].set_title("(f) lambda_1 lr/2 (Lanczos), seed 0", fontsize=9)
    return panels.finish(
        fig,
        "The C4 study: how much smoother BatchNorm makes VGG, by depth, "
        "width, seed and learning rate",
        stamp_text,
    )
