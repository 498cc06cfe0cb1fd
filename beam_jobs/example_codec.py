"""Contract 1: one video's features and labels as a serialized tf.train.Example."""

import numpy as np

from vre_common import contract


def _floats(values):
    import tensorflow as tf

    return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values).tolist()))


def _ints(values):
    import tensorflow as tf

    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _bytes(values):
    import tensorflow as tf

    return tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[v.encode("utf-8") for v in values])
    )


def encode_example(record, features, num_frames, duration_s):
    """Serializes one video as Contract 1.

    Args:
      record: the VideoRecord (id, split, captions).
      features: `VideoFeatureExtractor` output: temporal [K, C], spatial [N*M, C], audio [128],
        has_audio.
      num_frames: frames decoded from the source video.
      duration_s: its duration in seconds.

    Returns:
      bytes of a tf.train.Example.
    """
    import tensorflow as tf

    temporal = np.asarray(features[contract.TEMPORAL], np.float32)
    spatial = np.asarray(features[contract.SPATIAL], np.float32)
    audio = np.asarray(features[contract.AUDIO], np.float32)
    expected = {
        contract.TEMPORAL: (temporal, contract.NUM_FRAMES * contract.FEATURE_CHANNELS),
        contract.SPATIAL: (spatial, contract.NUM_REGIONS * contract.FEATURE_CHANNELS),
        contract.AUDIO: (audio, contract.AUDIO_DIM),
    }
    for name, (value, size) in expected.items():
        if value.size != size:
            raise ValueError(
                f"video {record.video_id!r}: {name} has {value.size} values, not {size}"
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"video {record.video_id!r}: {name} has NaN or infinite values")
    feature = {
        contract.VIDEO_ID: _bytes([record.video_id]),
        contract.SPLIT: _bytes([record.split]),
        contract.TEMPORAL: _floats(temporal),
        contract.SPATIAL: _floats(spatial),
        contract.AUDIO: _floats(audio),
        contract.HAS_AUDIO: _ints([features[contract.HAS_AUDIO]]),
        contract.CAPTIONS: _bytes(record.captions),
        contract.NUM_SOURCE_FRAMES: _ints([num_frames]),
        contract.DURATION_S: _floats([duration_s]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
