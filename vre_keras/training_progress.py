"""A Keras callback that shows a training phase's progress: epoch, step, loss and ETA.

`run_schedule` calls `fit` once per epoch (it checkpoints in between), so one callback spans a
whole phase: its bar counts the phase's steps, not one epoch's. Keras' own progbar would restart
on every `fit` call and prints nothing useful into a log file.
"""

from __future__ import annotations

import keras
import numpy as np

from vre_common.progress import ProgressReporter

# Losses shown beside the bar, in this order when present (see VRECaptioner.metrics).
SHOWN_LOGS = ("loss", "xe1", "xe2", "lr_plus", "refocus_xe", "reward", "sample_reward")
# Phase 2's refocus term is LR+ (the paper) or refocus_xe (refocus_loss="decoder_attention").
PHASE_NAMES = {1: "XE of step 1", 2: "XE1 + XE2 + refocus loss", 3: "fixed key frames",
               4: "self-critical"}


class TrainingProgress(keras.callbacks.Callback):
    """Progress of one training phase over the epochs `first_epoch..epochs-1`.

    Args:
        phase: the schedule's phase (1..4).
        first_epoch: the epoch the phase starts (or resumes) at.
        epochs: the phase's number of epochs.
        steps_per_epoch: training steps per epoch (None: unknown).
        enabled: False shows nothing.
    """

    def __init__(self, phase, first_epoch, epochs, steps_per_epoch, enabled=True):
        super().__init__()
        self.phase = phase
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        total = (epochs - first_epoch) * steps_per_epoch if steps_per_epoch else None
        self.reporter = ProgressReporter(
            f"phase {phase} ({PHASE_NAMES.get(phase, '?')})",
            total=total,
            unit="step",
            enabled=enabled,
        )
        self.epoch = first_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # (a [1]-shaped value under MultiWorkerMirroredStrategy, see VRECaptioner)
        shown = {k: float(np.ravel(logs[k])[0]) for k in SHOWN_LOGS if logs and k in logs}
        self.reporter.update(1, epoch=f"{self.epoch + 1}/{self.epochs}", **shown)

    def close(self):
        """Ends the display (after the phase's last epoch)."""
        self.reporter.close()
