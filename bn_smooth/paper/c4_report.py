"""The C4 study's numbers (figures/c4_study.json), its tables (c4_study.md), and its verdict.

Every number comes from the runs' own metrics through bn_smooth.results. For
each setting (a VGG configuration at a width) and seed, the standard network
at lr 0.1 is compared with BatchNorm at lr 0.1 and at lr 0.5, step by step:
the per-step ratio standard / BatchNorm at every probed step, and its
distribution over three windows, stated in the table:

- step 0, reported apart: the standard network starts on a plateau (a tiny
  gradient), where any ratio says more about the initialization than the
  landscape;
- early: from the end of that plateau (the first step at which the standard
  run's training loss is 2% below its start; the latest over the setting's
  seeds) to `early_until`;
- late: from `early_until` to the end.
"""

import json
import math
from pathlib import Path

import numpy as np

from bn_smooth.paper.markdown import fmt, table
from bn_smooth.paper.sharpness_claim import EDGE
from bn_smooth.summaries import matched_ratio

LR, LR_HIGH = 0.1, 0.5
MEMBERS = (("none", LR), ("batch", LR), ("batch", LR_HIGH))
# The line search's measures (figure 4), their scale-free forms, and the curvature probe's.
MEASURES = (
    "gradient change",
    "gradient change / ||g||",
    "||g||",
    "beta_eff",
    "beta_eff lr/2",
    "loss range",
    "lambda_1",
    "lambda_1 lr/2",
    "||H g_hat||",
)
TWO_ORDERS = 30  # "close to two orders of magnitude": a ratio of at least 30
SUMMARY = "c4_study.json"  # beside the figures; REPORT.md's claim C4 reads it
WINDOWS = ("step 0", "early", "late")


def member_key(norm: str, lr: float) -> str:
    return f"{norm}_lr{lr:g}"


def series(run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{measure: (steps, values)} of one run."""
    smooth = run.smoothness()
    out = {k: (smooth["steps"], v) for k, v in smooth.items() if k != "steps"}
    steps, sharp = run.sharpness()
    out["lambda_1"], out["lambda_1 lr/2"] = (steps, sharp * 2 / run.lr), (steps, sharp)
    curv = run.curvature()
    out["||H g_hat||"] = (curv["steps"], curv["hg_norm"])
    return out


def loss_drop(run, step: int) -> float:
    """How far the training loss has fallen by `step`, relative to step 0: 1 - (mean loss of
    the 10 steps before `step`) / (loss at step 0)."""
    steps, loss = run.train_curve("loss")
    return float(1 - np.mean(loss[(steps >= step - 10) & (steps < step)]) / loss[0])


def _window(steps, name: str, start: int, until: int):
    return {
        "step 0": steps == 0,
        "early": (steps >= start) & (steps < until),
        "late": steps >= until,
    }[name]


def _stats(values) -> dict:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {
            "median": math.nan,
            "p10": math.nan,
            "p90": math.nan,
            "min": math.nan,
            "max": math.nan,
            "count": 0,
        }
    return {
        "median": float(np.median(v)),
        "p10": float(np.percentile(v, 10)),
        "p90": float(np.percentile(v, 90)),
        "min": float(v.min()),
        "max": float(v.max()),
        "count": int(v.size),
    }


def summarize(study, runs) -> dict:
    """The study's numbers, by setting: each member's per-seed medians per window, and the
    per-step ratios standard / BatchNorm pooled over seeds (runs that are missing or
    diverged are left out and listed)."""
    out = {
        "scale": study.scale,
        "num_steps": study.num_steps,
        "early_until": study.early_until,
        "settings": [],
        "missing": [],
        "measured_with": measured_with(next(iter(runs.values()))) if runs else "",
    }
    for setting in study.settings:
        name, seeds = setting["name"], list(setting["seeds"])

        def get(member, seed, name=name):
            run = runs.get(f"{name}_{member}_s{seed}")
            if run is None or run.diverged_at is not None:
                out["missing"].append(f"{name}_{member}_s{seed}")
                return None
            return run

        standard = {s: get(member_key("none", LR), s) for s in seeds}
        standard_series = {s: series(r) for s, r in standard.items() if r is not None}
        plateau = [r.plateau_end() for r in standard.values() if r is not None]
        start = max([1, *plateau])
        entry = {
            **{k: setting[k] for k in ("name", "label", "cfg", "width")},
            "seeds": seeds,
            "early_start": start,
            "members": {},
            "ratios": {},
        }
        for norm, lr in MEMBERS:
            key = member_key(norm, lr)
            found = (
                standard
                if norm == "none"
                else {s: get(key, s) for s in (setting["lr_seeds"] if lr == LR_HIGH else seeds)}
            )
            found = {s: r for s, r in found.items() if r is not None}
            if not found:
                continue
            per_seed = (
                {s: standard_series[s] for s in found}
                if norm == "none"
                else {s: series(r) for s, r in found.items()}
            )
            entry["members"][key] = {
                "seeds": list(found),
                "lr": lr,
                "loss drop": [loss_drop(r, study.early_until) for r in found.values()],
                **{
                    w: {
                        m: [
                            float(np.nanmedian(v[_window(st, w, start, study.early_until)]))
                            if _window(st, w, start, study.early_until).any()
                            else math.nan
                            for st, v in (per_seed[s][m] for s in found)
                        ]
                        for m in MEASURES
                    }
                    for w in WINDOWS
                },
            }
            if norm == "none":
                continue
            ratios = {}
            for m in MEASURES:
                by_window = {w: [] for w in WINDOWS}
                seed_medians = {w: [] for w in WINDOWS}
                for s in found:
                    if s not in standard_series:
                        continue
                    steps, r = matched_ratio(*standard_series[s][m], *per_seed[s][m])
                    for w in WINDOWS:
                        pick = r[_window(steps, w, start, study.early_until)]
                        by_window[w].extend(pick.tolist())
                        seed_medians[w].append(float(np.median(pick)) if pick.size else math.nan)
                ratios[m] = {
                    w: {**_stats(by_window[w]), "seed_medians": seed_medians[w]} for w in WINDOWS
                }
            entry["ratios"][key] = ratios
        out["settings"].append(entry)
    out["verdict"] = verdict(out)
    return out


def measured_with(run) -> str:
    """The probes' settings, as one run's config.json states them."""
    c, p = run.config, run.config["probe"]
    land, curv = p["landscape"], p["curvature"]

    def when(section):
        return (
            f"every {section.get('early_every', 0)} steps to step "
            f"{section.get('early_until', 0):,} and every {section['every']} after"
        )

    return (
        f"SGD with batch {c['batch_size']} and no momentum; the line search (eta in "
        f"[{land['eta_min']:g}, {land['eta_max']:g}] x lr, {land['num_etas']} points, "
        f"figure 4's) {when(land)}; the curvature probe ({curv['num_steps']} Lanczos "
        f"steps) {when(curv)}"
    )


def verdict(summary) -> dict:
    """Where the early per-step ratio of the gradient change (the paper's figure-4
    quantity) is largest, and whether any setting reaches TWO_ORDERS."""
    cells = [
        (s["name"], s["label"], s["width"], key, r["gradient change"]["early"])
        for s in summary["settings"]
        for key, r in s["ratios"].items()
    ]
    cells = [c for c in cells if np.isfinite(c[4]["median"])]
    if not cells:
        return {}
    best = max(cells, key=lambda c: c[4]["median"])
    top_step = max(cells, key=lambda c: c[4]["max"])
    return {
        "setting": best[0],
        "label": best[1],
        "width": best[2],
        "member": best[3],
        "median": best[4]["median"],
        "max_single_step": top_step[4]["max"],
        "max_single_step_setting": f"{top_step[0]} {top_step[3]}",
        "reaches_two_orders": bool(best[4]["median"] >= TWO_ORDERS),
    }


def explanation(summary) -> str:
    """Why the ratios are what they are, in numbers: where every run's top eigenvalue sits
    against its stability threshold 2/lr, and what a larger BatchNorm step changes."""

    def early(key, measure, settings=summary["settings"]):
        return [
            v
            for s in settings
            if key in s["members"]
            for v in s["members"][key]["early"][measure]
            if np.isfinite(v)
        ]

    def ratios(key, measure):
        return {
            _setting(s): s["ratios"][key][measure]["early"]["median"]
            for s in summary["settings"]
            if key in s["ratios"]
        }

    low, high = member_key("batch", LR), member_key("batch", LR_HIGH)
    sharp = {k: early(k, "lambda_1 lr/2") for k in (member_key("none", LR), low, high)}
    if not all(sharp.values()):
        return ""

    def span(v):
        return fmt(min(v)) if fmt(min(v)) == fmt(max(v)) else f"{fmt(min(v))}-{fmt(max(v))}"

    grad = ratios(low, "gradient change")
    lam_low, lam_high = ratios(low, "lambda_1"), ratios(high, "lambda_1")
    grad_high = ratios(high, "gradient change")
    beta = early(member_key("none", LR), "beta_eff lr/2")
    each = [
        (s, key, seed, lam, drop)
        for s in summary["settings"]
        for key, m in s["members"].items()
        for seed, lam, drop in zip(
            m["seeds"], m["early"]["lambda_1 lr/2"], m["loss drop"], strict=True
        )
    ]
    below = [e for e in each if e[3] < EDGE[0]]
    until = summary["early_until"]
    text = (
        f"**Why.** Early in training {len(each) - len(below)} of {len(each)} runs have "
        f"lambda_1 lr/2 of at least {EDGE[0]:g}: they train at or above the edge of "
        "stability (1 is (S)GD's threshold 2/lr; early-window medians per run): "
        f"{span(sharp[member_key('none', LR)])} for the standard network, "
        f"{span(sharp[low])} with BatchNorm at lr {LR:g} and {span(sharp[high])} with "
        f"BatchNorm at lr {LR_HIGH:g}; the standard network's beta_eff lr/2 is "
        f"{span(beta)}. "
    )
    if 2 * len(below) < len(each):
        top = max(e[3] for e in each)
        text += (
            "(S)GD raises the sharpness to about 2/lr and holds it near there (Cohen et "
            f"al., 2021; with minibatches, up to {fmt(top)}x here), so at a common "
            "learning rate a network that trains is about as sharp as that rate allows, "
            "with or without BatchNorm. "
        )
    if below:
        text += (
            "Below it: "
            + "; ".join(
                f"{_setting(s)}, {_member(key).lower()}, seed {seed}: {fmt(lam)}, its training "
                f"loss {drop:.0%} below its start by step {until:,}"
                for s, key, seed, lam, drop in below
            )
            + ". Such a run is flat because it has barely started to train: the paper's "
            "measures call a plateau smooth. "
        )
    return text + (
        f"The early per-step ratio of lambda_1, standard / BatchNorm at lr {LR:g}, is "
        f"{span(list(lam_low.values()))}x across settings, and that of the gradient change "
        f"{span(list(grad.values()))}x. At lr {LR_HIGH:g}, BatchNorm's lambda_1 is "
        f"{span(list(lam_high.values()))}x below the standard network's at lr {LR:g} (the "
        f"two thresholds differ by {LR_HIGH / LR:g}x), and its gradient change "
        f"{span(list(grad_high.values()))}x. By setting, the lr-{LR:g} ratio of the gradient "
        "change is " + "; ".join(f"{k}: {fmt(v)}x" for k, v in grad.items()) + "."
    )


# ---------------------------------------------------------------------------
# Markdown


def _setting(s) -> str:
    return f"{s['label']} at {fmt(s['width'])} width"


def _member(key: str) -> str:
    norm, lr = key.split("_lr")
    return f"{'Standard' if norm == 'none' else 'BatchNorm'}, lr {lr}"


def _spread(values) -> str:
    v = [x for x in values if np.isfinite(x)]
    if not v:
        return "n/a"
    if len(v) == 1:
        return fmt(v[0])
    return f"{fmt(float(np.median(v)))} [{fmt(min(v))}-{fmt(max(v))}]"


def _dist(stats) -> str:
    if not stats["count"]:
        return "n/a"
    return (
        f"**{fmt(stats['median'])}x** ({fmt(stats['p10'])}-{fmt(stats['p90'])}, "
        f"max {fmt(stats['max'])})"
    )


def windows_note(summary) -> str:
    starts = ", ".join(f"{_setting(s)} from step {s['early_start']}" for s in summary["settings"])
    return (
        f"Windows: step 0 apart; early = from the end of the standard network's "
        f"initialization plateau (its training loss 2% below the start; {starts}) to "
        f"step {summary['early_until']:,}; late = from step {summary['early_until']:,} "
        f"to the end ({summary['num_steps']:,} steps)."
    )


def ratio_table(
    summary,
    measures=("gradient change", "gradient change / ||g||", "beta_eff", "loss range", "lambda_1"),
) -> str:
    """Per setting and comparison: the early per-step ratio standard / BatchNorm, median
    (10th-90th percentile, max) pooled over seeds, with step 0 and the late median."""
    rows = []
    for s in summary["settings"]:
        for key, r in s["ratios"].items():
            seeds = len(s["members"][key]["seeds"])
            rows.append(
                [
                    _setting(s),
                    f"{_member(key)} ({seeds} seed{'s' * (seeds > 1)})",
                    fmt(r["gradient change"]["step 0"]["median"]),
                    *(_dist(r[m]["early"]) for m in measures),
                    fmt(r["gradient change"]["late"]["median"]),
                ]
            )
    return table(
        [
            "setting",
            "BatchNorm run",
            "step 0",
            *(f"{m}, early" for m in measures),
            "gradient change, late",
        ],
        rows,
    )


def level_table(
    summary,
    measures=(
        "gradient change",
        "||g||",
        "gradient change / ||g||",
        "beta_eff lr/2",
        "lambda_1 lr/2",
        "||H g_hat||",
    ),
) -> str:
    """Per setting and run: the early-window median of each measure, median over seeds
    [min-max]."""
    rows = []
    for s in summary["settings"]:
        for key, m in s["members"].items():
            rows.append(
                [
                    _setting(s),
                    _member(key),
                    len(m["seeds"]),
                    fmt(np.median(m["step 0"]["gradient change"])),
                    *(_spread(m["early"][k]) for k in measures),
                ]
            )
    return table(
        ["setting", "run", "seeds", "gradient change, step 0", *(f"{k}, early" for k in measures)],
        rows,
    )


def write(figures, summary, study, seconds: dict, command: str):
    """figures/c4_study.json and figures/c4_study.md."""
    figures = Path(figures)
    (figures / SUMMARY).write_text(json.dumps(summary, indent=1, allow_nan=True))
    total = sum(seconds.values())
    v = summary["verdict"]
    lines = [
        "# The C4 study: how much smoother does BatchNorm make VGG?\n",
        f"Made with `python -m experiments.c4_study {command}` at the **{study.scale}** "
        f"scale: {len(study.runs)} runs of {summary['num_steps']:,} steps, "
        f"{total / 60:.1f} min on this machine; {summary['measured_with']}. "
        "The figure is [c4_study.png](c4_study.png).\n",
        windows_note(summary) + "\n",
        "## Per-step ratio standard / BatchNorm\n",
        "At every probed step of a seed, the standard run's value over the BatchNorm run's "
        "(same seed, same batches); pooled over the seeds: median (10th-90th percentile, "
        "max). BatchNorm is smoother where the ratio exceeds 1.\n",
        ratio_table(summary),
        "\n## Each run's values\n",
        "Early-window medians, median over seeds [min-max]. beta_eff lr/2 and lambda_1 lr/2 "
        "are against (S)GD's stability threshold 2/lr (1 at the threshold).\n",
        level_table(summary),
    ]
    if v:
        lines.append(
            f"\nLargest early median ratio of the gradient change: **{fmt(v['median'])}x** "
            f"({v['label']} at {fmt(v['width'])} width, {_member(v['member'])}); the "
            f"largest single step: {fmt(v['max_single_step'])}x "
            f"({v['max_single_step_setting']}). "
            f"{'At least' if v['reaches_two_orders'] else 'No setting reaches'} "
            f'{TWO_ORDERS}x ("close to two orders of magnitude")'
            f"{' here' if v['reaches_two_orders'] else ''}.\n"
        )
    lines.append(explanation(summary) + "\n")
    if summary["missing"]:
        lines.append("Missing or diverged runs, left out: " + ", ".join(summary["missing"]) + ".\n")
    (figures / "c4_study.md").write_text("\n".join(lines))
