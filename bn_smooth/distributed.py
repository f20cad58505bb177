"""Several processes (hosts) as one job: JAX's distributed runtime, and who writes.

A multi-process job runs the same program in every process. The mesh spans every
process's devices, each process holds the (small) dataset and gathers only its own
devices' rows of each global batch inside the jitted step, so BatchNorm's batch
statistics stay those of the global batch and every probe sees the global batch.
Every process computes every value; process 0 alone writes the workdir's files
(config, metrics, status, figures), and every process takes part in a checkpoint
(orbax writes it once).

`initialize(config)` joins the job when one is asked for, by the config
(`coordinator_address`, `num_processes`, `process_id`), by JAX's own
`JAX_COORDINATOR_ADDRESS`, or by a cluster environment JAX detects (SLURM, Open
MPI, Cloud TPU, ...); otherwise it does nothing and the job is this one process.
"""

import os

import jax
from absl import logging

FIELDS = ("coordinator_address", "num_processes", "process_id")


def initialize(config=None):
    """Join the multi-process job this process belongs to, if any (before any device is
    used); a no-op on a single process and when already joined."""
    if jax.distributed.is_initialized():
        return
    explicit = {k: config.get(k) for k in FIELDS} if config is not None else {}
    explicit = {k: v for k, v in explicit.items() if v is not None}
    if explicit or os.environ.get("JAX_COORDINATOR_ADDRESS") or _cluster_detected():
        jax.distributed.initialize(**explicit)
        logging.info(
            "process %d of %d; %d of the job's %d devices are this process's",
            jax.process_index(),
            jax.process_count(),
            jax.local_device_count(),
            jax.device_count(),
        )


def _cluster_detected() -> bool:
    """Whether JAX would find the job's processes by itself (its cluster detection is not
    public API: if it moves, only an explicit coordinator address starts a job)."""
    try:
        from jax._src.clusters import ClusterEnv

        return any(
            not env.opt_in_only_method and env.is_env_present() for env in ClusterEnv._cluster_types
        )
    except (ImportError, AttributeError):
        return False


def is_writer() -> bool:
    """Whether this process writes the workdir's files: process 0 of the job."""
    return jax.process_index() == 0
