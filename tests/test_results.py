"""Runs read back (bn_smooth.results) and the numbers REPORT.md reads from them
(bn_smooth.summaries), on hand-written runs with known answers."""

import numpy as np
import pytest

from bn_smooth import results, runlog, summaries
from bn_smooth.paper import sharpness_claim, verdicts


def write_run(workdir, config, rows, status="finished", step=None):
    workdir.mkdir(parents=True)
    runlog.write_config(workdir, config)
    runlog.MetricsWriter(workdir).write_rows(rows)
    runlog.write_status(workdir, status, step if step is not None else config["num_steps"])
    return results.Run.load(workdir)


def test_report_numbers_on_a_hand_written_run(tmp_path):
    config = {
        "norm": "batch",
        "lr": 0.1,
        "num_steps": 60,
        "task": "vgg_cifar",
        "probe": {"activations": {"every": 10, "percentiles": [5, 50, 95]}},
    }
    accuracy = np.arange(60) / 100
    rows = [{"step": t, "kind": "train", "loss": 1.0, "accuracy": accuracy[t]} for t in range(60)]
    rows += [
        {
            "step": t,
            "kind": "landscape",
            "loss_min": 1.0,
            "loss_max": 1.0 + t,
            "grad_dist_min": 0.0,
            "grad_dist_max": 2.0 * t,
            "beta_eff": 3.0,
            "loss0": 1.0,
            "grad_norm": 1.0,
            "losses": [1.0],
            "grad_dists": [0.0],
            "step_norms": [1.0],
            "step_sizes": [0.1],
        }
        for t in (0, 10, 20, 30, 40, 50)
    ]
    rows += [
        {
            "step": t,
            "kind": "ics",
            "layers": ["layer_00", "layer_01", "head"],
            "l2": [0.0, t, 2.0],
            "cosine": [1.0, 0.5, -0.5],
        }
        for t in (0, 30)
    ]
    rows += [
        {
            "step": t,
            "kind": "activations",
            "layers": {
                "layer_00": {
                    "units": [3, 7],
                    "post_norm": {
                        "mean": [t, 0.0],
                        "std": [1.0, np.sqrt(t)],
                        "percentiles": [[0, 1, 2]] * 2,
                    },
                }
            },
        }
        for t in (0, 10, 30)
    ]
    run = write_run(tmp_path / "run", config, rows)
    # Running mean over num_steps // 30 = 2 steps.
    assert run.window == 2
    assert run.final("accuracy") == pytest.approx((0.58 + 0.59) / 2)
    assert run.train_at("accuracy", 10) == pytest.approx((0.09 + 0.10) / 2)
    # Early: probes after step 0 and before step 0.2 * 60 = 12, i.e. step 10; step 0 apart.
    assert summaries.landscape_medians(run, early=True) == {
        "loss range": 10.0,
        "gradient change": 20.0,
        "beta_eff": 3.0,
    }
    assert summaries.landscape_medians(run, early=None) == {
        "loss range": 0.0,
        "gradient change": 0.0,
        "beta_eff": 3.0,
    }
    assert summaries.landscape_medians(run, early=False)["gradient change"] == 50.0
    smooth = run.smoothness()
    np.testing.assert_allclose(smooth["gradient change / ||g||"], 2.0 * smooth["steps"])
    np.testing.assert_allclose(smooth["beta_eff lr/2"], 0.15)
    assert run.plateau_end() == 59  # a constant loss never leaves its plateau
    assert summaries.ics_medians(run) == {
        "l2": {"layer_01": 15.0, "head": 2.0},
        "cosine": {"layer_01": 0.5, "head": -0.5},
    }
    # |change| in mean: unit 3 moves 10 then 20, unit 7 never; variance: unit 7 10 then 20.
    changes = summaries.moment_changes(run, "layer_00", 0)
    np.testing.assert_array_equal(changes["steps"], [10, 30])
    np.testing.assert_allclose(changes["mean"], [10.0, 20.0])
    np.testing.assert_allclose(
        summaries.moment_changes(run, "layer_00", 1)["variance"], [10.0, 20.0]
    )
    assert summaries.moment_instability(run) == pytest.approx({"mean": 5.0, "variance": 5.0})
    assert run.num_test_examples is None  # no eval rows

    # With the probe's `pair`, changes are from each probed step t to step t+1.
    paired = [
        {
            **r,
            "next": {
                "layers": {
                    "layer_00": {
                        **r["layers"]["layer_00"],
                        "post_norm": {
                            "mean": [r["step"] + 0.5, 0.0],
                            "std": [1.0, np.sqrt(r["step"] + 2.0)],
                            "percentiles": [[0, 1, 2]] * 2,
                        },
                    }
                }
            },
        }
        if r["kind"] == "activations"
        else r
        for r in rows
    ]
    changes = summaries.moment_changes(
        write_run(tmp_path / "paired", config, paired), "layer_00", 0
    )
    assert changes["between"] == "steps"
    np.testing.assert_array_equal(changes["steps"], [0, 10, 30])
    np.testing.assert_allclose(changes["mean"], [0.5, 0.5, 0.5])
    assert summaries.moment_changes(run, "layer_00", 0)["between"] == "probes"

    diverged = write_run(tmp_path / "diverged", config, rows[:30], status="diverged", step=30)
    assert np.isnan(diverged.final("accuracy"))
    assert verdicts.higher(0.1, diverged.final("accuracy"))
    assert not verdicts.higher(diverged.final("accuracy"), 0.1)


def test_runs_from_before_the_probe_sections_still_read_back(tmp_path):
    old = {
        "norm": "none",
        "lr": 0.1,
        "num_steps": 10,
        "task": "dln",
        "probe": {
            "every": 5,
            "ics_every": 0,
            "activations_every": 5,
            "eta_min": 0.5,
            "eta_max": 4.0,
            "num_etas": 8,
            "spacing": "linear",
            "num_units": 4,
            "activation_layers": [],
            "percentiles": [5, 50, 95],
            "strategy": "",
        },
    }
    run = write_run(tmp_path / "old", old, [])
    assert run.percentiles() == (5, 50, 95)
    assert run.config["probe"]["landscape"]["eta_max"] == 4.0
    assert {k: v["every"] for k, v in run.config["probe"].items()} == {
        "landscape": 5,
        "ics": 0,
        "activations": 5,
    }


def test_sharpness_numbers_on_a_hand_written_gd_run(tmp_path):
    # GD at lr 0.5 (2/lr = 4) for 40 steps, curvature probes at 0, 10, 20, 30 with `pair`.
    config = {
        "norm": "none",
        "lr": 0.5,
        "num_steps": 40,
        "task": "dln",
        "probe": {"curvature": {"every": 10, "pair": True}},
    }
    # The loss falls, but alternates up and down from step 20 on.
    loss = [100.0 - t if t < 20 else 80.0 + (t % 2) for t in range(40)]
    rows = [{"step": t, "kind": "train", "loss": loss[t]} for t in range(40)]
    lam = {0: (2.0, 2.2), 10: (3.0, 3.2), 20: (3.9, 6.0), 30: (3.8, 5.0)}  # (step t, t+1)

    def at(value):
        return {"eigenvalues": [value, 1.0], "rayleigh": 1.0, "hg_norm": 2.0, "grad_norm": 3.0}

    rows += [
        {"step": t, "kind": "curvature", **at(now), "two_over_lr": 4.0, "next": at(later)}
        for t, (now, later) in lam.items()
    ]
    run = write_run(tmp_path / "gd", config, rows)
    steps, ratio = run.sharpness()
    np.testing.assert_array_equal(steps, [0, 10, 20, 30])
    np.testing.assert_allclose(ratio, [0.5, 0.75, 0.975, 0.95])  # lambda_1 * 0.5 / 2
    steps, ratio = run.sharpness(next_step=True)
    np.testing.assert_array_equal(steps, [1, 11, 21, 31])
    np.testing.assert_allclose(ratio, [0.55, 0.8, 1.5, 1.25])
    # Early (before step 8): steps 0 and 1 pooled; late: the other six values.
    assert summaries.sharpness_median(run, early=True) == pytest.approx(0.525)
    assert summaries.sharpness_median(run, early=False) == pytest.approx((0.95 + 0.975) / 2)
    assert summaries.rising_fraction(run, 0, 20) == 0.0
    assert summaries.rising_fraction(run, 20, 40) == pytest.approx(10 / 20)  # odd steps rise
    # Per interval: rising fraction, and the sharper of the pair.
    assert sharpness_claim.oscillation_intervals(run) == [
        (0, 0.0, pytest.approx(0.55)),
        (10, 0.0, pytest.approx(0.8)),
        (20, 0.5, pytest.approx(1.5)),
        (30, 0.5, pytest.approx(1.25)),
    ]
    # Without `pair`, the intervals read the probed step only.
    single = write_run(
        tmp_path / "single",
        {**config, "probe": {"curvature": {"every": 10}}},
        [{k: v for k, v in r.items() if k != "next"} for r in rows],
    )
    assert [m for *_, m in sharpness_claim.oscillation_intervals(single)] == pytest.approx(
        [0.5, 0.75, 0.975, 0.95]
    )


@pytest.mark.parametrize("network", ["vgg", "dln"])
def test_batchnorm_scale_reads_gamma_and_sigma_off_the_probed_units(network, fake_cifar):
    """A BatchNorm VGG whose gamma is set by hand (negative ones too), and the DLN, whose
    BatchNorm has no gamma (it reads 1): both come back from the probe's rows."""
    import jax
    import jax.numpy as jnp

    from bn_smooth import probes
    from tests.conftest import dln_config, tiny_vgg_config
    from tests.test_probes import setup

    config = tiny_vgg_config(fake_cifar) if network == "vgg" else dln_config(norm="batch")
    task, tx, data, state, _ = setup(config, steps=1)
    gammas = {}

    def set_scale(path, p):
        if path[-1].key != "scale":
            return p
        gammas[path[0].key] = g = jnp.linspace(-2.0, 3.0, p.size).reshape(p.shape)
        return g

    state = state.replace(params=jax.tree_util.tree_map_with_path(set_scale, state.params))
    row = probes.Probes(task, tx, config, state.params).run("activations", state, data)
    run = results.Run.from_rows(
        "run", config.to_dict(), [{"step": 1, "kind": "activations", **row}]
    )
    assert run.activation_layers() and (network == "dln" or gammas)
    normalized = run.activation_layers()[: -1 if network == "dln" else None]  # DLN: not its last
    for layer in normalized:
        for i, unit in enumerate(run.activation_units(layer)):
            sigma, gamma = summaries.batchnorm_scale(run, layer, i)
            want = abs(float(gammas[layer][unit])) if layer in gammas else 1.0
            np.testing.assert_allclose(gamma, want, rtol=2e-3)
            np.testing.assert_array_equal(sigma, run.activations(layer, "pre_norm", i)["std"])
