"""The C4 study's numbers (figures/c4_study.json) and its verdict; its tables and
explanation (c4_study.md) are bn_smooth/paper/c4_report.py's.

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

import math

import numpy as np

from bn_smooth import mechanism
from bn_smooth.summaries import matched_ratio

LR, LR_HIGH = 0.1, 0.5
MEMBERS = (("none", LR), ("batch", LR), ("batch", LR_HIGH))
# The line search's measures (figure 4), their scale-free forms, the curvature probe's, and
# the non-linearity factor of figure 4's change at the largest step size.
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
    "non-linearity",
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
    # The gradient change over the quadratic model's at the largest step size, where
    # figure 4's largest change sits (bn_smooth.mechanism).
    parts = mechanism.decompose(run)
    out["non-linearity"] = (parts.steps, parts.factor[:, -1] if parts.steps.size else parts.steps)
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
