"""Mid-epoch checkpoints: every N steps, and one more on SIGTERM, so a resumed run loses no epoch.

Three pieces `run_schedule` combines:
- `ProgressState`: the run's position (phase, epoch, step within the epoch) and history as JSON
  *inside* the tf.train.Checkpoint, so the weights and the position they belong to are written by
  one save (a crash between two separate writes cannot pair them wrongly).
- `StepCheckpoint`: a Keras callback that calls `save(step)` every `every_steps` steps and, when
  the SigtermWatcher reports SIGTERM, saves once more and raises `TrainingPreempted`.
- `epoch_shuffle_seed`: a shuffle seed per (phase, epoch), so a resumed epoch sees the same batch
  order and can skip the batches it already trained on.

Hand-written because Keras 3.15's `BackupAndRestore(save_freq=N)` saves every N batches but on
restore only goes back to the start of the saved epoch (its batch number is written, never read),
saves only `model.save_weights()` (no optimizer moments, no random-generator state, no Python
state such as the phase) and has no preemption hook.
"""

import json
import logging

import keras
import numpy as np
import tensorflow as tf

from vre_keras.preemption import TrainingPreempted

_log = logging.getLogger(__name__)


class ProgressState(tf.train.experimental.PythonState):
    """A JSON-able dict saved in a tf.train.Checkpoint; restoring replaces its contents in place.

    Args:
        state: the dict (kept by reference: the caller's dict is what gets saved and restored).

    Example:
        progress = {"phase": 1, "epoch": 0, "step": 0}
        checkpoint = tf.train.Checkpoint(model=model, progress=ProgressState(progress))
    """

    def __init__(self, state):
        if not isinstance(state, dict):
            raise TypeError(f"ProgressState needs a dict, got {type(state).__name__}")
        self.state = state

    def serialize(self):
        return json.dumps(self.state, sort_keys=True)

    def deserialize(self, string_value):
        restored = json.loads(string_value)
        self.state.clear()
        self.state.update(restored)


def epoch_shuffle_seed(seed, phase, epoch) -> int:
    """A shuffle seed for one epoch of one phase, the same in every process given the same args."""
    return int(np.random.SeedSequence([int(seed), int(phase), int(epoch)]).generate_state(1)[0])


def random_state_variables(model):
    """The model's random-generator states (Keras SeedGenerators: dropout, scheduled sampling).

    They are in `model.variables` but not in `model.weights`, so a checkpoint of the model alone
    restarts every random stream; saving them makes a resumed run draw what the run would have.
    """
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class StepCheckpoint(keras.callbacks.Callback):
    """Saves every `every_steps` training steps and stops with a checkpoint on SIGTERM.

    Args:
        save: `save(step)` writes the checkpoint; `step` = steps done in the current epoch.
        phase: training phase, for the messages.
        every_steps: save every this many steps of the epoch (None: only on SIGTERM).
        first_step: steps of the current epoch done before this `fit` (a resumed epoch).
        steps_in_epoch: length of the epoch in steps, or None if unknown. At the last step
            nothing is saved here: the end of the epoch writes its own checkpoint.
        watcher: a preemption.SigtermWatcher, or None to ignore SIGTERM.

    Example:
        model.fit(data, steps_per_epoch=100 - done, callbacks=[StepCheckpoint(
            save, phase=1, every_steps=20, first_step=done, steps_in_epoch=100, watcher=w)])
    """

    def __init__(
        self, save, phase, every_steps=None, first_step=0, steps_in_epoch=None, watcher=None
    ):
        super().__init__()
        if every_steps is not None and (not isinstance(every_steps, int) or every_steps < 1):
            raise ValueError(f"every_steps must be None or a positive int, got {every_steps!r}")
        self.save = save
        self.phase = phase
        self.every_steps = every_steps
        self.first_step = first_step
        self.steps_in_epoch = steps_in_epoch
        self.watcher = watcher
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.first_step + batch + 1
        if self.steps_in_epoch is not None and step >= self.steps_in_epoch:
            return  # the epoch end checkpoints (and checks for SIGTERM) next
        if self.watcher is not None and self.watcher.stop_requested():
            self.save(step)
            where = f"phase {self.phase} epoch {self._epoch + 1} step {step}"
            _log.warning("SIGTERM: checkpoint written at %s; stopping", where)
            raise TrainingPreempted(
                f"training stopped on SIGTERM after a checkpoint at {where}; run it again with "
                "the same working_dir to continue from there"
            )
        if self.every_steps and step % self.every_steps == 0:
            self.save(step)
