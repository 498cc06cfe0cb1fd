"""The NaN/inf guard of training at tiny sizes: skipped steps change nothing, too many stop."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from vre_keras.nan_guard import NONFINITE_STEPS, NonFiniteStepGuard, NonFiniteTrainingError
from vre_keras.vre_captioner import TEMPORAL, VRECaptioner


@pytest.fixture()
def model(tiny_config, tiny_vocabulary):
    keras.utils.set_random_seed(0)
    m = VRECaptioner(tiny_config, vocab_size=len(tiny_vocabulary), num_videos=4).build_all()
    m.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    return m


def _state(model):
    """Every weight (per-video tables included) and the optimizer's variables, as numpy."""
    return [v.numpy().copy() for v in model.weights + model.optimizer.variables]


def _nan_batch(batch, value=np.nan):
    bad = dict(batch)
    bad[TEMPORAL] = batch[TEMPORAL].copy()
    bad[TEMPORAL][1, 2, 3] = value  # one feature of one video
    return bad


def test_a_non_finite_step_changes_nothing_and_is_counted(model, tiny_batch):
    model.set_phase(2)  # the phase with per-video reward tables
    step = tf.function(model.train_step)  # graph mode, as in fit
    logs = step(tiny_batch)  # a finite step applies
    assert float(logs[NONFINITE_STEPS]) == 0.0
    before = _state(model)
    iterations = int(model.optimizer.iterations.numpy())

    for value in (np.nan, np.inf):
        logs = step(_nan_batch(tiny_batch, value))

    assert float(logs[NONFINITE_STEPS]) == 2.0
    assert np.isfinite(float(logs["loss"]))  # the skipped losses did not enter the running mean
    assert int(model.optimizer.iterations.numpy()) == iterations
    for old, new in zip(before, _state(model)):
        np.testing.assert_array_equal(old, new)  # weights, Adam moments, reward tables
    logs = step(tiny_batch)
    assert int(model.optimizer.iterations.numpy()) == iterations + 1  # and training goes on
    assert float(logs[NONFINITE_STEPS]) == 2.0


def _batches(batch, count):
    return tf.data.Dataset.from_tensors(batch).repeat(count)


def test_guard_logs_phase_epoch_step_and_recovers(model, tiny_batch, caplog):
    model.set_phase(1)
    good, bad = _batches(tiny_batch, 2), _batches(_nan_batch(tiny_batch), 2)
    guard = NonFiniteStepGuard(phase=1, max_consecutive=3, first_step=5)
    with caplog.at_level(logging.WARNING, logger="vre_keras.nan_guard"):
        history = model.fit(
            good.concatenate(bad).concatenate(good), epochs=1, verbose=0, callbacks=[guard]
        ).history
    assert history[NONFINITE_STEPS] == [2.0]
    assert guard.skipped == 2 and guard.consecutive == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("phase 1 epoch 1 step 8: non-finite") for m in messages), messages
    assert any(m.startswith("phase 1 epoch 1 step 9: non-finite") for m in messages), messages
    assert all(np.all(np.isfinite(w.numpy())) for w in model.weights)


def test_guard_stops_after_too_many_non_finite_steps_in_a_row(model, tiny_batch):
    model.set_phase(2)
    before = _state(model)
    guard = NonFiniteStepGuard(phase=2, max_consecutive=3, checkpoint_dir="/ckpt")
    with pytest.raises(
        NonFiniteTrainingError,
        match=r"phase 2 epoch 1 step 3: 3 training steps "
        r"in a row had a non-finite loss",
    ) as error:
        model.fit(_batches(_nan_batch(tiny_batch), 10), epochs=1, verbose=0, callbacks=[guard])
    assert "the last checkpoint is in /ckpt" in str(error.value)
    for old, new in zip(before, _state(model)):
        np.testing.assert_array_equal(old, new)


def test_guard_rejects_a_bad_limit():
    with pytest.raises(ValueError, match="max_consecutive must be a positive int"):
        NonFiniteStepGuard(phase=1, max_consecutive=0)
