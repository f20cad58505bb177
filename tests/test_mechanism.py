"""The decomposition of figure 4's gradient change (bn_smooth.mechanism), on cases with
known answers: a quadratic (factor 1), a quartic (a hand-computed factor), made-up ratios
(the shares' identity), and the landscape probe's curvature against the curvature probe's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bn_smooth import curvature, landscape, mechanism, probes, results, summaries
from tests.conftest import dln_config
from tests.test_probes import setup

RELATIVE = np.array([0.5, 1.0, 2.0])


def line_search_run(loss_fn, params, lr=0.1, steps=(0, 10, 20), scales=(1.0, 1.0, 1.0)):
    """A run made in memory whose landscape rows are the line search and curvature of
    `loss_fn` at `params` times each of `scales` (one probe per step)."""
    rows = []
    for step, scale in zip(steps, scales, strict=True):
        p = jax.tree.map(lambda x, s=scale: s * x, params)
        res = landscape.gradient_line_search(loss_fn, p, lr * RELATIVE)
        along = curvature.gradient_curvature(loss_fn, p)
        row = {k: np.asarray(v).tolist() for k, v in res._asdict().items()}
        row |= {"step_sizes": (lr * RELATIVE).tolist(), "loss_min": min(row["losses"])}
        row |= {"loss_max": max(row["losses"]), "grad_dist_min": min(row["grad_dists"])}
        row |= {"grad_dist_max": max(row["grad_dists"])}
        row |= {"hg_norm": float(along.hg_norm), "rayleigh": float(along.rayleigh)}
        rows.append({"step": step, "kind": "landscape", **row})
    return results.Run.from_rows("made", {"lr": lr, "num_steps": 100}, rows)


def test_on_a_quadratic_the_gradient_changes_exactly_as_predicted():
    a = jnp.diag(jnp.array([3.0, 1.0, 0.2]))
    d = mechanism.decompose(line_search_run(lambda w: 0.5 * w @ a @ w, jnp.array([1.0, -2.0, 0.5])))
    np.testing.assert_allclose(d.factor, 1.0, rtol=1e-5)
    np.testing.assert_allclose(d.relative_etas, RELATIVE, rtol=1e-6)
    g = a @ jnp.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(d.hg_norm, np.linalg.norm(a @ g) / np.linalg.norm(g), rtol=1e-5)


def test_on_a_quartic_the_factor_is_the_hand_computed_one():
    # L = w^4 / 4 at w = 1: g = w^3 = 1, H = 3 w^2 = 3; along w - eta g the gradient is
    # (1 - eta)^3, so the factor is |(1 - eta)^3 - 1| / (3 eta).
    d = mechanism.decompose(line_search_run(lambda w: jnp.sum(w**4) / 4, jnp.ones(1), lr=1.0))
    eta = RELATIVE
    np.testing.assert_allclose(d.factor[0], np.abs((1 - eta) ** 3 - 1) / (3 * eta), rtol=1e-5)
    assert d.factor[0, 0] == pytest.approx(0.5833333, rel=1e-5)  # eta = 0.5: 0.875 / 1.5


def test_probes_without_the_curvature_are_left_out():
    run = line_search_run(lambda w: 0.5 * w @ w, jnp.ones(2))
    del run.rows["landscape"][1]["hg_norm"]  # a probe made before the field existed
    assert mechanism.decompose(run).steps.tolist() == [0, 20]


def made(grad_norm, hg_norm, factor, steps=(0, 1, 2, 3)):
    n = len(steps)
    factor = np.broadcast_to(np.asarray(factor, float).reshape(-1, 1), (n, 2))
    g, h = np.asarray(grad_norm, float), np.asarray(hg_norm, float)
    predicted = np.array([0.5, 1.0]) * (g * h)[:, None]
    return mechanism.Decomposition(
        np.asarray(steps), np.array([0.5, 1.0]), g, h, predicted * factor, predicted, factor
    )


def test_shares_add_up_and_name_the_factor_that_carries_the_ratio():
    a = made([2, 2, 2, 2], [1, 1, 1, 1], 4)
    b = made([1, 1, 1, 1], [1, 1, 1, 1], 1)
    c = mechanism.compare(a, b, eta_index=1)
    # change ratio 8 = 2 (||g||) x 1 (||H g_hat||) x 4 (non-linearity)
    assert c["change"]["geomean"] == pytest.approx(8)
    assert c["||g||"]["share"] == pytest.approx(1 / 3)
    assert c["non-linearity"]["share"] == pytest.approx(2 / 3)
    assert c["||H g_hat||"]["share"] == pytest.approx(0)
    assert mechanism.carrier(c) == "non-linearity"
    assert c["steps"] == 4
    # Figure 4's largest change is at the largest step size at every probe ...
    assert mechanism.at_largest_step(a) == 1.0
    # ... unless the gradient's change falls back along the ray.
    bent = a._replace(change=a.change * np.array([[3.0, 1.0]] * 2 + [[1.0, 1.0]] * 2))
    assert mechanism.at_largest_step(bent) == 0.5


def test_the_window_and_the_common_steps_decide_what_is_compared():
    a = made([1, 1, 9, 9], [1, 1, 1, 1], 1, steps=(0, 1, 2, 3))
    b = made([1, 1, 1], [1, 1, 1], 1, steps=(0, 1, 2))  # step 3 not probed
    assert mechanism.compare(a, b, 0)["steps"] == 3
    early = mechanism.compare(a, b, 0, keep=lambda steps: steps < 2)
    assert early["||g||"]["geomean"] == pytest.approx(1)
    assert mechanism.compare(a, b, 0)["||g||"]["median"] == pytest.approx(1)  # 1, 1, 9
    whole = mechanism.compare(a, b, 0)
    assert whole["||g||"]["geomean"] == pytest.approx(9 ** (1 / 3))
    # The change's ratio is all ||g||'s: its share is 1 (the median ratio, 1, would say 0).
    assert whole["||g||"]["share"] == pytest.approx(1)


def test_the_landscape_probe_measures_the_curvature_probes_quantity():
    config = dln_config("batch")
    config.probe.landscape.every = 1
    config.probe.curvature.every = 1
    task, tx, data, state, _ = setup(config)
    p = probes.Probes(task, tx, config, state.params)
    land, curv = p.run("landscape", state, data), p.run("curvature", state, data)
    np.testing.assert_allclose(land["hg_norm"], curv["hg_norm"], rtol=1e-5)
    np.testing.assert_allclose(land["rayleigh"], curv["rayleigh"], rtol=1e-5)
    np.testing.assert_allclose(land["grad_norm"], curv["grad_norm"], rtol=1e-6)


def test_the_sharpness_variants_are_read_at_the_probes_steps_against_2_over_lr():
    def rows(step, one, batch, averaged):
        return [
            {"step": step, "kind": "curvature", "eigenvalues": [one], "rayleigh": 0.0,
             "hg_norm": 0.0, "grad_norm": 1.0, "two_over_lr": 20.0},
            {"step": step, "kind": "batch_sharpness", "batch_sharpness": batch,
             "averaged_eigenvalues": [averaged], "two_over_lr": 20.0},
        ]  # fmt: skip

    run = results.Run.from_rows(
        "made",
        {"lr": 0.1, "num_steps": 1000},
        rows(0, 99, 99, 99) + rows(100, 40, 10, 30) + rows(500, 20, 4, 16),
    )
    early = summaries.sharpness_variants(run, early=True)  # step 100 only
    assert early == pytest.approx(
        {"lambda_1, one batch": 2.0, "batch sharpness": 0.5, "lambda_1, averaged loss": 1.5}
    )
    late = summaries.sharpness_variants(run, early=False)  # step 500
    assert late["batch sharpness"] == pytest.approx(0.2)


def curvature_run(losses, probes, lr=0.1):
    """A run made in memory: training losses step by step, and lambda_1 at probed steps."""
    rows = [{"step": s, "kind": "train", "loss": v} for s, v in enumerate(losses)]
    rows += [
        {"step": s, "kind": "curvature", "eigenvalues": [lam], "rayleigh": 0.0,
         "hg_norm": 0.0, "grad_norm": 1.0, "two_over_lr": 2 / lr}
        for s, lam in probes
    ]  # fmt: skip
    rows.sort(key=lambda r: r["step"])
    return results.Run.from_rows("made", {"lr": lr, "num_steps": len(losses)}, rows)


def test_sharpness_is_compared_at_a_matched_loss_and_before_the_threshold():
    # 30 steps: window 1 (num_steps // 30). Loss 2, 1.9, ..., lambda_1 every 10 steps.
    fast = curvature_run(2 - 0.1 * np.arange(30), [(0, 5), (10, 12), (20, 25)])
    slow = curvature_run(2 - 0.02 * np.arange(30), [(0, 3), (10, 8), (20, 30)])
    assert summaries.sharpness_at_loss(fast, 1.4) == (10, pytest.approx(12))  # step 6 -> 10
    assert summaries.sharpness_at_loss(slow, 1.3)[0] == -1  # never that low
    assert summaries.sharpness_at_loss(slow, 1.8) == (10, pytest.approx(8))
    # 2/lr = 20: slow reaches it at step 20, so only steps 0 and 10 compare.
    steps, a, b = summaries.before_threshold(fast, slow)
    assert steps.tolist() == [0, 10]
    np.testing.assert_allclose(a, [5, 12])
    np.testing.assert_allclose(b, [3, 8])
