"""Synthetic Contract-1 records: random features at any size with given captions.

Used by tests and the benchmark to exercise the real reader and training loop without the Beam
job; each video gets its own random features, so a model can learn to tell videos apart.
"""

import pathlib

import numpy as np

from vre_common import contract


def synthetic_example(video_id, captions, config, rng, split="train"):
    """One tf.train.Example of Contract 1 with random features of `config`'s sizes."""
    import tensorflow as tf

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values)))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))

    features = {
        contract.VIDEO_ID: strings([video_id]),
        contract.SPLIT: strings([split]),
        contract.TEMPORAL: floats(rng.normal(size=(config.num_frames, config.channels))),
        contract.SPATIAL: floats(rng.normal(size=(config.num_regions, config.channels))),
        contract.AUDIO: floats(rng.normal(size=(contract.AUDIO_DIM,))),
        contract.HAS_AUDIO: ints([1]),
        contract.CAPTIONS: strings(captions),
        contract.NUM_SOURCE_FRAMES: ints([config.num_frames * 5]),
        contract.DURATION_S: floats([float(config.num_frames)]),
    }
    return tf.train.Example(features=tf.train.Features(feature=features))


def write_synthetic_records(path, references, config, seed=0, split="train"):
    """Writes a gzip TFRecord file with one synthetic example per video.

    Args:
        path: output file.
        references: dict video id -> list of captions.
        config: ModelConfig giving the feature sizes.
        seed: feature seed.
        split: value of the `split` feature.

    Returns:
        the path.
    """
    import tensorflow as tf

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for video_id, captions in references.items():
            example = synthetic_example(video_id, captions, config, rng, split)
            writer.write(example.SerializeToString())
    return path
