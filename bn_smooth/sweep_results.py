"""A learning-rate sweep read back: each model as a run of its own, and the largest
learning rate at which the network trains.

    sweep = results.Run.load("runs/lr_sweep/vgg_batch")
    for model in sweep_results.models(sweep):
        print(model.lr, model.final("loss"), trains(model))
    sweep_results.largest_trainable(sweep)   # (lr, whether it is the grid's largest)

A sweep run (a config with `sweep_lrs`, bn_smooth.sweep) writes one value per model in
each training and evaluation row; `models` splits them, so that everything a Run gives
(curves, final values, `diverged_at`) holds for each model.
"""

import math

from bn_smooth.results import Run, floats

# A model trains when its loss stays finite to the end and its final training loss (the
# running mean over the last 1/30 of the steps, as REPORT.md's final values) is at most
# TRAINS times its reference loss: its loss at step 0 or, for a classifier, the loss of
# predicting every class alike (CHANCE) where that is lower. The rule fixed before the
# sweeps were run had the loss at step 0 alone (`as_fixed`): the BatchNorm VGG starts at
# 3.8, above chance, and passed it at learning rates where its accuracy stayed at chance.
TRAINS = 0.75
CHANCE = {"vgg_cifar": math.log(10)}  # cross-entropy of the uniform prediction, 10 classes
_PER_MODEL_KINDS = ("train", "eval")


def models(run: Run) -> list[Run]:
    """The models of a sweep run, in the order of its `sweep_lrs`, each as a Run with its
    own lr; a model whose loss went non-finite is `diverged` at that step, as a run alone
    would have stopped there."""
    lrs = run.config["sweep_lrs"]
    return [_model(run, i, lr) for i, lr in enumerate(lrs)]


def _model(run: Run, i: int, lr: float) -> Run:
    rows = {kind: [_pick(row, i) for row in run.rows.get(kind, [])] for kind in _PER_MODEL_KINDS}
    status = dict(run.status)
    bad = next((row["step"] for row in rows["train"] if row["loss"] is None), None)
    if bad is not None:
        rows = {kind: [r for r in rs if r["step"] <= bad] for kind, rs in rows.items()}
        status.update(status="diverged", step=bad, message=f"diverged at step {bad}")
    config = {**run.config, "lr": lr, "sweep_lrs": []}
    return Run(f"{run.name} lr {lr:g}", run.workdir, config, status, rows)


def _pick(row: dict, i: int) -> dict:
    return {k: v[i] if isinstance(v, list) else v for k, v in row.items()}


def initial_loss(model: Run) -> float:
    rows = model.rows.get("train", [])
    return float(floats([rows[0]["loss"]])[0]) if rows else math.nan


def reference_loss(model: Run, as_fixed: bool = False) -> float:
    """The loss at step 0, or the chance loss of a classifier where that is lower (with
    `as_fixed`, the loss at step 0 alone: the rule as fixed before the runs)."""
    chance = math.inf if as_fixed else CHANCE.get(model.config["task"], math.inf)
    return min(initial_loss(model), chance)


def trains(model: Run, as_fixed: bool = False) -> bool:
    """Finished (finite to the end), with its final loss at most TRAINS times its
    reference loss."""
    final = model.final("loss")
    return model.status["status"] == "finished" and final <= TRAINS * reference_loss(
        model, as_fixed
    )


def largest_trainable(run: Run, as_fixed: bool = False) -> tuple[float | None, bool]:
    """(the largest learning rate of the sweep at which the network trains, or None if it
    trains at none; whether that is the largest swept, so only a lower bound)."""
    each = models(run)
    return _largest([m.lr for m in each], [trains(m, as_fixed) for m in each])


def _largest(lrs, trained) -> tuple[float | None, bool]:
    good = [lr for lr, ok in zip(lrs, trained, strict=True) if ok]
    return (max(good), max(good) == max(lrs)) if good else (None, False)


def summary(run: Run) -> dict:
    """Per learning rate: the final loss, training and test accuracy (VGG), where the loss
    went non-finite, whether it trains (and by the rule as fixed before the runs); and
    the largest learning rate that trains."""
    each = models(run)
    lrs = [m.lr for m in each]
    trained, as_fixed = [trains(m) for m in each], [trains(m, as_fixed=True) for m in each]
    largest, at_top = _largest(lrs, trained)
    out = {
        "lrs": lrs,
        "initial_loss": [initial_loss(m) for m in each],
        "reference_loss": [reference_loss(m) for m in each],
        "final_loss": [m.final("loss") for m in each],
        "diverged_at": [m.diverged_at for m in each],
        "trains": trained,
        "largest_trainable": largest,
        "largest_is_top": at_top,
        "trains_as_fixed": as_fixed,
        "largest_as_fixed": _largest(lrs, as_fixed)[0],
    }
    if run.config["task"] == "vgg_cifar":
        out["final_accuracy"] = [m.final("accuracy") for m in each]
        out["test_accuracy"] = [m.final_test() for m in each]
    return out
