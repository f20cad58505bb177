"""Hand-written runs for the claims' tests, and reading a claim's checklist back; a
hand-written calibration summary for the report's."""

import math
import re

import numpy as np

from bn_smooth.paper import calibration
from bn_smooth.results import Run

STEPS = 100  # every hand-written run: 100 steps, so "early" is steps 1-19 (EARLY = 0.2)


def make_run(
    name,
    norm,
    lr,
    task="vgg_cifar",
    *,
    accuracy=(0.5, 0.5),
    loss=None,
    test_accuracy=0.5,
    landscape=None,
    ics=None,
    moments=None,
    curvature=None,
    status="finished",
):
    """A run of STEPS steps: training accuracy `accuracy[0]` before step 50 and
    `accuracy[1]` from it on; `loss` a per-step list (default constant); `landscape`
    (loss range, gradient change, beta_eff) at every 10th step; `ics` per-layer (l2,
    cosine) at every 10th step; `moments` (|change of mean|, |change of variance|) of
    one unit per activation probe; `curvature` {step: (lambda_1 at t, at t + 1)}."""
    config = {"norm": norm, "lr": lr, "num_steps": STEPS, "task": task}
    loss = [1.0] * STEPS if loss is None else loss
    rows = [
        {
            "step": t,
            "kind": "train",
            "loss": loss[t],
            "accuracy": accuracy[0] if t < 50 else accuracy[1],
        }
        for t in range(STEPS)
    ]
    rows.append({"step": STEPS, "kind": "eval", "accuracy": test_accuracy, "loss": 1.0})
    probed = range(0, STEPS, 10)
    if landscape is not None:
        loss_range, change, beta = landscape
        rows += [landscape_row(t, loss_range, change, beta, lr) for t in probed]
    if ics is not None:
        layers = [f"layer_{i:02d}" for i in range(len(ics) + 1)]
        rows += [
            {
                "step": t,
                "kind": "ics",
                "layers": layers,
                "l2": [0.0, *(l2 for l2, _ in ics)],
                "cosine": [1.0, *(c for _, c in ics)],
            }
            for t in probed
        ]
    if moments is not None:
        d_mean, d_var = moments

        def site(mean, var):
            return {
                "layer_00": {
                    "units": [0],
                    "post_norm": {
                        "mean": [mean],
                        "std": [math.sqrt(var)],
                        "percentiles": [[0.0, 1.0]],
                    },
                }
            }

        rows += [
            {
                "step": t,
                "kind": "activations",
                "layers": site(0.0, 1.0),
                "next": {"layers": site(d_mean, 1.0 + d_var)},
            }
            for t in probed
        ]
    if curvature is not None:

        def at(lam):
            return {"eigenvalues": [lam, 0.0], "rayleigh": 1.0, "hg_norm": 1.0, "grad_norm": 1.0}

        rows += [
            {"step": t, "kind": "curvature", **at(now), "two_over_lr": 2 / lr, "next": at(later)}
            for t, (now, later) in sorted(curvature.items())
        ]
    rows.sort(key=lambda r: r["step"])
    run = Run.from_rows(name, config, rows)
    run.status = {
        "status": status,
        "step": STEPS if status == "finished" else 60,
        "message": status,
    }
    return run


def landscape_row(step, loss_range, change, beta, step_size) -> dict:
    """A line search row with the given loss range, largest gradient change and beta_eff."""
    return {
        "step": int(step),
        "kind": "landscape",
        "loss_min": 1.0,
        "loss_max": 1.0 + loss_range,
        "grad_dist_min": 0.0,
        "grad_dist_max": change,
        "beta_eff": beta,
        "loss0": 1.0,
        "grad_norm": 1.0,
        "losses": [1.0],
        "grad_dists": [change],
        "step_norms": [1.0],
        "step_sizes": [step_size],
    }


def parts_of(body: str) -> list[tuple[str, bool]]:
    """The checklist that a claim's body ends with: (text, holds) per part."""
    found = re.findall(r"^- (holds|\*\*fails\*\*)(?: \(primary\))?: (.*)$", body, re.MULTILINE)
    return [(text, mark == "holds") for mark, text in found]


def failing(result) -> list[str]:
    """The parts of a claim's (summary, verdict, body) that fail, as the report prints them."""
    return [text for text, holds in parts_of(result[2]) if not holds]


def check_one_part_fails(result, part: str):
    """Exactly one part fails, and it starts with `part`; the verdict says which kind: not
    confirmed when it is the primary check, confirmed with a qualification otherwise."""
    fails = failing(result)
    assert len(fails) == 1 and fails[0].startswith(part), fails
    primary = parts_of(result[2])[0][0]
    if fails[0] == primary:
        assert result[1] == "not confirmed", result[1]
    else:
        assert result[1].startswith("confirmed, but 1 of"), result[1]


def made_run(name: str, norm: str, lr: float, accuracy) -> Run:
    config = {"task": "vgg_cifar", "norm": norm, "lr": lr, "num_steps": len(accuracy)}
    train = [
        {"step": i, "kind": "train", "accuracy": a, "loss": 1.0} for i, a in enumerate(accuracy)
    ]
    return Run.from_rows(name, config, train)


def example_summary() -> dict:
    """A calibration summary with recognizable numbers (REPORT.md must cite them)."""
    chance = made_run("vgg_none_lr0.5", "none", 0.5, np.full(600, 0.1))
    pair = {
        f"vgg_{norm}": made_run(f"vgg_{norm}", norm, 0.1, np.full(2000, level))
        for norm, level in (("none", 0.456), ("batch", 0.654))
    }
    landscape = [
        dict(quantity=f"{q}, {who}", where="probes 100-2,000", paper=2.0, ours=ours, ratio=ours / 2)
        for q, _, _, _ in calibration.FIGURE_4
        for who, ours in (
            ("Standard", 1.0),
            ("Standard + BatchNorm", 1.0),
            ("standard / BatchNorm (per-step ratio)", 3.21),
        )
    ]
    sharpness = [
        dict(network=f"{n}, lr 0.1", lambda_1=0.97, beta_eff=1.01)
        for n in ("Standard", "Standard + BatchNorm")
    ]
    return dict(
        scale="cpu",
        description="VGG-11 at width 1, 2,000 SGD steps of batch 128",
        minutes=80.0,
        paper_every=100,
        gate=calibration.gate({**pair, "vgg_none_lr0.5": chance}, 600),
        landscape=landscape,
        sharpness=sharpness,
        candidates=[
            dict(
                candidate="vgg16",
                change="depth: VGG-16",
                network=f"{n}, lr 0.1",
                step=600,
                paper=50.0,
                vgg11=45.0,
                changed=47.5,
            )
            for n in ("Standard", "Standard + BatchNorm")
        ],
    )
