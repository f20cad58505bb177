"""The reproduction suite's config: every run names a real experiment and its probes, and
trains what its name and the claims reading it say; and how REPORT.md names its runs."""

import pytest

from bn_smooth import probes
from bn_smooth.configs import reproduce as suite_config


def test_suite_config_names_real_experiments_and_probes():
    from experiments.suite import run_config

    for scale in ("paper", "cpu", "smoke"):
        suite = suite_config.get_config(f"scale={scale}")
        names = [run.name for run in suite.runs]
        assert len(set(names)) == len(names)
        for run in suite.runs:
            config = run_config(suite, run)
            assert config.scale == scale
            assert set(probes.schedule(config)) == set(run.probes), run.name
    with pytest.raises(ValueError, match="unknown scale"):
        suite_config.get_config("scale=huge")


def without_twins(config) -> dict:
    """The config as a dict, without the evaluation-mode twins' sections."""
    d = config.to_dict()
    if "probe" in d:
        d["probe"] = {k: v for k, v in d["probe"].items() if k not in probes.RUNNING_TWINS}
    return d


def test_each_suite_run_trains_what_its_name_and_the_claims_say():
    """A run's name is what the figures and claims read it as: the network, the norm, the
    learning rate (_lr..., else the experiment's default), the seed (_s..., added to the
    suite's); every probe measures the training objective but the evaluation-mode twins
    (bn_smooth.probes.RUNNING_TWINS); and runs compared in a figure or a claim differ only
    in their norm (and the BatchNorm run's twins)."""
    import re

    from bn_smooth.paper import panels
    from experiments.suite import run_config

    pattern = re.compile(
        r"(vgg|dln)_(none|batch|noisy_batch|l1|l2|linf)"
        r"(?:_lr([0-9.e-]+))?(?:_s(\d+))?$"
    )
    for scale in ("paper", "cpu", "smoke"):
        suite = suite_config.get_config(f"scale={scale},seed=3")
        configs = {run.name: run_config(suite, run) for run in suite.runs}
        for name, config in configs.items():
            net, norm, lr, seed = pattern.match(name).groups()
            assert config.task == {"vgg": "vgg_cifar", "dln": "dln"}[net], name
            assert config.norm == norm, name
            assert config.lr == (float(lr) if lr else {"vgg": 0.1, "dln": 1e-6}[net]), name
            assert config.seed == 3 + int(seed or 0), name
            for kind in probes.schedule(config):
                twin = kind in probes.RUNNING_TWINS
                assert config.probe[kind].mode == ("running" if twin else "batch"), name
        # Compared step by step: the same config but the norm. Compared by their final
        # numbers: the same training (their probes may differ).
        same_run = [
            panels.VGG_MAIN,
            panels.DLN_MAIN,
            panels.DLN_SLOW,
            ("vgg_none_lr0.5", "vgg_batch_lr0.5"),
            panels.VGG_LOW_LR,
            *extra_pairs(scale),
        ]
        same_training = [
            panels.VGG_NOISY,
            panels.VGG_LP,
            panels.DLN_LP,
            *(
                tuple(n for n in configs if n.startswith("dln_") and n.endswith(f"_s{k}"))
                for k in (1, 2)
            ),
        ]
        for names, differ in [(n, {"norm"}) for n in same_run] + [
            (n, {"norm", "probe"}) for n in same_training if n
        ]:
            plain = [
                {k: v for k, v in without_twins(configs[n]).items() if k not in differ}
                for n in names
            ]
            assert all(p == plain[0] for p in plain), names
        # The runs each claim reads are there, with the probes it reads.
        for name in ("vgg_none", "vgg_batch", "dln_none", "dln_batch"):
            assert {"landscape", "ics", "activations", "curvature"} <= set(
                probes.schedule(configs[name])
            ), name
        assert {"ics", "landscape", "curvature"} <= set(probes.schedule(configs["dln_none_lr1e-7"]))
        assert "activations" in probes.schedule(configs["vgg_noisy_batch"])
        assert set(probes.RUNNING_TWINS) <= set(probes.schedule(configs["vgg_batch"]))
        lp = [f"{net}_{p}" for net in ("vgg", "dln") for p in ("l1", "l2", "linf")]
        assert all("landscape" in probes.schedule(configs[n]) for n in lp)
        # C4 takes medians over the main pairs' seeds (bn_smooth.paper.seed_pairs.seeds).
        for name in (n for pair in extra_pairs(scale) for n in pair):
            assert "landscape" in probes.schedule(configs[name]), name


def extra_pairs(scale):
    """The main pairs (VGG, DLN) on the suite's extra seeds at `scale`."""
    return [
        *(
            tuple(suite_config.vgg_seed(n, k) for n in ("none", "batch"))
            for k in suite_config.vgg_extra_seeds(scale)
        ),
        *(
            tuple(suite_config.dln_seed(n, k) for n in ("none", "batch"))
            for k in suite_config.dln_extra_seeds(scale)
        ),
    ]


def test_report_names_the_runs_that_train_fewer_steps_than_their_task_first():
    from types import SimpleNamespace

    from bn_smooth.paper import report

    def run(task, steps):
        return SimpleNamespace(config={"task": task}, num_steps=steps)

    runs = {
        "vgg_none": run("vgg_cifar", 3_000),
        "dln_none": run("dln", 10_000),
        "vgg_none_lr0.5": run("vgg_cifar", 1_500),
        "vgg_batch_lr0.01": run("vgg_cifar", 1_500),
        "dln_l1": run("dln", 10_000),
    }
    assert report._shorter_runs(runs) == "vgg_none_lr0.5, vgg_batch_lr0.01 train 1,500 steps. "
    assert report._shorter_runs({n: runs[n] for n in ("vgg_none", "dln_none")}) == ""
