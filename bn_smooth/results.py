"""A finished (or diverged) run read back as arrays, for figures, reports and notebooks.

    run = results.Run.load("runs/reproduce/vgg_batch")
    steps, acc = run.train_curve("accuracy", window=100)
    band = run.landscape()          # arrays over probed steps
    steps, l2, cosine = run.ics("layer_03")
    run.final("accuracy"), run.final_test()

Everything comes from the files of bn_smooth.runlog; nothing is recomputed. The medians
and fractions that REPORT.md's claims compare are bn_smooth.summaries'.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np

from bn_smooth import runlog
from bn_smooth.norms import LABELS as NORM_LABELS
from bn_smooth.probes import RUNNING_TWINS


def floats(values):
    """JSON lists (None for non-finite) to a float array (nan)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@dataclasses.dataclass
class Run:
    name: str
    workdir: Path | None  # None: made in memory (`from_rows`)
    config: dict
    status: dict
    rows: dict  # kind -> rows in step order

    @classmethod
    def load(cls, workdir, name: str | None = None) -> "Run":
        workdir = Path(workdir)
        config, status = runlog.read_config(workdir), runlog.read_status(workdir)
        if config is None or status is None:
            raise FileNotFoundError(
                f"{workdir} holds no run (no {runlog.CONFIG} or "
                f"{runlog.STATUS}); run its experiment first."
            )
        return cls(
            name or workdir.name,
            workdir,
            _with_probe_sections(config),
            status,
            _by_kind(runlog.read_metrics(workdir)),
        )

    @classmethod
    def from_rows(cls, name: str, config: dict, rows) -> "Run":
        """A finished run made in memory (a notebook's sweep): `config` as a run's
        config.json, `rows` as metrics.jsonl's ({"step", "kind", ...values}) in step order."""
        status = {"status": "finished", "step": max((r["step"] for r in rows), default=0)}
        return cls(name, None, config, status, _by_kind(rows))

    def in_evaluation_mode(self) -> "Run | None":
        """The run's probes of the evaluation-mode function (bn_smooth.probes.RUNNING_TWINS)
        under their plain kinds, as a run of its own; None if it made none."""
        twins = {kind: self.rows[twin] for twin, kind in RUNNING_TWINS.items() if twin in self.rows}
        name = f"{self.name} (evaluation mode)"
        return Run(name, self.workdir, self.config, self.status, twins) if twins else None

    # Description

    @property
    def norm(self) -> str:
        return self.config["norm"]

    @property
    def lr(self) -> float:
        return self.config["lr"]

    @property
    def label(self) -> str:
        return NORM_LABELS.get(self.norm, self.norm)

    @property
    def diverged_at(self) -> int | None:
        return self.status["step"] if self.status["status"] == "diverged" else None

    @property
    def num_steps(self) -> int:
        return self.config["num_steps"]

    @property
    def window(self) -> int:
        """The running mean of training curves in figures and REPORT.md: 1/30 of the run."""
        return max(1, self.num_steps // 30)

    @property
    def num_test_examples(self) -> int | None:
        """How many test images the eval rows used (None: not recorded, or no test set)."""
        rows = self.rows.get("eval", [])
        return rows[-1].get("num_examples") if rows else None

    def description(self) -> str:
        """What was trained, in a phrase: model, width or depth, steps and batch."""
        c = self.config
        if c["task"] == "vgg_cifar":
            cfg = c["model"]["cfg"]
            return (
                f"VGG ({cfg if isinstance(cfg, str) else 'cfg ' + str(cfg)}) at "
                f"{c['model']['width']:g} width, {c['num_steps']:,} SGD steps of batch "
                f"{c['batch_size']}"
            )
        lrs = c.get("sweep_lrs") or [c["lr"]]  # a sweep: each of them (bn_smooth.sweep)
        return (
            f"the {c['model']['depth']}-layer DLN, {c['num_steps']:,} full-batch GD "
            f"steps at lr {', '.join(f'{lr:g}' for lr in lrs)}"
        )

    # Series

    def train_curve(self, key: str, window: int = 1):
        """Per-step training metric, averaged over the last `window` steps (fewer at the start)."""
        rows = self.rows.get("train", [])
        steps = np.array([r["step"] for r in rows])
        values = floats([r[key] for r in rows])
        if window > 1 and values.size:
            csum = np.concatenate([[0.0], np.cumsum(values)])
            lo = np.maximum(np.arange(values.size) + 1 - window, 0)
            values = (csum[1:] - csum[lo]) / (np.arange(values.size) + 1 - lo)
        return steps, values

    def eval_curve(self, key: str):
        rows = self.rows.get("eval", [])
        return np.array([r["step"] for r in rows]), floats([r[key] for r in rows])

    def landscape(self) -> dict:
        """{steps, loss_min, loss_max, grad_dist_min, grad_dist_max, beta_eff, loss0,
        grad_norm, hg_norm, rayleigh} over probed steps (the last two, the curvature along
        the gradient, nan in runs made before the probe measured it), and the per-step-size
        curves `losses`, `grad_dists`, `step_norms`, `step_sizes` (P, K)."""
        rows = self.rows.get("landscape", [])
        keys = ("loss_min", "loss_max", "grad_dist_min", "grad_dist_max", "beta_eff", "loss0")
        out = {"steps": np.array([r["step"] for r in rows])}
        out.update({k: floats([r[k] for r in rows]) for k in (*keys, "grad_norm")})
        out.update({k: floats([r.get(k) for r in rows]) for k in ("hg_norm", "rayleigh")})
        for k in ("losses", "grad_dists", "step_norms", "step_sizes"):
            out[k] = np.array([floats(r[k]) for r in rows]).reshape(len(rows), -1 if rows else 0)
        return out

    def smoothness(self) -> dict:
        """Figure 4's measures per landscape probe, and their scale-free forms: {steps,
        loss range, gradient change (the largest ||g(w - eta g) - g(w)|| on the line),
        ||g||, gradient change / ||g||, beta_eff, beta_eff lr/2 (1 at (S)GD's stability
        threshold 2/lr)}."""
        ls = self.landscape()
        return {
            "steps": ls["steps"],
            "loss range": ls["loss_max"] - ls["loss_min"],
            "gradient change": ls["grad_dist_max"],
            "||g||": ls["grad_norm"],
            "gradient change / ||g||": ls["grad_dist_max"] / ls["grad_norm"],
            "beta_eff": ls["beta_eff"],
            "beta_eff lr/2": ls["beta_eff"] * self.lr / 2,
        }

    def plateau_end(self, drop: float = 0.02, window: int = 10) -> int:
        """The first step at which the training loss (running mean over `window` steps) is
        `drop` below its value at step 0, relatively: where the plateau of the
        initialization ends (the last step if it never does)."""
        steps, loss = self.train_curve("loss", window)
        below = np.flatnonzero(loss < (1 - drop) * loss[0])
        return int(steps[below[0]]) if below.size else int(steps[-1])

    def ics_layers(self) -> list[str]:
        rows = self.rows.get("ics", [])
        return list(rows[0]["layers"]) if rows else []

    def ics(self, layer: str):
        """(steps, l2, cosine) of one layer over the probed steps."""
        rows = self.rows.get("ics", [])
        i = self.ics_layers().index(layer)
        return (
            np.array([r["step"] for r in rows]),
            floats([r["l2"][i] for r in rows]),
            floats([r["cosine"][i] for r in rows]),
        )

    def activation_layers(self) -> list[str]:
        rows = self.rows.get("activations", [])
        return list(rows[0]["layers"]) if rows else []

    def activation_units(self, layer: str) -> list[int]:
        """The indices of the units chosen in `layer`."""
        return self.rows["activations"][0]["layers"][layer]["units"]

    def activations(
        self, layer: str, site: str = "post_norm", unit: int = 0, next_step: bool = False
    ) -> dict:
        """One chosen unit's distribution over probed steps: {steps, unit, mean, std,
        percentiles (P, Q)}; `unit` indexes the layer's chosen units. `next_step`: one
        training step after each probed step (the probe's `pair`; empty if it was off)."""
        rows = self.rows.get("activations", [])
        if next_step:
            rows = [{**r["next"], "step": r["step"] + 1} for r in rows if "next" in r]
        sites = [r["layers"][layer][site] for r in rows]
        return {
            "steps": np.array([r["step"] for r in rows]),
            "unit": self.activation_units(layer)[unit] if rows else None,
            "mean": floats([s["mean"][unit] for s in sites]),
            "std": floats([s["std"][unit] for s in sites]),
            "percentiles": np.array([floats(s["percentiles"][unit]) for s in sites]),
        }

    def curvature(self, next_step: bool = False) -> dict:
        """{steps, eigenvalues (P, k) largest first, rayleigh, hg_norm, grad_norm,
        two_over_lr, and exact_eigenvalues and top_overlap (P, k) where the probe computed
        them}; with `next_step`, the same one update after each probed step (the probe's
        `pair`; empty if it was off)."""
        rows = self.rows.get("curvature", [])
        if next_step:
            rows = [
                {**r["next"], "step": r["step"] + 1, "two_over_lr": r["two_over_lr"]}
                for r in rows
                if "next" in r
            ]
        out = {"steps": np.array([r["step"] for r in rows], dtype=int)}
        for key in ("rayleigh", "hg_norm", "grad_norm", "two_over_lr"):
            out[key] = floats([r[key] for r in rows])
        for key in ("eigenvalues", "exact_eigenvalues", "top_overlap"):
            if rows and key in rows[0]:
                out[key] = np.array([floats(r[key]) for r in rows])
        return out

    def sharpness(self, next_step: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(steps, lambda_1 * lr / 2): the top Hessian eigenvalue against the stability
        threshold 2/lr of (S)GD, 1 at the threshold; the whole Hessian's where measured.
        `next_step`: one update after each probed step."""
        c = self.curvature(next_step)
        top = c.get("exact_eigenvalues", c.get("eigenvalues"))
        if top is None:
            return c["steps"], np.zeros(0)
        return c["steps"], top[:, 0] * self.lr / 2

    def spectra(self, keys=("grid", "density")) -> dict:
        """{step: (grid, density)} of the spectrum probe (or the row's `keys`: nodes and
        weights are [num_vectors, num_steps])."""
        return {
            r["step"]: tuple(np.array(r[k], dtype=float) for k in keys)
            for r in self.rows.get("spectrum", [])
        }

    def percentiles(self) -> tuple:
        return tuple(self.config["probe"]["activations"]["percentiles"])

    # The run's own numbers at a step (REPORT.md's summaries: bn_smooth.summaries)

    def train_at(self, key: str, step: int) -> float:
        """Running mean of a training metric over the `window` steps before `step`
        (nan at and after a divergence)."""
        steps, values = self.train_curve(key, self.window)
        if self.diverged_at is not None and step >= self.diverged_at:
            return math.nan
        i = np.searchsorted(steps, step, side="right") - 1
        return float(values[i]) if i >= 0 else math.nan

    def final(self, key: str) -> float:
        return self.train_at(key, self.num_steps - 1)

    def final_test(self, key: str = "accuracy") -> float:
        steps, values = self.eval_curve(key)
        if self.diverged_at is not None or not steps.size:
            return math.nan
        return float(values[-1])


def task_descriptions(runs: dict[str, Run]) -> list[str]:
    """One description per task, from its first run (a task's runs share it)."""
    first = {}
    for run in runs.values():
        first.setdefault(run.config["task"], run)
    return [run.description() for run in first.values()]


def _by_kind(rows) -> dict:
    out = {}
    for row in rows:
        out.setdefault(row["kind"], []).append(row)
    return out


def _with_probe_sections(config: dict) -> dict:
    """A config.json from before the probe sections (flat `probe.every`, `ics_every`, ...)
    in today's layout, so that older runs still plot and report (they do not resume)."""
    probe = config.get("probe")
    if not probe or "every" not in probe:
        return config
    strategy = probe.get("strategy") or None
    sections = {
        "landscape": {
            "every": probe["every"],
            "strategy": strategy,
            **{k: probe[k] for k in ("eta_min", "eta_max", "num_etas", "spacing")},
        },
        "ics": {"every": probe["ics_every"], "strategy": strategy},
        "activations": {
            "every": probe.get("activations_every", probe["every"]),
            "layers": probe.get("activation_layers", []),
            **{k: probe[k] for k in ("num_units", "percentiles")},
        },
    }
    return {**config, "probe": sections}


def load_runs(workdir, names) -> dict[str, Run]:
    """The runs of a suite workdir that exist, by name."""
    runs = {}
    for name in names:
        path = Path(workdir) / name
        if runlog.read_status(path) is not None:
            runs[name] = Run.load(path, name)
    return runs
