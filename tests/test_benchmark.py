"""The benchmarks: FLOP counts against the published size of VGG-11 on CIFAR-10, and
their own (JAX) side runs as the timed code does."""

import jax.numpy as jnp
import pytest

from bn_smooth import probes
from experiments import benchmark_programs as programs


def test_vgg11_forward_flops_match_its_published_size():
    # VGG-11 (cfg A) on 32x32 inputs with a Linear(512, 10) head: 153M multiply-adds.
    assert programs.vgg_forward_flops(1.0, batch=1) == pytest.approx(2 * 153.3e6, rel=0.01)
    # Convolution cost scales with the square of the width (the first layer, with 3 inputs,
    # linearly), and linearly with the batch.
    assert programs.vgg_forward_flops(0.5, batch=2) == pytest.approx(
        2 * programs.vgg_forward_flops(0.5, batch=1)
    )
    assert programs.vgg_forward_flops(0.5, 1) < programs.vgg_forward_flops(1.0, 1) / 3.5


def test_dln_flops():
    assert programs.dln_forward_flops() == 2 * 1000 * 10 * 10 * 25


def test_ours_runs_the_librarys_steps_and_probes():
    """The benchmark's own side, on the cheap DLN: a training window and each probe kind it
    times run on the state the library's training builds (its optimizer included)."""
    ours = programs.Ours("dln", "batch")
    ours.steps()
    for kind in ("landscape", "ics", "curvature", "batch_sharpness", "scale"):
        ours.probe(kind)()


def test_layer_benchmark_runs_its_layers_in_scan_windows():
    """experiments.benchmark_layers' own side: a first convolution (no input gradient), a
    Winograd one and a pooling, each a window of training steps, on small shapes."""
    from experiments import benchmark_layers

    for run in (
        benchmark_layers.ours_conv(8, 3, 4, first=True),
        benchmark_layers.ours_conv(4, 32, 8, first=False, formulation="winograd"),
        benchmark_layers.ours_pool(4, 8),
    ):
        values = run()[1]
        assert values.shape == (benchmark_layers.STEPS_PER_CALL,)
        assert bool(jnp.all(jnp.isfinite(values)))


def test_the_benchmarks_precision_rows_time_programs_at_each_setting():
    for setting, highest in (("highest", True), ("default", False)):
        ours = programs.Ours("dln", "batch", precision=setting)
        window = ours.chunk_fn.lower(ours.state, ours.data, 2).as_text()
        probe = probes.build("landscape", ours.task, ours.tx, ours.config, ours.state.params)
        search = probe.measure.lower(ours.state, ours.data).as_text()
        assert ("HIGHEST" in window) == highest and ("HIGHEST" in search) == highest
