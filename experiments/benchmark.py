"""How fast is bn_smooth against a PyTorch reference, on identical networks, batches and data?

    pip install -e ".[bench]"
    python -m experiments.benchmark [--quick] [--json_out=benchmark.json]

Times, in one process and one after the other:

(a) the VGG-11 training step with and without BatchNorm at several widths, as
    the training loops run it (STEPS_PER_CALL steps a call: one lax.scan here,
    a Python loop in PyTorch);
(b) the line search along the gradient with 8 step sizes, with the curvature along the
    gradient at its start (one HVP: bn_smooth.mechanism's decomposition);
(c) ICS over all layers;
(d) the 25-layer DLN step with and without BatchNorm;
(e) a vmap sweep of N models against N separate steps;
(f) the Hessian of the BatchNorm VGG's training-mode loss: one HVP (forward-over-
    reverse; torch.func there) and a 20-step Lanczos, at the smallest width;
(g) ours only: the VGG curvature, batch-sharpness and scale probes as the cpu-scale
    suite runs them, against the line search (b), at the smallest width (the target for
    the curvature probe: at most 3x);
(h) ours only: the training steps and the line search with every product at the
    backend's default precision against `highest` (bn_smooth.precision; on a CPU
    both are float32, so the expected ratio is 1).

Each time is the median of several repeats after a warm-up (which includes
JAX's compilation). The reference is PyTorch eager, written for this benchmark
(and torch.compile where it works, unless --quick). Prints a table of seconds,
GFLOP/s (model FLOPs: a gradient counts 3 forward passes) and the ratio
PyTorch time / our time (above 1: we are faster), and writes the same as JSON.

PyTorch is only a benchmark dependency (the `bench` extra), never the library's.
"""

import json
import os
import platform

import jax
from absl import app, flags

from bn_smooth import models
from bn_smooth.configs import vgg_cifar
from experiments.benchmark_programs import Ours, OursSweep, dln_forward_flops, vgg_forward_flops
from experiments.timing import median_time
from experiments.torch_reference import (
    BATCH,
    LANCZOS_STEPS,
    NUM_ETAS,
    STEPS_PER_CALL,
    torch_reference,
)

_QUICK = flags.DEFINE_bool(
    "quick",
    False,
    "Widths 1/8 and 1/4, probes at 1/8 only, fewer repeats, no torch.compile (under 3 minutes).",
)
_OUT = flags.DEFINE_string("json_out", "benchmark.json", "Where to write the results as JSON.")
_COMPILE = flags.DEFINE_bool("torch_compile", True, "Also time torch.compile (not in --quick).")


def main(argv):
    del argv
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    quick = _QUICK.value
    repeats = 3 if quick else 5
    widths = (1 / 8, 1 / 4) if quick else (1 / 8, 1 / 4, 1.0)
    use_compile = _COMPILE.value and not quick
    rows = []

    def record(
        task,
        norm,
        width,
        what,
        flops,
        ours_fn,
        torch_fn,
        torch_compiled=None,
        n=repeats,
        per_call=1,
    ):
        ours_s = median_time(ours_fn, n) / per_call
        torch_s = median_time(torch_fn, n) / per_call
        row = {
            "task": task,
            "norm": norm,
            "width": width,
            "what": what,
            "ours_s": ours_s,
            "torch_eager_s": torch_s,
            "ratio": torch_s / ours_s,
            "ours_gflops": flops / ours_s / 1e9,
            "torch_gflops": flops / torch_s / 1e9,
        }
        if torch_compiled is not None:
            try:
                compiled_s = median_time(torch_compiled, n, warmup=2) / per_call
                row.update(torch_compile_s=compiled_s, ratio_compile=compiled_s / ours_s)
            except Exception as e:  # noqa: BLE001 - torch.compile fails in many ways on CPU
                row["torch_compile_error"] = f"{type(e).__name__}: {str(e)[:120]}"
        rows.append(row)
        print(format_row(row), flush=True)

    print(HEADER)
    for width in widths:
        fwd = vgg_forward_flops(width)
        for norm in ("none", "batch"):
            ours, ref = Ours("vgg", norm, width), torch_reference("vgg", norm, width)
            compiled = (
                torch_reference("vgg", norm, width, compile_model=True) if use_compile else {}
            )
            record(
                "vgg",
                norm,
                width,
                "(a) train step",
                3 * fwd,
                ours.steps,
                ref["steps"],
                compiled.get("steps"),
                per_call=STEPS_PER_CALL,
            )
            if norm == "batch" and (width == widths[0] or not quick):
                record(
                    "vgg",
                    norm,
                    width,
                    f"(b) line search x{NUM_ETAS} + HVP",
                    3 * fwd * (NUM_ETAS + 1) + 4 * fwd,  # an HVP: about 4 forward passes
                    ours.probe("landscape"),
                    ref["line_search"],
                    compiled.get("line_search"),
                )
                num_layers = len(models.layer_order(ours.state.params))
                record(
                    "vgg",
                    norm,
                    width,
                    "(c) ICS, all layers",
                    3 * fwd * (num_layers + 1),
                    ours.probe("ics"),
                    ref["ics"],
                    compiled.get("ics"),
                )
    # (f) the Hessian: one HVP, and Lanczos (torch.func forward-over-reverse there).
    width = widths[0]
    ours, ref = (
        Ours("vgg", "batch", width),
        torch_reference("vgg", "batch", width, with_hessian=True),
    )
    ours_hvp, ours_lanczos = ours.hessian()
    hvp_flops = 4 * vgg_forward_flops(width)  # forward-over-reverse: about 4 forward passes
    record("vgg", "batch", width, "(f) HVP", hvp_flops, ours_hvp, ref["hvp"])
    record(
        "vgg",
        "batch",
        width,
        f"(f) Lanczos x{LANCZOS_STEPS}",
        LANCZOS_STEPS * hvp_flops,
        ours_lanczos,
        ref["lanczos"],
    )
    # (g) the Hessian's probes against the line search, as the suite's VGG runs make them.
    cpu = vgg_cifar.get_config("scale=cpu").probe
    for norm in ("none", "batch"):
        ours = Ours("vgg", norm, width)
        line_s = median_time(ours.probe("landscape"), repeats)
        for kind in ("curvature", "batch_sharpness", "scale"):
            ours.config.probe[kind].update(cpu[kind])
            probe_s = median_time(ours.probe(kind), repeats)
            rows.append(
                {
                    "task": "vgg",
                    "norm": norm,
                    "width": width,
                    "what": f"(g) {kind} probe / line search",
                    "ours_s": probe_s,
                    "line_search_s": line_s,
                    "cost_vs_line_search": probe_s / line_s,
                }
            )
            settings = ", ".join(f"{k}={v}" for k, v in cpu[kind].items() if k != "every")
            print(
                f"(g) {kind} probe ({settings}), {norm}, width {width:g}: "
                f"{probe_s / line_s:.2f}x the line search's time"
            )
    for norm in ("none", "batch"):
        ours, ref = Ours("dln", norm), torch_reference("dln", norm)
        compiled = torch_reference("dln", norm, compile_model=True) if use_compile else {}
        record(
            "dln",
            norm,
            None,
            "(d) DLN step",
            3 * dln_forward_flops(),
            ours.steps,
            ref["steps"],
            compiled.get("steps"),
            n=5 * repeats,
            per_call=STEPS_PER_CALL,
        )
    # (h) the precision setting: the backend's default against highest.
    for kind, norm, width in (("vgg", "batch", 1 / 8), ("dln", "batch", None)):
        at = {p: Ours(kind, norm, width or 1.0, precision=p) for p in ("highest", "default")}
        for what, time_of in (
            ("steps", lambda o: median_time(o.steps, repeats)),
            ("line search", lambda o: median_time(o.probe("landscape"), repeats)),
        ):
            seconds = {p: time_of(o) for p, o in at.items()}
            rows.append(
                {
                    "task": kind,
                    "norm": norm,
                    "width": width,
                    "what": f"(h) {what}, precision default / highest",
                    "ours_s": seconds["default"],
                    "highest_s": seconds["highest"],
                    "default_vs_highest": seconds["default"] / seconds["highest"],
                }
            )
            print(
                f"(h) {kind} {what}, {norm}: precision default / highest "
                f"{seconds['default'] / seconds['highest']:.2f}x the time"
            )
    # (e) N models in one program against N separate steps of the same model.
    width, n = 1 / 8, 4
    sweep_run = OursSweep("batch", width, n)
    sweep_s = median_time(sweep_run.sweep_step, repeats)
    single_s = median_time(sweep_run.single_step, repeats)
    row = {
        "task": "vgg",
        "norm": "batch",
        "width": width,
        "what": f"(e) vmap sweep of {n}",
        "ours_s": sweep_s,
        "separate_runs_s": n * single_s,
        "cost_per_model_vs_separate": sweep_s / (n * single_s),
    }
    rows.append(row)
    print(
        f"(e) vmap sweep of {n} models, width {width:g}: {sweep_s:.3f} s per step for all "
        f"of them, {n} separate steps {n * single_s:.3f} s: cost per model "
        f"{row['cost_per_model_vs_separate']:.2f}x a separate run's"
    )
    meta = {
        "jax": jax.__version__,
        "torch": torch.__version__,
        "backend": jax.default_backend(),
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "batch": BATCH,
        "repeats": repeats,
        "quick": quick,
    }
    with open(_OUT.value, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(f"wrote {_OUT.value}")


HEADER = (
    f"{'row':<24} {'norm':<6} {'width':>6} {'ours s':>8} {'torch s':>8} "
    f"{'ours GF/s':>9} {'torch GF/s':>10} {'torch/ours':>10} {'compile/ours':>12}"
)


def format_row(r):
    width = "-" if r["width"] is None else f"{r['width']:g}"
    compiled = (
        f"{r['ratio_compile']:.2f}"
        if "ratio_compile" in r
        else ("failed" if "torch_compile_error" in r else "-")
    )
    return (
        f"{r['what']:<24} {r['norm']:<6} {width:>6} {r['ours_s']:>8.4f} "
        f"{r['torch_eager_s']:>8.4f} {r['ours_gflops']:>9.1f} {r['torch_gflops']:>10.1f} "
        f"{r['ratio']:>10.2f} {compiled:>12}"
    )


if __name__ == "__main__":
    app.run(main)
