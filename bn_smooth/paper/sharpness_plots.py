"""Figures beyond the paper, from the curvature probes: sharpness.png, the top Hessian
eigenvalue against the stability threshold 2/lr (and the curvature along the gradient
against the paper's beta_eff), and spectrum.png, the Hessian's spectral density.

Like bn_smooth.paper.plots, each figure takes the suite's runs by name, declares those it
reads, and returns a matplotlib Figure (spectrum: None when the runs measured no
spectrum); `FIGURES` names them for `plots.make_all`.
"""

import numpy as np

from bn_smooth import summaries
from bn_smooth.paper import panels
from bn_smooth.paper.panels import (
    COLORS,
    DLN_LP,
    DLN_MAIN,
    DLN_SLOW,
    VGG_HIGH_LR,
    VGG_MAIN,
    label,
    reads,
    style,
)
from bn_smooth.summaries import EARLY


@reads(*VGG_MAIN, *DLN_MAIN, *VGG_HIGH_LR)
def sharpness(runs, stamp_text):
    """Beyond the paper: the top Hessian eigenvalue against 2/lr over training, and the
    curvature along the gradient against the paper's beta_eff."""
    dln = [runs[n] for n in (*DLN_LP, DLN_SLOW[0]) if n in runs]
    fig = panels.new(2, 3, width=4.2, height=3.3)
    axes = fig.subplots(2, 3)
    for ax, names, title in (
        (axes[0, 0], VGG_MAIN, "(a) VGG, LR=0.1"),
        (axes[0, 1], VGG_HIGH_LR, "(b) VGG, LR=0.5"),
    ):
        sharpness_panel(ax, [runs[n] for n in names])
        ax.set_title(f"{title}: λ1 from Lanczos", fontsize=9)
    sharpness_panel(axes[0, 2], dln)
    axes[0, 2].set_title("(c) deep linear network: λ1 at step t and (thin) t+1", fontsize=9)
    curvature_along_gradient_panel(axes[1, 0], [runs[n] for n in VGG_MAIN], log=False)
    axes[1, 0].set_title("(d) VGG, LR=0.1: along the gradient", fontsize=9)
    curvature_along_gradient_panel(axes[1, 1], [runs[n] for n in DLN_MAIN], log=True)
    axes[1, 1].set_title("(e) deep linear network: along the gradient", fontsize=9)
    rising_panel(axes[1, 2], [r for r in dln if r.norm == "none"])
    axes[1, 2].set_title("(f) standard DLN: oscillation and sharpness", fontsize=9)
    return panels.finish(
        fig,
        "Sharpness: the top Hessian eigenvalue of the training "
        "objective against the stability threshold 2/lr",
        stamp_text,
    )


@reads(*VGG_MAIN)
def spectrum(runs, stamp_text):
    """Beyond the paper: the Hessian's spectral density of VGG with and without BatchNorm
    at initialization, early and late (Ghorbani et al. 2019, figure 3)."""
    pair = [runs[n] for n in VGG_MAIN]
    steps = sorted(set.intersection(*(set(r.spectra()) for r in pair)))
    if not steps:
        return None
    early = [s for s in steps if 0 < s < EARLY * pair[0].num_steps]
    chosen = {
        "initialization": steps[0],
        "early": early[-1] if early else steps[0],
        "late": steps[-1],
    }
    fig = panels.new(1, 3, width=4.2, height=3.3)
    for ax, (when, step) in zip(fig.subplots(1, 3), chosen.items(), strict=True):
        spectrum_panel(ax, pair, step)
        ax.set_title(f"{when}: step {step:,}", fontsize=9)
    return panels.finish(
        fig,
        "Hessian spectral density of the training objective (stochastic "
        "Lanczos quadrature), VGG, LR=0.1",
        stamp_text,
    )


FIGURES = {"sharpness": sharpness, "spectrum": spectrum}


# ---------------------------------------------------------------------------
# Their panels


def sharpness_panel(ax, runs):
    """lambda_1 * lr / 2 over training: 1 is the stability threshold lambda_1 = 2/lr. Where
    the probe also measured one update later (`pair`), that iterate is drawn thin."""
    for run in runs:
        line = style(run, base_lr=runs[0].lr)
        steps, ratio = run.sharpness()
        ax.plot(steps, ratio, marker="o", ms=2.5, lw=1.2, label=label(run), **line)
        steps, ratio = run.sharpness(next_step=True)
        if steps.size:
            ax.plot(steps, ratio, lw=0.6, alpha=0.7, **line)
    ax.axhline(1.0, color="0.3", lw=0.8, ls=":", label="λ1 = 2/lr")
    ax.set(xlabel="step", ylabel="λ1 · lr / 2", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)


def curvature_along_gradient_panel(ax, runs, log):
    """||H g_hat|| (solid) and the paper's beta_eff (dotted), its finite-difference proxy."""
    for run in runs:
        c, color = run.curvature(), COLORS.get(run.norm, "black")
        ax.plot(c["steps"], c["hg_norm"], color=color, lw=1.3, label=f"{label(run)}: ||H ĝ||")
        ls = run.landscape()
        if ls["steps"].size:
            ax.plot(
                ls["steps"],
                ls["beta_eff"],
                color=color,
                lw=1.0,
                ls=":",
                label=f"{label(run)}: β_eff",
            )
    ax.axhline(2 / runs[0].lr, color="0.3", lw=0.8, ls="--", label=f"2/lr = {2 / runs[0].lr:g}")
    ax.set(xlabel="step", ylabel="curvature along the gradient", yscale="log" if log else "linear")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)


def spectrum_panel(ax, runs, step):
    """The smoothed spectral density at `step` (log scale: its tail is the top
    eigenvalues)."""
    for run in runs:
        grid, density = run.spectra()[step]
        ax.plot(
            grid,
            np.maximum(density, 1e-12),
            color=COLORS.get(run.norm, "black"),
            lw=1.2,
            label=label(run),
        )
    ax.set(xlabel="Hessian eigenvalue", ylabel="density", yscale="log")
    ax.set_ylim(bottom=max(ax.get_ylim()[1] * 1e-8, 1e-12))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def rising_panel(ax, runs):
    """Full-batch GD: the fraction of steps that raise the loss between successive curvature
    probes (steps), beside lambda_1 * lr / 2 at the probed step t and at t+1 (markers)."""
    for run, color in zip(runs, ("tab:blue", "tab:cyan", "tab:gray"), strict=False):
        steps, rising = summaries.rising_between_probes(run)
        ax.step(
            steps,
            rising,
            where="post",
            color=color,
            lw=1.3,
            label=f"{label(run)}: fraction of rising steps",
        )
        for next_step, marker, at in ((False, "o", "t"), (True, "^", "t+1")):
            ax.plot(
                *run.sharpness(next_step),
                color=color,
                ls="none",
                marker=marker,
                ms=3,
                label=f"λ1 · lr / 2 at step {at}",
            )
    ax.axhline(1.0, color="0.3", lw=0.8, ls=":")
    ax.set(xlabel="step", ylabel="fraction, or λ1 · lr / 2")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
