"""A finished (or diverged) run read back as arrays, for figures, reports and notebooks.

    run = results.Run.load("runs/reproduce/vgg_batch")
    steps, acc = run.train_curve("accuracy", window=100)
    band = run.landscape()          # arrays over probed steps
    steps, l2, cosine = run.ics("layer_03")

Everything comes from the files of bn_smooth.runlog; nothing is recomputed.
"""

import dataclasses
from pathlib import Path

import numpy as np

from bn_smooth import runlog

NORM_LABELS = {"none": "Standard", "batch": "Standard + BatchNorm",
               "noisy_batch": 'Standard + "Noisy" BatchNorm', "l1": "Standard + L1 Norm",
               "l2": "Standard + L2 Norm", "linf": "Standard + L∞ Norm"}


def _array(values):
    """JSON lists (None for non-finite) to a float array (nan)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@dataclasses.dataclass
class Run:
    name: str
    workdir: Path
    config: dict
    status: dict
    rows: dict  # kind -> rows in step order

    @classmethod
    def load(cls, workdir, name: str | None = None) -> "Run":
        workdir = Path(workdir)
        config, status = runlog.read_config(workdir), runlog.read_status(workdir)
        if config is None or status is None:
            raise FileNotFoundError(f"{workdir} holds no run (no {runlog.CONFIG} or "
                                    f"{runlog.STATUS}); run its experiment first.")
        rows = {}
        for row in runlog.read_metrics(workdir):
            rows.setdefault(row["kind"], []).append(row)
        return cls(name or workdir.name, workdir, config, status, rows)

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

    # Series

    def train_curve(self, key: str, window: int = 1):
        """Per-step training metric, averaged over the last `window` steps (fewer at the start)."""
        rows = self.rows.get("train", [])
        steps = np.array([r["step"] for r in rows])
        values = _array([r[key] for r in rows])
        if window > 1 and values.size:
            csum = np.concatenate([[0.0], np.cumsum(values)])
            lo = np.maximum(np.arange(values.size) + 1 - window, 0)
            values = (csum[1:] - csum[lo]) / (np.arange(values.size) + 1 - lo)
        return steps, values

    def eval_curve(self, key: str):
        rows = self.rows.get("eval", [])
        return np.array([r["step"] for r in rows]), _array([r[key] for r in rows])

    def landscape(self) -> dict:
        """{steps, loss_min, loss_max, grad_dist_min, grad_dist_max, beta_eff, loss0} over
        probed steps, and the per-step-size curves `losses`, `grad_dists`, `step_norms` (P, K)."""
        rows = self.rows.get("landscape", [])
        keys = ("loss_min", "loss_max", "grad_dist_min", "grad_dist_max", "beta_eff", "loss0",
                "grad_norm")
        out = {"steps": np.array([r["step"] for r in rows])}
        out.update({k: _array([r[k] for r in rows]) for k in keys})
        for k in ("losses", "grad_dists", "step_norms", "step_sizes"):
            out[k] = np.array([_array(r[k]) for r in rows]).reshape(len(rows), -1)
        return out

    def ics_layers(self) -> list[str]:
        rows = self.rows.get("ics", [])
        return list(rows[0]["layers"]) if rows else []

    def ics(self, layer: str):
        """(steps, l2, cosine) of one layer over the probed steps."""
        rows = self.rows.get("ics", [])
        i = self.ics_layers().index(layer)
        return (np.array([r["step"] for r in rows]), _array([r["l2"][i] for r in rows]),
                _array([r["cosine"][i] for r in rows]))

    def activation_layers(self) -> list[str]:
        rows = self.rows.get("activations", [])
        return list(rows[0]["layers"]) if rows else []

    def activation_units(self, layer: str) -> list[int]:
        """The indices of the units chosen in `layer`."""
        return self.rows["activations"][0]["layers"][layer]["units"]

    def activations(self, layer: str, site: str = "post_norm", unit: int = 0) -> dict:
        """One chosen unit's distribution over probed steps: {steps, unit, mean, std,
        percentiles (P, Q)}; `unit` indexes the layer's chosen units."""
        rows = self.rows.get("activations", [])
        sites = [r["layers"][layer][site] for r in rows]
        return {"steps": np.array([r["step"] for r in rows]),
                "unit": self.activation_units(layer)[unit] if rows else None,
                "mean": _array([s["mean"][unit] for s in sites]),
                "std": _array([s["std"][unit] for s in sites]),
                "percentiles": np.array([_array(s["percentiles"][unit]) for s in sites])}

    def percentiles(self) -> tuple:
        return tuple(self.config["probe"]["percentiles"])


def load_runs(workdir, names) -> dict[str, Run]:
    """The runs of a suite workdir that exist, by name."""
    runs = {}
    for name in names:
        path = Path(workdir) / name
        if runlog.read_status(path) is not None:
            runs[name] = Run.load(path, name)
    return runs
