"""Every product of every program a run builds asks for the precision its config names.

On a CPU full float32 is all there is, so no number here can show the setting; the
programs can: lowered, each `dot_general` and `convolution` states its precision. Under
`highest` each must ask for HIGHEST; under `default` none may (the backend decides: bfloat16
passes on TPUs, TF32 on recent GPUs).
"""

import dataclasses

import jax
import numpy as np
import pytest

from bn_smooth import checks, layers, precision, probes, tasks, train
from bn_smooth.configs import vgg_cifar
from bn_smooth.errors import ConfigError
from tests.conftest import dln_config, tiny_vgg_config


def products(lowered_text: str) -> list[str]:
    ops = ("stablehlo.dot_general", "stablehlo.convolution")
    return [line for line in lowered_text.splitlines() if any(op in line for op in ops)]


def programs(config, formulation=None) -> dict[str, str]:
    """The lowered text of the training window, a training step, the evaluation and every
    probe kind the registry has, for `config`."""
    task, data = tasks.make_task(config)
    if formulation is not None:
        task = dataclasses.replace(task, model=task.model.clone(formulation=formulation))
    tx = train.make_optimizer(config)
    state = train.init_state(task, tx, config.seed)
    out = {
        "training window": train.make_train_chunk(task, tx).lower(state, data, 2).as_text(),
        "training step": train.make_train_step(task, tx).lower(state, data, None).as_text(),
    }
    if data.num_test:
        out["evaluation"] = train._eval_sums.lower(
            task, state.params, state.batch_stats, data, 0, 8
        ).as_text()
    for kind in (k for k in probes.REGISTRY if k in config.probe):
        config.probe[kind].every = 1
        probe = probes.build(kind, task, tx, config, state.params)
        out[f"probe {kind}"] = probe.measure.lower(state, data).as_text()
    return out


def check(config, train_at: str, probes_at: str, formulation=None):
    """Each program of `config` with training at `train_at` and the probes at `probes_at`."""
    config.precision.update(train=train_at, probes=probes_at)
    found = programs(config, formulation)
    assert set(found) >= {f"probe {kind}" for kind in probes.REGISTRY if kind in config.probe}
    for name, text in found.items():
        ops = products(text)
        assert ops, name  # every program multiplies
        setting = probes_at if name.startswith("probe") else train_at
        asks = ["HIGHEST" in op for op in ops]
        if setting == "highest":
            assert all(asks), (name, [op for op in ops if "HIGHEST" not in op][:2])
        else:
            assert not any(asks), (name, [op for op in ops if "HIGHEST" in op][:2])


# Each formulation of the convolution once (a run's per-layer choice is one of them), each
# setting of each part on at least one, and the two parts apart in every case.
SETTINGS = [("highest", "default"), ("default", "highest")]
VGG_CASES = [(f, *SETTINGS[i % 2]) for i, f in enumerate(layers.FORMULATIONS)]


@pytest.mark.parametrize("formulation,train_at,probes_at", VGG_CASES)
def test_every_vgg_program_asks_for_its_configs_precision(
    fake_cifar, formulation, train_at, probes_at
):
    check(tiny_vgg_config(fake_cifar), train_at, probes_at, formulation)


@pytest.mark.parametrize("norm,settings", zip(["none", "batch"], SETTINGS, strict=True))
def test_every_dln_program_asks_for_its_configs_precision(norm, settings):
    check(dln_config(norm), *settings)


def test_library_functions_called_alone_keep_full_float32():
    """Outside a run's programs (a notebook calling the probes' functions), their own
    inner products ask for HIGHEST; inside one, they follow it."""
    a = {"w": np.ones((3, 4), np.float32)}
    for context, expected in ((None, "HIGHEST"), ("default", "DEFAULT")):
        fn = jax.jit(lambda x: precision.tree_vdot(x, x))
        if context is None:
            text = fn.lower(a).as_text()
        else:
            text = jax.jit(precision.traced_at(context, fn)).lower(a).as_text()
        (op,) = products(text)
        assert expected in op


def test_an_unknown_precision_is_refused_by_name():
    config = vgg_cifar.get_config("scale=smoke")
    config.precision.probes = "high"
    with pytest.raises(ConfigError, match="precision.probes 'high' is not a precision; valid: "):
        checks.check_config(config)


def test_figures_and_reports_say_the_precision():
    highest = vgg_cifar.get_config("scale=smoke")
    assert precision.describe([highest, {}]) == "float32 products at highest precision"
    fast = vgg_cifar.get_config("scale=smoke")
    fast.precision.train = "default"
    assert precision.describe([fast.to_dict()]) == (
        "float32 products at default precision in training, highest in the probes"
    )
