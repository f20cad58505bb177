"""Data parallelism: one `Mesh` over a 'data' axis, batches sharded, everything else replicated.

Programs stay single-device code under `jax.jit` (global view): the training
step, the probes and evaluation see the global batch, so BatchNorm's batch
statistics are those of the global batch, and XLA inserts the cross-device
reductions. On one device the mesh has one entry and nothing changes. In a
multi-process job (bn_smooth.distributed) the mesh spans every process's devices.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bn_smooth.errors import ConfigError

AXIS = "data"


def data_mesh(num_devices: int = 0) -> Mesh:
    """A mesh over the first `num_devices` devices (0: all of them)."""
    devices = jax.devices()
    if jax.process_count() > 1 and num_devices not in (0, len(devices)):
        raise ConfigError(
            f"num_devices={num_devices} in a job of {jax.process_count()} "
            "processes: every process's devices take part; use num_devices=0."
        )
    if num_devices > len(devices):
        raise ConfigError(
            f"num_devices={num_devices}, but only {len(devices)} devices are "
            "visible; on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N "
            "makes N of them."
        )
    return Mesh(np.array(devices[: num_devices or len(devices)]), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(AXIS))


def check_divisible(batch_size: int, mesh: Mesh):
    n = mesh.devices.size
    if batch_size % n:
        raise ConfigError(
            f"batch size {batch_size} does not split over {n} devices; use a "
            f"multiple of {n} or set num_devices."
        )
