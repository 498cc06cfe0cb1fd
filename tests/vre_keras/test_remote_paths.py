"""Training, export, warmup and serving with every folder on a non-local filesystem.

TensorFlow's in-process `ram://` filesystem stands in for a bucket here (fast, one process): a
pathlib/open/os.path slip on any of these paths writes to the local disk or fails, which this
catches in seconds. The gs:// path through real GCS clients is tests/remote_storage/.
"""

import contextlib
import uuid

import pytest

from vre_common import storage
from vre_keras.config import ModelConfig, ScheduleConfig
from vre_keras.synthetic_data import synthetic_example

pytestmark = [pytest.mark.slow]

CAPTIONS = {"v0": ["a man is riding a bike"], "v1": ["a rabbit is walking on the grass"]}


@pytest.fixture
def bucket():
    root = f"ram://vre-{uuid.uuid4().hex[:8]}"
    yield root
    import tensorflow as tf

    # Best-effort cleanup of process memory: TF's ram:// DeleteRecursively reports NotFound for
    # some of the folders a SavedModel export leaves (a quirk of that test filesystem).
    with contextlib.suppress(tf.errors.NotFoundError):
        storage.rmtree(root)


def test_schedule_export_warmup_and_serving_on_a_remote_filesystem(bucket, tmp_path, monkeypatch):
    import numpy as np
    import tensorflow as tf

    from serving.model_manager import ModelManager
    from serving.warmup import write_warmup_requests
    from vre_keras.training import load_trained_model, run_schedule

    monkeypatch.chdir(tmp_path)  # where a remote path mistaken for a local one would land
    config = ModelConfig.tiny()
    records = storage.join(bucket, "data", "train", "part-0.tfrecord.gz")
    storage.makedirs(storage.dirname(records))
    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(records, options="GZIP") as writer:
        for video_id, captions in CAPTIONS.items():
            writer.write(synthetic_example(video_id, captions, config, rng).SerializeToString())
    schedule = ScheduleConfig.tiny(
        phase1_epochs=1, phase2_epochs=1, phase3_epochs=1, phase4_epochs=0, steps_per_epoch=1
    )
    work, logs = storage.join(bucket, "run", "checkpoints"), storage.join(bucket, "run", "logs")
    export = storage.join(bucket, "serving", "vre", "1")

    summary = run_schedule(records, records, config, schedule, work, export, logs)

    assert summary["serving_model_dir"] == export
    for name in (
        "progress.json",
        "vocabulary.txt",
        "model_config.json",
        "key_frames.json",
        "best_phase2.weights.h5",
    ):
        assert storage.isfile(storage.join(work, name)), name
    assert storage.glob(storage.join(work, "checkpoints", "ckpt-*.index"))
    assert storage.glob(storage.join(logs, "phase1", "train", "events.out.tfevents*"))
    model, vocabulary = load_trained_model(work)
    assert len(vocabulary) == model.vocab_size

    sizes = (1, config.num_frames, config.channels), (1, config.num_regions, config.channels)
    batch = {
        "temporal": np.zeros(sizes[0], np.float32),
        "spatial": np.zeros(sizes[1], np.float32),
        "audio": np.zeros((1, config.audio_dim), np.float32),
    }
    write_warmup_requests(export, "vre", [batch])
    manager = ModelManager("vre", storage.join(bucket, "serving", "vre"), poll_interval_s=0)
    manager.start()
    try:
        assert manager.serving_version == 1
        with manager.handle(None) as servable:
            assert servable.warmup_requests_replayed == 1
            _, outputs = servable.predict(batch, "serving_default")
        assert outputs["caption"].shape == (1,)
    finally:
        manager.stop()
    assert list(tmp_path.iterdir()) == []
