"""Fixtures of the model tests: tiny configs, vocabularies and synthetic Contract-1 records."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CAPTIONS = {
    "v0": ["a man is riding a bike", "a man rides a bike"],
    "v1": ["a man is talking on a phone", "a man talks on the phone"],
    "v2": ["a rabbit is walking on the grass", "a rabbit walks on the grass"],
    "v3": ["a cartoon rabbit is sleeping", "a rabbit is sleeping"],
}


@pytest.fixture(scope="session")
def tiny_config():
    from vre_keras.config import ModelConfig

    return ModelConfig.tiny()


@pytest.fixture(scope="session")
def tiny_vocabulary():
    from vre_keras.vocabulary import Vocabulary

    return Vocabulary.build([c for cs in CAPTIONS.values() for c in cs], min_count=1)


@pytest.fixture(scope="session")
def records(tmp_path_factory, tiny_config):
    """Train / eval gzip TFRecords of Contract 1 at the tiny sizes."""
    from vre_keras.synthetic_data import write_synthetic_records

    folder = tmp_path_factory.mktemp("records")
    train = write_synthetic_records(folder / "train.tfrecord.gz", CAPTIONS, tiny_config, seed=0)
    evaluation = write_synthetic_records(
        folder / "eval.tfrecord.gz", {"e0": CAPTIONS["v0"][:1]}, tiny_config, seed=1,
        split="validation")
    return {"train": str(train), "eval": str(evaluation)}


@pytest.fixture()
def tiny_batch(tiny_config, tiny_vocabulary):
    rng = np.random.default_rng(0)
    c = tiny_config
    captions = [cs[0] for cs in CAPTIONS.values()]
    return {
        "temporal": rng.normal(size=(4, c.num_frames, c.channels)).astype("float32"),
        "spatial": rng.normal(size=(4, c.num_regions, c.channels)).astype("float32"),
        "audio": rng.normal(size=(4, c.audio_dim)).astype("float32"),
        "tokens": np.stack([tiny_vocabulary.encode(x, c.max_caption_words) for x in captions]),
        "video_index": np.arange(4, dtype="int32"),
        "video_id": np.asarray([k.encode() for k in CAPTIONS]),
    }
