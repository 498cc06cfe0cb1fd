"""Training under MultiWorkerMirroredStrategy: two worker processes on loopback."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import portpicker
import pytest

from vre_keras.config import ModelConfig, ScheduleConfig
from vre_keras.synthetic_data import write_synthetic_records

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

_WORKER = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    from vre_keras.training import run_schedule
    train, work, serving, logs, out = sys.argv[1:]
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    summary = run_schedule(train, train, {config}, {schedule}, work, serving, logs,
                           strategy=strategy)
    summary["replicas"] = strategy.num_replicas_in_sync
    open(out, "w").write(json.dumps(summary))
    """
)


def test_two_workers_train_in_sync_and_the_chief_exports(tmp_path):
    config = ModelConfig.tiny()
    schedule = ScheduleConfig.tiny(phase1_epochs=1, phase2_epochs=1, phase3_epochs=0,
                                   phase4_epochs=0, batch_size=4, steps_per_epoch=2)
    references = {f"v{i}": [f"a man number {i} is riding a bike"] for i in range(6)}
    train = write_synthetic_records(tmp_path / "train.tfrecord.gz", references, config)
    ports = [portpicker.pick_unused_port() for _ in range(2)]
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    code = _WORKER.format(config=config.to_dict(), schedule=schedule.to_dict())
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, "-c", code, str(train), str(tmp_path / "work"),
             str(tmp_path / "serving" / "1"), str(tmp_path / "logs"),
             str(tmp_path / f"summary{index}.json")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    try:
        outputs = [w.communicate(timeout=400)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    for w, output in zip(workers, outputs):
        assert w.returncode == 0, output[-4000:]
    chief, other = (json.loads((tmp_path / f"summary{i}.json").read_text()) for i in range(2))
    assert chief["replicas"] == 2
    # Metrics are all-reduced and weights mirrored: both workers saw the same run.
    for phase in ("1", "2"):
        np.testing.assert_allclose(chief["phases"][phase]["loss"], other["phases"][phase]["loss"],
                                   rtol=1e-5)
    assert chief["key_frame_histogram"] == other["key_frame_histogram"]
    assert sum(chief["key_frame_histogram"]) == len(references)
    assert (tmp_path / "serving" / "1" / "saved_model.pb").exists()
    assert not (tmp_path / "work" / ".worker_1").exists()  # the other worker cleaned up
