"""mechanism.png, beyond the paper: figure 4's gradient change taken apart into the
gradient's size, the curvature along it and the non-linearity factor (bn_smooth.mechanism),
for VGG and the DLN with and without BatchNorm. `FIGURES` names it for `plots.make_all`;
like the others it returns None when its runs did not measure the curvature along the
gradient at their line-search probes."""

from bn_smooth import mechanism
from bn_smooth.paper import panels
from bn_smooth.paper.panels import DLN_MAIN, VGG_MAIN, label, reads, style
from bn_smooth.summaries import EARLY


@reads(*VGG_MAIN, *DLN_MAIN)
def figure(runs, stamp_text):
    rows = {"VGG, LR=0.1": VGG_MAIN, "deep linear network": DLN_MAIN}
    decompositions = {
        net: [(runs[n], mechanism.decompose(runs[n])) for n in names] for net, names in rows.items()
    }
    if not all(d.steps.size for pairs in decompositions.values() for _, d in pairs):
        return None
    fig = panels.new(2, 3, width=4.2, height=3.2)
    axes = fig.subplots(2, 3)
    for row, (net, pairs) in zip(axes, decompositions.items(), strict=True):
        for run, d in pairs:
            line = style(run)
            row[0].plot(d.steps, d.grad_norm, lw=1.2, label=label(run), **line)
            row[1].plot(d.steps, d.hg_norm, lw=1.2, label=label(run), **line)
            for k, ls in ((0, "-"), (-1, "--")):
                eta = f"{d.relative_etas[k]:g} lr"
                row[2].plot(
                    d.steps,
                    d.factor[:, k],
                    lw=1.2,
                    color=line["color"],
                    ls=ls,
                    label=f"{label(run)}, η={eta}",
                )
        early = EARLY * pairs[0][0].num_steps
        for ax, what in zip(row, ("||g||", "||H ĝ||", "non-linearity factor"), strict=True):
            ax.axvspan(0, early, color="0.9", zorder=0)
            ax.set(xlabel="step", ylabel=what, yscale="log")
            ax.set_title(f"{net}: {what}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6)
        row[2].axhline(1.0, color="0.3", lw=0.8, ls=":")
    return panels.finish(
        fig,
        "Figure 4's gradient change = η · ||g|| · ||H ĝ|| · the non-linearity factor "
        f"(measured / quadratic prediction); shaded: the first {EARLY:.0%} of the run",
        stamp_text,
    )


FIGURES = {"mechanism": figure}
