"""Shared fixtures: small CIFAR-10 files in the official format, tiny configs."""

import functools
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from bn_smooth import cifar10

# The workplace's shared folder beside the repository (the mutation check, which runs the
# tests in a copy elsewhere, names it in SHARED_ENV).
SHARED_ENV = "BN_SMOOTH_SHARED"
SHARED = Path(os.environ.get(SHARED_ENV) or Path(__file__).resolve().parents[2] / "shared")
SHARED_CIFAR = SHARED / "data" / "cifar-10-batches-py"
# The tests never touch the network, in this process or in the commands they start: the
# download tests lift this and point the loader at a local file server.
os.environ[cifar10.OFFLINE_ENV] = "1"

# XLA's backend at optimization level 0, with XLA:CPU's older fusion code generator where
# this jaxlib has it: compiling is most of a smoke-scale command's time. Level 0 cut the
# smoke suite's by a third; the older generator then cut a smoke VGG command with every
# probe kind to about 0.68x its time (at the default level it saves nothing). Values
# differ from the default's in float32 rounding, and at the tests' large learning rates a
# training trajectory amplifies that (a ReLU or a pooling window flips) within a few
# steps. So it is used only where a test compares runs that are all compiled with it and
# share their programs (a command's outputs with themselves; a two-process job with one
# process of two devices, bit for bit), never against numbers computed at the default
# level. Nor are its values trusted: at level 0 gradients came out wrong, with either
# generator (docs/speed.md).
FAST_COMPILE = "--xla_backend_optimization_level=0"
OLDER_FUSION_CODE = "--xla_cpu_use_fusion_emitters=false"  # a jaxlib may drop it
TEST_CACHE_ENV = "BN_SMOOTH_TEST_JAX_CACHE"  # a compilation cache shared across sessions


def xla_flags(devices: int | None = None, fast_compile: bool = True) -> str:
    """XLA_FLAGS for a test's command: fast compiles unless told otherwise, and `devices`
    CPU devices if given."""
    flags = [os.environ.get("XLA_FLAGS", "")]
    if fast_compile:
        flags += [FAST_COMPILE, OLDER_FUSION_CODE if xla_knows(OLDER_FUSION_CODE) else ""]
    if devices:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    return " ".join(f for f in flags if f)


@functools.cache
def xla_knows(flag: str) -> bool:
    """Whether this jaxlib's XLA accepts `flag` (an unknown one in XLA_FLAGS is fatal)."""
    probe = [sys.executable, "-c", "import jax; jax.devices()"]
    env = {**os.environ, "XLA_FLAGS": flag}
    return subprocess.run(probe, env=env, capture_output=True).returncode == 0


def make_fake_cifar(root: Path, per_batch: int = 64, test: int = 40, seed: int = 0) -> Path:
    """Write random images in the official format; returns the batches folder."""
    rng = np.random.default_rng(seed)
    folder = root / cifar10.FOLDER_NAME
    folder.mkdir(parents=True)
    for i, name in enumerate((*cifar10.TRAIN_FILES, cifar10.TEST_FILE)):
        n = test if name == cifar10.TEST_FILE else per_batch
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = (np.arange(n) + i) % 10
        cifar10.write_batch(folder / name, images, labels, name)
    return folder


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
    """Compile each distinct program once per session: many tests train the same tiny nets."""
    # One folder for every test worker (pytest-xdist): a program compiled once is compiled
    # for all of them.
    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker's folder is inside the session's
        session = session.parent
    # The mutation check runs pytest once per mutation: one cache for all of its sessions.
    cache = Path(os.environ.get(TEST_CACHE_ENV) or session / "jax_cache")
    cache.mkdir(exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(cache)  # for entrypoint subprocesses
    yield
    jax.config.update("jax_compilation_cache_dir", None)


@pytest.fixture(scope="session")
def fake_cifar(tmp_path_factory) -> Path:
    return make_fake_cifar(tmp_path_factory.mktemp("cifar"))


@pytest.fixture
def no_cifar_env(monkeypatch, tmp_path):
    """No CIFAR-10 anywhere the loader looks by default."""
    monkeypatch.delenv(cifar10.ENV_VAR, raising=False)
    monkeypatch.setattr(cifar10, "DEFAULT_DIR", tmp_path / "nowhere")


def shared_cifar_dir():
    """The real data beside the project (or $BN_SMOOTH_CIFAR10), if present."""
    env = os.environ.get(cifar10.ENV_VAR)
    for path in (Path(env) if env else None, SHARED_CIFAR):
        if path is not None and (path / cifar10.TEST_FILE).exists():
            return path
    return None


def tiny_vgg_config(data_dir, norm="batch", num_steps=12, **overrides):
    """A VGG config that compiles in seconds: two conv layers on a small training set."""
    from bn_smooth.configs import vgg_cifar

    c = vgg_cifar.get_config(f"norm={norm},scale=smoke")
    with c.ignore_type():
        c.model.cfg = (8, "M", 16, "M")
    c.data_dir = str(data_dir)
    c.batch_size, c.train_limit = 16, 96  # 6 steps an epoch: several epochs in a run
    c.num_steps, c.log_every, c.eval_every, c.checkpoint_every = num_steps, 4, 4, 4
    c.probe.landscape.num_etas = 3  # fewer points: shorter compiles and runs
    c.update(overrides)
    return c


def dln_config(norm="none", **overrides):
    from bn_smooth.configs import dln

    c = dln.get_config(f"norm={norm},scale=smoke")
    c.update(overrides)
    return c
