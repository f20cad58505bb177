"""Checkpoints of a run's train state, with orbax, under workdir/checkpoints."""

from pathlib import Path

import orbax.checkpoint as ocp

from bn_smooth.train import TrainState


class Checkpoints:
    """Orbax checkpoints of the train state under workdir/checkpoints."""

    def __init__(self, workdir, max_to_keep: int = 2):
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
        )
        self.manager = ocp.CheckpointManager(
            Path(workdir).absolute() / "checkpoints", options=options
        )

    def save(self, state: TrainState):
        step = int(state.step)
        if self.manager.latest_step() != step:
            self.manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def restore(self, template: TrainState) -> TrainState:
        """The latest checkpoint, or the template when there is none."""
        step = self.manager.latest_step()
        if step is None:
            return template
        return self.manager.restore(step, args=ocp.args.StandardRestore(template))

    def close(self):
        self.manager.close()
