"""Per-vector standardisation of the CNN and audio features the model reads.

The paper feeds ResNet152 features as they are. Their scale depends on the CNN weights: pooled
ImageNet features are small and non-negative, while the demo's random-weight ResNet152 gives
values around 13 +- 15 over 2048 channels, which saturates the GRU and attention tanh units at
initialisation and leaves the decoder stuck on one word. Standardising each frame, region and
audio vector over its channels (no learned parameters, so nothing to fit or ship) makes training
independent of that scale; `ModelConfig.standardize_features=False` gives the paper's raw inputs.
"""

import tensorflow as tf

EPSILON = 1e-6


def standardize_features(x):
    """(x - mean) / std over the last axis; an all-zero vector (no audio) stays zero.

    Args:
        x: float tensor [..., C].

    Returns:
        float32 tensor of the same shape.
    """
    x = tf.cast(x, tf.float32)
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + EPSILON)
