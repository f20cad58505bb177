"""The benchmark's FLOP counts, against the published size of VGG-11 on CIFAR-10."""

import pytest

from experiments import benchmark


def test_vgg11_forward_flops_match_its_published_size():
    # VGG-11 (cfg A) on 32x32 inputs with a Linear(512, 10) head: 153M multiply-adds.
    assert benchmark.vgg_forward_flops(1.0, batch=1) == pytest.approx(2 * 153.3e6, rel=0.01)
    # Convolution cost scales with the square of the width (the first layer, with 3 inputs,
    # linearly), and linearly with the batch.
    assert benchmark.vgg_forward_flops(0.5, batch=2) == pytest.approx(
        2 * benchmark.vgg_forward_flops(0.5, batch=1))
    assert benchmark.vgg_forward_flops(0.5, 1) < benchmark.vgg_forward_flops(1.0, 1) / 3.5


def test_dln_flops():
    assert benchmark.dln_forward_flops() == 2 * 1000 * 10 * 10 * 25


def test_ours_runs_the_librarys_steps_and_probes():
    """The benchmark's own side, on the cheap DLN: a training window and each probe kind it
    times run on the state the library's training builds (its optimizer included)."""
    ours = benchmark.Ours("dln", "batch")
    ours.steps()
    for kind in ("landscape", "ics"):
        ours.probe(kind)()
