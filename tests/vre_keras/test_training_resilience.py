"""run_schedule under what production throws at it: NaN in the data, SIGTERM mid-epoch."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from vre_common import contract
from vre_keras.config import ModelConfig, ScheduleConfig
from vre_keras.nan_guard import NonFiniteTrainingError
from vre_keras.preemption import EXIT_CODE
from vre_keras.synthetic_data import synthetic_example
from vre_keras.training import KEY_FRAMES_FILE, PROGRESS_FILE, load_trained_model, run_schedule

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _write_records(path, references, config, nan_videos=()):
    """Synthetic Contract-1 records; the videos in `nan_videos` get one NaN temporal value."""
    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for video_id, captions in references.items():
            example = synthetic_example(video_id, captions, config, rng)
            if video_id in nan_videos:
                example.features.feature[contract.TEMPORAL].float_list.value[3] = math.nan
            writer.write(example.SerializeToString())
    return str(path)


REFERENCES = {f"v{i}": [f"a man number {i % 4} is riding a bike"] for i in range(11)}


def test_a_nan_video_is_skipped_and_training_recovers(tmp_path):
    config = ModelConfig.tiny(refocus_loss="lr_plus")  # the paper's loss keeps R_{e-1} per video
    schedule = ScheduleConfig.tiny(
        phase1_epochs=1,
        phase2_epochs=1,
        phase3_epochs=0,
        phase4_epochs=0,
        batch_size=4,
        steps_per_epoch=6,
    )
    references = dict(REFERENCES, bad=["a broken video"])
    train = _write_records(tmp_path / "train.tfrecord.gz", references, config, nan_videos={"bad"})
    summary = run_schedule(
        train,
        None,
        config,
        schedule,
        tmp_path / "work",
        tmp_path / "serving" / "1",
        tmp_path / "logs",
    )
    for phase in ("1", "2"):
        history = summary["phases"][phase]
        # 12 videos in batches of 4: every third batch holds the NaN video and is skipped.
        assert 1 <= history["nonfinite_steps"][0] <= 3, history
        assert all(np.isfinite(v[0]) for v in history.values()), history
    model, _ = load_trained_model(tmp_path / "work")
    for weight in model.weights:
        assert np.all(np.isfinite(weight.numpy())), weight.path
    assert np.any(model.previous_reward.numpy() != 0)  # R_{e-1} of the good videos was recorded
    assert (tmp_path / "serving" / "1" / "saved_model.pb").exists()


def test_only_nan_data_stops_with_a_message_naming_phase_epoch_and_step(tmp_path):
    config = ModelConfig.tiny()
    schedule = ScheduleConfig.tiny(
        phase1_epochs=2, steps_per_epoch=10, max_consecutive_nonfinite_steps=3
    )
    train = _write_records(
        tmp_path / "train.tfrecord.gz", REFERENCES, config, nan_videos=set(REFERENCES)
    )
    with pytest.raises(
        NonFiniteTrainingError,
        match=r"phase 1 epoch 1 step 3: 3 training steps "
        r"in a row had a non-finite loss",
    ):
        run_schedule(
            train,
            None,
            config,
            schedule,
            tmp_path / "work",
            tmp_path / "serving" / "1",
            tmp_path / "logs",
        )
    assert not (tmp_path / "serving").exists()


_RUN = textwrap.dedent(
    """
    import logging, sys
    import keras
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    keras.utils.set_random_seed(0)  # the same initial weights in every process
    from vre_keras.training import run_schedule
    run_schedule(*sys.argv[1:3], {config}, {schedule}, *sys.argv[3:])
    """
)

STEPS = 8  # per epoch; SIGTERM comes at step >= 2, far enough from the epoch end


def _start(code, train, folder):
    log = open(folder / "stderr.txt", "a")
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            train,
            train,
            str(folder / "work"),
            str(folder / "serving" / "1"),
            str(folder / "logs"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def _progress(folder):
    path = folder / "work" / PROGRESS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _terminate_at(run, folder, phase, epoch, timeout=1800):
    """Sends SIGTERM once the run has checkpointed step >= 2 of (phase, epoch); its exit code."""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and run.poll() is None:
            state = _progress(folder)
            if state and (state["phase"], state["epoch"]) == (phase, epoch) and state["step"] >= 2:
                os.kill(run.pid, signal.SIGTERM)
                break
            time.sleep(0.05)
        return run.wait(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def _checkpoint_values(folder):
    """Every variable of the run's latest checkpoint but the save counter and the progress."""
    reader = tf.train.load_checkpoint(str(folder / "work" / "checkpoints"))
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if name.startswith(("model/", "optimizer/", "random_state/"))
    }


PREVIOUS_REWARD = "model/previous_reward/.ATTRIBUTES/VARIABLE_VALUE"  # R_{e-1}
KEY_FRAME_TABLE = "model/key_frame_table/.ATTRIBUTES/VARIABLE_VALUE"


def test_sigterm_mid_epoch_checkpoints_and_the_next_run_goes_on_from_that_step(tmp_path):
    config = ModelConfig.tiny(refocus_loss="lr_plus")  # with its per-caption R_{e-1} table
    schedule = ScheduleConfig.tiny(
        phase1_epochs=1,
        phase2_epochs=1,
        phase3_epochs=1,
        phase4_epochs=0,
        batch_size=4,
        steps_per_epoch=STEPS,
        checkpoint_every_steps=1,
        phase2_selection="xe2",
    )
    train = _write_records(tmp_path / "train.tfrecord.gz", REFERENCES, config)
    code = _RUN.format(config=config.to_dict(), schedule=schedule.to_dict())
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    interrupted.mkdir()
    reference.mkdir()
    uninterrupted = _start(code, train, reference)  # the same run without interruption
    try:
        # SIGTERM in the middle of phase 3: R_{e-1} of phase 2 and the saved key frames are set.
        assert _terminate_at(_start(code, train, interrupted), interrupted, 3, 0) == EXIT_CODE
        state = _progress(interrupted)
        stop = state["step"]
        assert (state["phase"], state["epoch"]) == (3, 0) and 2 <= stop < STEPS, state
        assert not (interrupted / "serving").exists()
        at_stop = _checkpoint_values(interrupted)
        assert np.any(at_stop[PREVIOUS_REWARD] != 0)
        key_frames = json.loads((interrupted / "work" / KEY_FRAMES_FILE).read_text())
        assert at_stop[KEY_FRAME_TABLE].tolist() == [key_frames[v] for v in sorted(REFERENCES)]
        # (each phase has its own optimizer: its step count is phase 3's steps so far)
        assert at_stop["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == stop

        # The next run resumes at that step and finishes.
        final = _start(code, train, interrupted)
        assert final.wait(timeout=1800) == 0, (interrupted / "stderr.txt").read_text()[-3000:]
        log = (interrupted / "stderr.txt").read_text()
        assert f"at phase 3 epoch 0 step {stop}" in log, log[-3000:]
        assert uninterrupted.wait(timeout=1800) == 0, (reference / "stderr.txt").read_text()[-3000:]
    finally:
        if uninterrupted.poll() is None:
            uninterrupted.kill()
            uninterrupted.wait()

    resumed, expected = _checkpoint_values(interrupted), _checkpoint_values(reference)
    # The per-video tables survived the restart bit for bit ...
    for name in (PREVIOUS_REWARD, KEY_FRAME_TABLE):
        np.testing.assert_array_equal(resumed[name], at_stop[name])
    # ... no step of phase 3 ran twice or was lost ...
    assert resumed["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == STEPS
    # ... and the run ended exactly where the uninterrupted one did: same batches in the same
    # order, same random draws, same weights, optimizer state and tables.
    assert resumed.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)
    assert (interrupted / "serving" / "1" / "saved_model.pb").exists()
