"""The mutation check's mistakes in the reproduction suite's runs: their learning rates,
names, seeds, norms and probes (bn_smooth/configs/reproduce.py)."""

from tests.mutation import SUITE_RUNS, mutation

MUTATIONS = [
    mutation(
        "suite-lr",
        "the suite's runs at lr 0.5 train at 0.1",
        "bn_smooth/configs/reproduce.py",
        'f"norm={norm},lr=0.5"',
        'f"norm={norm},lr=0.1"',
        SUITE_RUNS,
    ),
    mutation(
        "running-twins-in-batch-mode",
        "the BatchNorm VGG's evaluation-mode twins measure the training objective",
        "bn_smooth/configs/vgg_cifar.py",
        'update(every=0, mode="running")',
        'update(every=0, mode="batch")',
        SUITE_RUNS,
    ),
    mutation(
        "suite-names-swapped",
        "the names of the lr-0.5 runs swapped (none <-> batch)",
        "bn_smooth/configs/reproduce.py",
        'VGG_HIGH_LR = ("vgg_none_lr0.5", "vgg_batch_lr0.5")',
        'VGG_HIGH_LR = ("vgg_batch_lr0.5", "vgg_none_lr0.5")',
        SUITE_RUNS,
    ),
    mutation(
        "suite-seeds",
        "C5's extra DLN seeds all train seed 0",
        "bn_smooth/configs/reproduce.py",
        'f"norm={p},seed={a.seed + k}"',
        'f"norm={p},seed={a.seed}"',
        SUITE_RUNS,
    ),
    mutation(
        "suite-dln-seeds-unprobed",
        "the DLN pair's extra seeds do not measure the line search (C4's DLN: one seed)",
        "bn_smooth/configs/reproduce.py",
        '("landscape",) if p in ("none", "batch") else ()',
        "()",
        SUITE_RUNS,
    ),
    mutation(
        "suite-slow-lr",
        "the lr-1e-7 DLNs train at the paper's 1e-6",
        "bn_smooth/configs/reproduce.py",
        'f"norm={p},lr=1e-7"',
        'f"norm={p},lr=1e-6"',
        SUITE_RUNS,
    ),
    mutation(
        "suite-noisy",
        "the noisy-BatchNorm run trains plain BatchNorm",
        "bn_smooth/configs/reproduce.py",
        '"norm=noisy_batch,lr=0.1"',
        '"norm=batch,lr=0.1"',
        SUITE_RUNS,
    ),
]
