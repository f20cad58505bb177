"""The probes' rows, as the training loop writes them, against independent computations of
the loss of their step: a line search by hand, and the whole Hessian with its spectrum.
A probe that forgot the learning rate or measured another step's loss fails here."""

import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from bn_smooth import curvature, loop, probes, runlog, train
from bn_smooth.configs.common import set_every
from tests.conftest import dln_config, tiny_vgg_config
from tests.test_probes import setup, with_curvature
from tests.test_reference import trained_state


def flat(tree):
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def probed_run(config, workdir):
    """`config` trained 4 steps by the loop, its probes at steps 0 and 2 (written to
    `workdir`), and its state at step 2."""
    config.num_steps, config.log_every = 4, 4
    config.eval_every = config.checkpoint_every = 0
    loop.train_and_evaluate(config, workdir)
    task, _, data, state = trained_state(config, steps=2)
    return config, runlog.read_metrics(workdir), task, data, state


@pytest.fixture(scope="module")
def probed_vgg(tmp_path_factory, fake_cifar):
    """A noisy-BatchNorm VGG with the line search (appendix A's grid for VGG)."""
    config = tiny_vgg_config(fake_cifar, norm="noisy_batch")
    config.lr = 0.05
    set_every(config.probe, 0)
    config.probe.landscape.update(every=2, num_etas=3)
    return probed_run(config, tmp_path_factory.mktemp("vgg"))


@pytest.fixture(scope="module")
def probed_dln(tmp_path_factory):
    """The noisy-BatchNorm DLN on minibatches of 100 (800 parameters: a whole Hessian is
    cheap), with the curvature probe."""
    config = dln_config(norm="noisy_batch", batch_size=100)
    set_every(config.probe, 0)
    config.probe.curvature.update(every=2, k=2, num_steps=40, pair=False)
    config.probe.batch_sharpness.update(every=2, num_batches=3, k=1, num_steps=40)
    return probed_run(config, tmp_path_factory.mktemp("dln"))


def step_loss(task, state, data, step=None):
    """Training step t's loss (its batch, batch statistics, its noise sample), as the
    training step computes it: the function every probe must measure; with `step`, the
    same on another step's batch."""
    batch = train.batch_at(task, data, state, step)

    def loss(params):
        return train.training_loss(task, params, state.batch_stats, batch, state.noise_key())[0]

    return loss


def row_at(rows, kind, step):
    return next(r for r in rows if r["kind"] == kind and r["step"] == step)


def test_landscape_row_is_a_line_search_of_its_steps_loss(probed_vgg):
    config, rows, task, data, state = probed_vgg
    row = row_at(rows, "landscape", 2)
    section = config.probe.landscape
    # Appendix A: eta in [0.5, 4] x lr, evenly spaced.
    step_sizes = config.lr * np.linspace(section.eta_min, section.eta_max, section.num_etas)
    assert (section.eta_min, section.eta_max, section.spacing) == (0.5, 4.0, "linear")
    np.testing.assert_allclose(row["step_sizes"], step_sizes, rtol=1e-6)
    loss_fn = step_loss(task, state, data)
    loss, grad = jax.jit(loss_fn), jax.jit(jax.grad(loss_fn))
    g = grad(state.params)
    losses, dists = [], []
    for eta in step_sizes:
        moved = jax.tree.map(lambda p, d, eta=eta: p - eta * d, state.params, g)
        losses.append(float(loss(moved)))
        dists.append(np.linalg.norm(flat(grad(moved)) - flat(g)))
    g_norm = np.linalg.norm(flat(g))
    np.testing.assert_allclose(row["losses"], losses, rtol=1e-4)
    np.testing.assert_allclose(row["grad_dists"], dists, rtol=1e-3)
    np.testing.assert_allclose(row["step_norms"], step_sizes * g_norm, rtol=1e-4)
    assert row["loss0"] == pytest.approx(float(loss(state.params)), rel=1e-5)
    assert row["grad_norm"] == pytest.approx(g_norm, rel=1e-4)
    assert (row["loss_min"], row["loss_max"]) == pytest.approx((min(losses), max(losses)), rel=1e-4)
    assert row["grad_dist_max"] == pytest.approx(max(dists), rel=1e-3)
    assert row["beta_eff"] == pytest.approx(max(np.array(dists) / (step_sizes * g_norm)), rel=1e-3)
    # The curvature along the gradient at the start, by hand: H g_hat as a JVP of the gradient
    # (jitted: op by op, it compiled for 15 s).
    g_hat = jax.tree.map(lambda x: x / g_norm, g)
    hvp = jax.jit(lambda p, v: jax.jvp(jax.grad(loss_fn), (p,), (v,))[1])
    hg = flat(hvp(state.params, g_hat))
    assert row["hg_norm"] == pytest.approx(np.linalg.norm(hg), rel=1e-3)
    assert row["rayleigh"] == pytest.approx(flat(g_hat) @ hg, rel=1e-3)


def test_curvature_row_is_the_whole_hessian_of_its_steps_loss(probed_dln):
    config, rows, task, data, state = probed_dln
    row = row_at(rows, "curvature", 2)
    loss = step_loss(task, state, data)
    vector, unravel = ravel_pytree(state.params)
    hessian = np.asarray(jax.jit(jax.hessian(lambda v: loss(unravel(v))))(vector), np.float64)
    hessian = (hessian + hessian.T) / 2
    eigenvalues = np.linalg.eigvalsh(hessian)[::-1]
    g = flat(jax.grad(loss)(state.params))
    g_hat = g / np.linalg.norm(g)
    scale = np.abs(eigenvalues).max()
    np.testing.assert_allclose(row["eigenvalues"], eigenvalues[:2], rtol=1e-3, atol=1e-4 * scale)
    assert row["rayleigh"] == pytest.approx(g_hat @ hessian @ g_hat, rel=1e-3, abs=1e-4 * scale)
    assert row["hg_norm"] == pytest.approx(np.linalg.norm(hessian @ g_hat), rel=1e-3)
    assert row["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-4)
    assert row["two_over_lr"] == pytest.approx(2 / config.lr)


def test_batch_sharpness_row_is_that_of_the_next_batches_whole_hessians(probed_dln):
    config, rows, task, data, state = probed_dln
    row = row_at(rows, "batch_sharpness", 2)
    vector, unravel = ravel_pytree(state.params)
    hessians, sharpness = [], []
    for j in range(config.probe.batch_sharpness.num_batches):  # steps 2, 3, 4: own statistics
        loss = step_loss(task, state, data, step=2 + j)
        h = np.asarray(jax.jit(jax.hessian(lambda v, f=loss: f(unravel(v))))(vector), np.float64)
        g = flat(jax.grad(loss)(state.params))
        hessians.append((h + h.T) / 2)
        sharpness.append(g @ hessians[-1] @ g / (g @ g))
    averaged = np.linalg.eigvalsh(np.mean(hessians, axis=0))[-1]
    assert row["batch_sharpness"] == pytest.approx(np.mean(sharpness), rel=1e-3)
    assert row["averaged_eigenvalues"][0] == pytest.approx(averaged, rel=1e-3)
    assert row["two_over_lr"] == pytest.approx(2 / config.lr)
    # Not one batch's: the three batches' sharpnesses differ.
    assert np.ptp(sharpness) > 1e-3 * abs(np.mean(sharpness))


def test_dln_curvature_probe_against_the_whole_hessian_at_both_iterates():
    config = dln_config(norm="batch")
    config.probe.curvature.update(dict(every=10, num_steps=60, exact=True))
    assert config.probe.curvature.pair  # the DLN config measures step t and t+1
    task, tx, data, state, step_fn = setup(config, steps=3)
    row = probes.Probes(task, tx, config, state.params).run("curvature", state, data)
    for at in (row, row["next"]):
        np.testing.assert_allclose(at["eigenvalues"][:2], at["exact_eigenvalues"][:2], rtol=1e-3)
        assert abs(at["rayleigh"]) <= at["hg_norm"] * (1 + 1e-5)
    assert row["two_over_lr"] == pytest.approx(2 / config.lr)
    # `next` is the same probe one GD update later.
    config.probe.curvature.pair = False
    after, _ = step_fn(state, data, None)
    later = probes.Probes(task, tx, config, state.params).run("curvature", after, data)
    for key in ("exact_eigenvalues", "hg_norm", "grad_norm"):
        np.testing.assert_allclose(row["next"][key], later[key], rtol=1e-5)
    assert "next" not in later


def test_spectrum_probe_puts_the_mass_inside_the_whole_hessians_spectrum():
    config = dln_config(norm="batch")
    config.probe.spectrum.update(dict(every=10, num_steps=20, num_vectors=3, num_points=128))
    task, tx, data, state, _ = setup(config)
    row = probes.Probes(task, tx, config, state.params).run("spectrum", state, data)
    loss_fn = train.step_loss_fn(task, state, data)
    exact = np.linalg.eigvalsh(np.asarray(curvature.hessian_matrix(loss_fn, state.params)))
    spread = exact[-1] - exact[0]
    assert row["nodes"].shape == row["weights"].shape == (3, 20)
    # Ritz values lie in [lambda_min, lambda_max]; the top one is lambda_max itself.
    assert row["nodes"].min() >= exact[0] - 1e-4 * spread
    assert row["nodes"].max() <= exact[-1] + 1e-4 * spread
    np.testing.assert_allclose(row["nodes"].max(axis=1), exact[-1], rtol=1e-3)
    np.testing.assert_allclose(row["weights"].sum(axis=1), 1.0, rtol=1e-5)
    assert np.sum(row["density"]) * (row["grid"][1] - row["grid"][0]) == pytest.approx(
        1.0, rel=1e-2
    )


# Per network: two learning rates, a config at each, and the probes to compare there (the
# tiny VGG builds every registered kind; the DLN the ones the suite runs on it).
LEARNING_RATE_PAIRS = {
    "vgg": ((0.1, 0.5), lambda cifar, lr: with_curvature(tiny_vgg_config(cifar, lr=lr))),
    "dln": ((1e-6, 1e-7), lambda cifar, lr: dln_config(norm="batch", lr=lr)),
}
KINDS = {
    "vgg": tuple(probes.REGISTRY),
    "dln": ("landscape", "ics", "activations", "curvature", "scale"),
}


@pytest.mark.parametrize("network", ["vgg", "dln"])
def test_runs_that_differ_only_in_their_learning_rate_share_every_probe_program(
    fake_cifar, network
):
    """Every probe reads the learning rate from the state, none from the config: the
    suite's runs at other learning rates reuse the compiled probes (docs/speed.md)."""
    lrs, make_config = LEARNING_RATE_PAIRS[network]
    programs = []
    for lr in lrs:
        config = make_config(fake_cifar, lr)
        task, tx, data, state, _ = setup(config, steps=0)
        context = probes.Context(task, tx, config, state.params)
        programs.append(
            {
                kind: jax.jit(probes.REGISTRY[kind](context, config.probe[kind]).measure)
                .lower(state, data)
                .as_text()
                for kind in KINDS[network]
            }
        )
    assert programs[0].keys() == programs[1].keys()
    for kind, program in programs[0].items():
        assert program == programs[1][kind], kind
