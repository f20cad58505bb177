"""Measurement modes: probes see exactly the loss of step t and change nothing.

DESIGN.md: a probe at step t uses the batch of step t, batch statistics, the
noise sample of step t, and never updates the running averages. Published
reproductions went wrong by probing in evaluation mode; these tests pin it.
"""

import dataclasses

import chex
import jax
import ml_collections
import numpy as np
import optax
import pytest

from bn_smooth import (
    activations,
    checkpoints,
    landscape,
    loop,
    models,
    probes,
    runlog,
    tasks,
    train,
)
from bn_smooth.configs.common import set_every
from tests.conftest import dln_config, tiny_vgg_config


def setup(config, steps=2):
    task, data = tasks.make_task(config)
    tx = train.make_optimizer(config)
    state = train.init_state(task, tx, config.seed)
    step_fn = train.make_train_step(task, tx)
    for _ in range(steps):  # probe a state with non-trivial running averages
        state, _ = step_fn(state, data, None)
    return task, tx, data, state, step_fn


@pytest.mark.parametrize("norm", ["batch", "noisy_batch"])
def test_probe_loss_at_eta_zero_is_the_training_loss_of_that_step(fake_cifar, norm):
    task, tx, data, state, step_fn = setup(tiny_vgg_config(fake_cifar, norm=norm))
    _, metrics = step_fn(state, data, None)
    loss_fn = train.step_loss_fn(task, state, data)
    res = jax.jit(lambda p: landscape.gradient_line_search(loss_fn, p, [0.0, 0.1]))(state.params)
    np.testing.assert_allclose(res.losses[0], metrics["loss"], rtol=1e-6)
    np.testing.assert_allclose(res.loss0, metrics["loss"], rtol=1e-6)
    assert float(res.grad_dists[0]) == pytest.approx(0.0, abs=1e-6)
    # ... and not the evaluation-mode loss (running averages, no noise) on the same batch.
    x, y = task.batch(data, state.stream("data"), state.step)
    eval_out = task.model.apply(
        {"params": state.params, "batch_stats": state.batch_stats}, x, train=False
    )
    eval_loss, _ = task.objective(eval_out, y)
    assert abs(float(eval_loss) - float(metrics["loss"])) > 1e-3


def test_probes_leave_running_averages_and_training_unchanged(fake_cifar, tmp_path):
    config = tiny_vgg_config(fake_cifar, norm="batch", num_steps=8)
    set_every(config.probe, 0)
    loop.train_and_evaluate(config, tmp_path / "plain")
    config.probe.landscape.every = config.probe.ics.every = 2
    config.probe.activations.every = 4  # each probe keeps its own schedule
    loop.train_and_evaluate(config, tmp_path / "probed")

    def rows(workdir, kind):
        return runlog.read_metrics(workdir, kind)

    # Eval uses the running averages: equal evals mean the probes did not touch them.
    for kind in ("train", "eval"):
        assert rows(tmp_path / "probed", kind) == rows(tmp_path / "plain", kind)
    task, data = tasks.make_task(config)
    tx = train.make_optimizer(config)
    template = train.init_state(task, tx, config.seed)
    finals = [
        checkpoints.Checkpoints(tmp_path / name).restore(template) for name in ("plain", "probed")
    ]
    for a, b in zip(jax.tree.leaves(finals[0]), jax.tree.leaves(finals[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [r["step"] for r in rows(tmp_path / "probed", "landscape")] == [0, 2, 4, 6]
    assert [r["step"] for r in rows(tmp_path / "probed", "ics")] == [0, 2, 4, 6]
    assert [r["step"] for r in rows(tmp_path / "probed", "activations")] == [0, 4]
    assert runlog.read_status(tmp_path / "probed")["probe_seconds"] > 0


def with_curvature(config, mode="batch"):
    every = config.probe.landscape.every
    config.probe.curvature.update(dict(every=every, num_steps=8, mode=mode))
    config.probe.spectrum.update(
        dict(every=every, num_steps=4, num_vectors=2, num_points=32, mode=mode)
    )
    return config


def test_a_probe_changes_no_state_in_place(fake_cifar):
    config = with_curvature(tiny_vgg_config(fake_cifar, norm="batch"))
    task, tx, data, state, _ = setup(config)
    snapshot = jax.tree.map(np.array, state)
    p = probes.Probes(task, tx, config, state.params)
    for kind in ("landscape", "ics", "activations", "curvature", "spectrum"):
        p.run(kind, state, data)
    for a, b in zip(jax.tree.leaves(snapshot), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)


def test_noisy_probes_repeat_within_a_step_and_differ_across_steps(fake_cifar):
    config = with_curvature(tiny_vgg_config(fake_cifar, norm="noisy_batch"))
    task, tx, data, state, step_fn = setup(config)
    p = probes.Probes(task, tx, config, state.params)
    first, second = p.run("landscape", state, data), p.run("landscape", state, data)
    for key in ("losses", "grad_dists", "beta_eff"):
        np.testing.assert_array_equal(first[key], second[key])
    np.testing.assert_array_equal(p.run("ics", state, data)["l2"], p.run("ics", state, data)["l2"])
    for key in ("eigenvalues", "hg_norm"):
        np.testing.assert_array_equal(
            p.run("curvature", state, data)[key], p.run("curvature", state, data)[key]
        )
    np.testing.assert_array_equal(
        p.run("spectrum", state, data)["nodes"], p.run("spectrum", state, data)["nodes"]
    )
    # The same parameters at the next step: another batch and another noise sample.
    later = state.replace(step=state.step + 1)
    assert not np.allclose(p.run("landscape", later, data)["losses"], first["losses"])


def test_probing_many_steps_compiles_once(fake_cifar):
    config = with_curvature(tiny_vgg_config(fake_cifar, norm="noisy_batch"))
    task, tx, data, state, step_fn = setup(config, steps=0)
    p = probes.Probes(task, tx, config, state.params)
    context = probes.Context(task, tx, config, state.params)
    kinds = ("landscape", "ics", "curvature", "spectrum")
    for kind in kinds:  # the probes as built, with a trace counter inside
        raw = probes.REGISTRY[kind](context, config.probe[kind])
        p.probes[kind] = dataclasses.replace(
            raw, measure=jax.jit(chex.assert_max_traces(raw.measure, n=1))
        )
    for _ in range(4):
        for kind in kinds:
            p.run(kind, state, data)
        state, _ = step_fn(state, data, None)


def test_ics_uses_the_actual_update_of_the_step():
    config = dln_config(norm="none")
    task, tx, data, state, step_fn = setup(config, steps=1)
    p = probes.Probes(task, tx, config, state.params)
    measured = p.run("ics", state, data)
    after, _ = step_fn(state, data, None)  # full-batch GD: the update of this step
    from bn_smooth import ics as ics_lib

    layers = models.layer_order(state.params)
    assert measured["layers"] == layers
    expected = ics_lib.internal_covariate_shift(
        train.step_loss_fn(task, state, data), state.params, after.params, layers
    )
    np.testing.assert_allclose(measured["l2"], [expected[k].l2 for k in layers], rtol=1e-5)
    assert measured["l2"][0] == 0.0 and measured["cosine"][0] == 1.0


def test_step_size_grids_follow_appendix_a():
    from bn_smooth.configs import dln, vgg_cifar

    vgg = vgg_cifar.get_config("lr=0.1")
    np.testing.assert_allclose(
        probes.step_size_grid(vgg.probe.landscape, vgg.lr)[[0, -1]], [0.05, 0.4]
    )
    d = dln.get_config("")
    grid = probes.step_size_grid(d.probe.landscape, d.lr)
    np.testing.assert_allclose(grid[[0, -1]], [1e-8, 3e-5])
    np.testing.assert_allclose(grid[1] / grid[0], grid[2] / grid[1])  # log spaced


def test_activation_summaries_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3, 3, 5)) * np.arange(1, 6) + np.arange(5)
    units = np.array([1, 4])
    values = activations.chosen_values(
        {"layer": {"pre_norm": (x,), "post_norm": (x,)}}, {"layer": units}
    )
    s = activations.summarize(values["layer"]["pre_norm"], (5, 50, 95))
    flat = x.reshape(-1, 5)[:, units]
    np.testing.assert_allclose(s["mean"], flat.mean(0), rtol=1e-6)
    np.testing.assert_allclose(s["std"], flat.std(0), rtol=1e-6)
    np.testing.assert_allclose(
        s["percentiles"], np.percentile(flat, [5, 50, 95], axis=0).T, rtol=1e-6
    )


def test_units_are_fixed_by_the_seed_and_post_norm_is_normalized(fake_cifar):
    config = tiny_vgg_config(fake_cifar, norm="batch")
    task, tx, data, state, _ = setup(config, steps=0)
    stats = probes.Probes(task, tx, config, state.params).run("activations", state, data)
    again = probes.Probes(task, tx, config, state.params).run("activations", state, data)
    stats, again = stats["layers"], again["layers"]
    for name in stats:
        np.testing.assert_array_equal(stats[name]["units"], again[name]["units"])
        assert len(set(stats[name]["units"].tolist())) == len(stats[name]["units"])
    post = stats["layer_00"]["post_norm"]  # gamma = 1, beta = 0 at initialization
    np.testing.assert_allclose(post["mean"], 0.0, atol=1e-5)
    np.testing.assert_allclose(post["std"], 1.0, atol=1e-3)
    assert np.abs(np.asarray(stats["layer_00"]["pre_norm"]["mean"])).max() > 1e-3


def test_a_new_probe_kind_needs_only_its_function_entry_and_config_section(tmp_path, monkeypatch):
    monkeypatch.setattr(probes, "REGISTRY", dict(probes.REGISTRY))  # registered for this test

    @probes.register("param_norm")  # the function and its registry entry ...
    def param_norm_probe(context, section):
        def measure(state, data):
            return {"norm": section.scale * optax.tree.norm(state.params)}

        return probes.Probe(measure)

    config = dln_config(norm="none")  # 40 steps, logged every 10
    set_every(config.probe, 0)
    config.probe.param_norm = ml_collections.ConfigDict(dict(every=15, scale=2.0))  # ... section
    assert probes.schedule(config) == {"param_norm": probes.Every(15)}
    loop.train_and_evaluate(config, tmp_path)
    rows = runlog.read_metrics(tmp_path, "param_norm")
    assert [r["step"] for r in rows] == [0, 15, 30]  # the loop stops at its steps, not only at logs
    task, _ = tasks.make_task(config)
    start = train.init_state(task, train.make_optimizer(config), config.seed)
    assert rows[0]["norm"] == pytest.approx(2.0 * float(optax.tree.norm(start.params)), rel=1e-6)
    assert rows[1]["norm"] != rows[0]["norm"]


def test_an_unknown_probe_section_is_named():
    config = dln_config()
    config.probe.curvatur = ml_collections.ConfigDict(dict(every=10))
    with pytest.raises(
        ValueError,
        match="unknown probe kind.*curvatur.*registered kinds: landscape, ics, activations",
    ):
        probes.schedule(config)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_running_mode_measures_the_evaluation_function_and_only_differs_with_batchnorm(
    fake_cifar, norm
):
    config = with_curvature(tiny_vgg_config(fake_cifar, norm=norm))
    config.probe.batch_sharpness.update(every=1, num_batches=2, num_steps=4)
    config.probe.scale.update(every=1, num_steps=4)
    kinds = ("landscape", "curvature", "batch_sharpness", "scale")
    task, tx, data, state, _ = setup(config)  # running averages of two steps
    rows = {}
    for mode in train.MODES:
        for kind in kinds:
            config.probe[kind].mode = mode
        p = probes.Probes(task, tx, config, state.params)
        rows[mode] = {kind: p.run(kind, state, data) for kind in kinds}
    eval_out = task.model.apply(
        {"params": state.params, "batch_stats": state.batch_stats},
        task.batch(data, state.stream("data"), state.step)[0],
        train=False,
    )
    eval_loss = task.objective(eval_out, task.batch(data, state.stream("data"), state.step)[1])
    np.testing.assert_allclose(rows["running"]["landscape"]["loss0"], eval_loss[0], rtol=1e-6)
    same = {
        key: np.allclose(rows["running"][kind][key], rows["batch"][kind][key], rtol=1e-4)
        for kind, key in (
            ("landscape", "loss0"),
            ("curvature", "hg_norm"),
            ("batch_sharpness", "batch_sharpness"),
            ("scale", "invariant_eigenvalues"),
        )
    }
    assert same == dict.fromkeys(same, norm == "none")


def test_dense_early_probing_runs_at_exactly_the_scheduled_steps(tmp_path):
    every = probes.Every(15, early_every=3, early_until=10)
    assert [s for s in range(40) if every.due(s)] == [0, 3, 6, 9, 15, 30]
    stops, step = [], 0
    while step < 40:
        step = every.next_after(step)
        stops.append(step)
    assert stops == [3, 6, 9, 15, 30, 45]
    assert probes.Every(0, early_every=4, early_until=9).next_after(8) == float("inf")
    config = dln_config(norm="none")  # 40 steps, logged every 10
    set_every(config.probe, 0)
    config.probe.landscape.update(dict(every=15, early_every=3, early_until=10))
    loop.train_and_evaluate(config, tmp_path)
    assert [r["step"] for r in runlog.read_metrics(tmp_path, "landscape")] == [0, 3, 6, 9, 15, 30]
    assert [r["step"] for r in runlog.read_metrics(tmp_path, "train")] == list(range(40))


def test_activation_pair_is_the_next_step_on_its_own_batch_and_noise(fake_cifar):
    config = tiny_vgg_config(fake_cifar, norm="noisy_batch")
    assert config.probe.activations.pair  # the VGG config measures step t and t+1 (figure 7)
    task, tx, data, state, step_fn = setup(config)
    row = probes.Probes(task, tx, config, state.params).run("activations", state, data)
    config.probe.activations.pair = False
    single = probes.Probes(task, tx, config, state.params)
    after, _ = step_fn(state, data, None)
    now, later = single.run("activations", state, data), single.run("activations", after, data)
    chex.assert_trees_all_close(row["layers"], now["layers"], rtol=1e-6)
    chex.assert_trees_all_close(row["next"]["layers"], later["layers"], rtol=1e-5, atol=1e-6)
    moved = [
        np.abs(np.asarray(a) - np.asarray(b)).max()
        for a, b in zip(
            jax.tree.leaves(now["layers"]), jax.tree.leaves(later["layers"]), strict=True
        )
    ]
    assert max(moved) > 1e-3  # a different batch, noise and parameters
