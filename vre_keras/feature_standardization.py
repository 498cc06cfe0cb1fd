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
