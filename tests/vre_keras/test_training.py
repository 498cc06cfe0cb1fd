"""The training schedule end to end on synthetic Contract-1 records: learning, resume, export."""

import json
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
from vre_keras.synthetic_data import write_synthetic_records
from vre_keras.training import PROGRESS_FILE, run_schedule
from vre_keras.vocabulary import tokenize

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# One caption per video, so "exact" is well defined.
EXACT = {
    "v0": ["a man is riding a bike"],
    "v1": ["a man is talking on a phone"],
    "v2": ["a rabbit is walking on the grass"],
    "v3": ["the cartoon rabbit is sleeping"],
}


def test_schedule_learns_exact_captions_and_every_phase_lowers_its_loss(tmp_path):
    config = ModelConfig.tiny(max_caption_words=7, hidden_size=24, embedding_size=24,
                              attention_size=16, dropout=0.0,
                              learning_rate=2e-2, self_critical_learning_rate=1e-3,
                              refocus_loss="lr_plus")
    schedule = ScheduleConfig(phase1_epochs=4, phase2_epochs=2, phase3_epochs=2, phase4_epochs=2,
                              batch_size=4, steps_per_epoch=15, eval_steps=1, shuffle_buffer=8)
    train = write_synthetic_records(tmp_path / "train.tfrecord.gz", EXACT, config)
    summary = run_schedule(str(train), str(train), config.to_dict(), schedule.to_dict(),
                           tmp_path / "work", tmp_path / "serving" / "1", tmp_path / "logs")
    phases = summary["phases"]
    for phase in ("1", "2", "3"):
        assert phases[phase]["loss"][-1] < phases[phase]["loss"][0], (phase, phases[phase]["loss"])
    # Self-critical training raises the reward of the greedy caption (or keeps it at its best).
    assert phases["4"]["greedy_reward"][-1] >= phases["4"]["greedy_reward"][0] - 1e-6
    assert {"xe1", "xe2", "lr_plus", "reward", "key_frame_00"} <= set(phases["2"])
    assert sum(summary["key_frame_histogram"]) == 4

    # The exported model, fed the training records, says exactly the reference captions.
    loaded = tf.saved_model.load(summary["serving_model_dir"])
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(train), compression_type="GZIP")]
    out = loaded.signatures[contract.SERVE_TF_EXAMPLES](examples=tf.constant(records))
    ids = [tf.train.Example.FromString(r).features.feature[contract.VIDEO_ID].bytes_list.value[0]
           .decode() for r in records]
    captions = [c.decode() for c in out[contract.OUT_CAPTION].numpy()]
    assert captions == [" ".join(tokenize(EXACT[i][0])[: config.max_caption_words]) for i in ids]
    assert (tmp_path / "logs" / "phase2" / "train").is_dir()
    assert json.loads((tmp_path / "work" / "key_frames.json").read_text()).keys() == EXACT.keys()


_KILLED_RUN = textwrap.dedent(
    """
    import sys
    from vre_keras.training import run_schedule
    run_schedule(*sys.argv[1:3], {config}, {schedule}, *sys.argv[3:])
    """
)


def test_killed_run_resumes_from_its_last_epoch(tmp_path):
    config = ModelConfig.tiny()
    schedule = ScheduleConfig.tiny(phase1_epochs=3, phase2_epochs=0, phase3_epochs=0,
                                   phase4_epochs=0, steps_per_epoch=3)
    train = str(write_synthetic_records(tmp_path / "train.tfrecord.gz", EXACT, config))
    work, serving, logs = tmp_path / "work", tmp_path / "serving" / "1", tmp_path / "logs"
    code = _KILLED_RUN.format(config=config.to_dict(), schedule=schedule.to_dict())
    run = subprocess.Popen([sys.executable, "-c", code, train, train, str(work), str(serving),
                            str(logs)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = work / PROGRESS_FILE
    deadline = time.time() + 240
    try:
        while time.time() < deadline and run.poll() is None:
            if progress.exists() and json.loads(progress.read_text())["epoch"] >= 1:
                break
            time.sleep(0.2)
        assert run.poll() is None, "the run ended before it could be killed"
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.wait()
    before = json.loads(progress.read_text())
    done_epochs = before["epoch"]
    assert 1 <= done_epochs < 3 and not serving.exists()

    summary = run_schedule(train, train, config, schedule, work, serving, logs)
    history = summary["phases"]["1"]["loss"]
    assert len(history) == 3  # the finished epochs were not run again
    np.testing.assert_allclose(history[:done_epochs], before["history"]["1"]["loss"])
    assert (serving / "saved_model.pb").exists()
