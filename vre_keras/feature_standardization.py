"""Per-vector standardisation of the CNN and audio features the model reads.

The paper feeds ResNet152 features as they are. Their scale depends on the CNN weights: pooled
ImageNet features are small and non-negative, while the demo's random-weight ResNet152 gives
values around 13 +- 15 over 2048 channels. Each frame, region and audio vector is therefore
centred over its channels and scaled to unit L2 norm (no learned parameters, so nothing to fit or
ship), which makes training independent of that scale. Unit norm rather than unit variance:
the decoder's LSTM reads the attended 2 x 2048-d video vectors beside an H-d word embedding, and
at unit variance (norm ~45) the video part swamps the embedding, so the decoder ignores the
previous word and stalls at unigram loss (measured on the demo's features: phase-1 XE 33 after
300 steps; with unit norm 19 after 160). `ModelConfig.standardize_features=False` gives the
paper's raw inputs.

Before that, each temporal and spatial channel can be z-scored with the training set's statistics
(`training_set_moments`, applied by layers/channel_statistics.py): the features of different
videos share a large common component that per-vector standardisation keeps.
"""

import tensorflow as tf

EPSILON = 1e-6


def standardize_features(x):
    """(x - mean) / (std * sqrt(C)) over the last axis C: zero mean, unit L2 norm; an all-zero
    vector (no audio) stays zero.

    Args:
        x: float tensor [..., C].

    Returns:
        float32 tensor of the same shape.
    """
    x = tf.cast(x, tf.float32)
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    channels = tf.cast(tf.shape(x)[-1], tf.float32)
    return (x - mean) * tf.math.rsqrt((variance + EPSILON) * channels)


def training_set_moments(file_patterns, config, max_videos=1000):
    """Per-channel mean and std of the temporal and spatial features of the training videos.

    Args:
        file_patterns: the training TFRecords (Contract 1, gzip).
        config: the ModelConfig (feature sizes).
        max_videos: read at most this many videos: the statistics of a sample suffice.

    Returns:
        {"temporal": (mean, std), "spatial": (mean, std)}, float arrays of [channels].
    """
    import numpy as np

    from vre_common import contract
    from vre_keras.dataset import resolve_files

    spec = contract.feature_spec(config.num_frames, config.channels, config.num_regions)
    keys = {"temporal": contract.TEMPORAL, "spatial": contract.SPATIAL}
    sums = {k: np.zeros(config.channels) for k in keys}
    squares = {k: np.zeros(config.channels) for k in keys}
    counts = dict.fromkeys(keys, 0)
    records = tf.data.TFRecordDataset(resolve_files(file_patterns), compression_type="GZIP")
    for record in records.take(max_videos):
        parsed = tf.io.parse_single_example(record, spec)
        for key, feature in keys.items():
            x = parsed[feature].numpy().astype(np.float64).reshape(-1, config.channels)
            # Finite vectors only: one NaN/inf video would make every input NaN, and the NaN
            # guard would then skip every training step (nan_guard.py skips that video's batches).
            x = x[np.all(np.isfinite(x), axis=1)]
            sums[key] += x.sum(axis=0)
            squares[key] += (x * x).sum(axis=0)
            counts[key] += len(x)
    if not counts["temporal"]:
        raise ValueError(f"no training video in {file_patterns} to measure feature statistics on")
    moments = {}
    for key in keys:
        mean = sums[key] / counts[key]
        moments[key] = (mean, np.sqrt(np.maximum(squares[key] / counts[key] - mean * mean, 0.0)))
    return moments
