"""Mid-epoch checkpoint pieces: position inside the checkpoint, step callback, SIGTERM watcher."""

import os
import signal

import pytest
import tensorflow as tf

from vre_keras.preemption import EXIT_CODE, SigtermWatcher, TrainingPreempted
from vre_keras.step_checkpoint import ProgressState, StepCheckpoint, epoch_shuffle_seed


def test_progress_is_saved_with_the_variables_and_restored_in_place(tmp_path):
    progress = {"phase": 2, "epoch": 1, "step": 7, "history": {"2": {"loss": [1.5]}}}
    weight = tf.Variable([1.0, 2.0])
    checkpoint = tf.train.Checkpoint(weight=weight, progress=ProgressState(progress))
    path = checkpoint.save(str(tmp_path / "ckpt"))
    progress.update(step=9, epoch=3)
    weight.assign([0.0, 0.0])
    checkpoint.restore(path).assert_consumed()
    assert progress == {"phase": 2, "epoch": 1, "step": 7, "history": {"2": {"loss": [1.5]}}}
    assert weight.numpy().tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="needs a dict"):
        ProgressState([1])


def test_epoch_shuffle_seeds_are_stable_and_differ_per_epoch_and_phase():
    assert epoch_shuffle_seed(0, 2, 3) == epoch_shuffle_seed(0, 2, 3)
    seeds = {epoch_shuffle_seed(s, p, e) for s in (0, 1) for p in (1, 2) for e in range(5)}
    assert len(seeds) == 20


class _Watcher:
    def __init__(self, stop_at_call):
        self.calls = 0
        self.stop_at_call = stop_at_call

    def stop_requested(self):
        self.calls += 1
        return self.calls >= self.stop_at_call


def test_step_checkpoint_saves_every_n_steps_but_not_at_the_epoch_end():
    saved = []
    callback = StepCheckpoint(
        saved.append,
        phase=1,
        every_steps=3,
        first_step=2,
        steps_in_epoch=12,
        watcher=_Watcher(stop_at_call=100),
    )
    for batch in range(10):  # steps 3..12 of the epoch
        callback.on_train_batch_end(batch)
    assert saved == [3, 6, 9]  # step 12 ends the epoch, which writes its own checkpoint


def test_step_checkpoint_on_sigterm_saves_then_stops():
    saved = []
    watcher = _Watcher(stop_at_call=2)
    callback = StepCheckpoint(
        saved.append, phase=3, first_step=4, steps_in_epoch=20, watcher=watcher
    )
    callback.on_epoch_begin(1)
    callback.on_train_batch_end(0)
    with pytest.raises(TrainingPreempted, match="phase 3 epoch 2 step 6") as stop:
        callback.on_train_batch_end(1)
    assert saved == [6] and stop.value.code == EXIT_CODE == 143


def test_sigterm_watcher_turns_sigterm_into_a_flag_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with SigtermWatcher() as watcher:
        assert not watcher.stop_requested()
        os.kill(os.getpid(), signal.SIGTERM)  # would end this process without the watcher
        assert watcher.received and watcher.stop_requested()
    assert signal.getsignal(signal.SIGTERM) is before
