"""ResNet152 without its top (keras.applications) and the paper's two average poolings.

Eq. 1: v_i = CNN(I_i) in R^{N x M x C} (7 x 7 x 2048, the last convolutional block).
Eq. 2: temporal v^f_i = mean over the N x M positions of v_i, for each of the K frames.
Eq. 3: spatial v^s = mean over the K frames of v_i, for each of the N x M positions.
"""

import numpy as np

from vre_common import contract


def build_resnet152(weights):
    """ResNet152 without its classifier: [B, 224, 224, 3] caffe-preprocessed -> [B, 7, 7, 2048].

    Args:
      weights: "imagenet" (downloads; needs the internet), a path or URI (gs://...) of a
        weights file of `keras.applications.ResNet152(include_top=False)`, or None for the
        initialisers' weights. A remote file is copied to a local temp file first: Keras opens
        `.h5` files with h5py, which reads local files only.
    """
    import keras

    from beam_jobs.local_copy import local_copy

    def build(local_weights):
        return keras.applications.ResNet152(
            include_top=False,
            weights=local_weights,
            input_shape=(contract.FRAME_SIZE, contract.FRAME_SIZE, 3),
        )

    if weights is None or weights == "imagenet":
        return build(weights)
    with local_copy(str(weights), prefix="vre-weights-") as local:
        return build(local)


def preprocess_frames(frames):
    """uint8 RGB frames [..., 224, 224, 3] -> ResNet's input (BGR, ImageNet means removed)."""
    import keras

    return keras.applications.resnet.preprocess_input(np.asarray(frames, dtype=np.float32))


def pool_feature_maps(maps):
    """Eq. 2 and Eq. 3 on one video's maps.

    Args:
      maps: [K, N, M, C] feature maps of one video's K frames (array or tensor).

    Returns:
      (temporal [K, C], spatial [N*M, C]) as numpy float32.
    """
    maps = np.asarray(maps, dtype=np.float32)
    _k, n, m, c = maps.shape
    temporal = maps.mean(axis=(1, 2))  # (K, C), Eq. 2
    spatial = maps.mean(axis=0).reshape(n * m, c)  # (N*M, C), Eq. 3
    return temporal, spatial


def make_pooled_forward(cnn, num_frames):
    """A compiled function: uint8 frames [B, K, 224, 224, 3] -> (temporal [B, K, C],
    spatial [B, N*M, C]), the poolings done on the CNN's output inside the same graph.

    Args:
      cnn: the model from `build_resnet152`.
      num_frames: K.
    """
    import keras
    import tensorflow as tf

    size = contract.FRAME_SIZE

    @tf.function(
        input_signature=[tf.TensorSpec([None, num_frames, size, size, 3], tf.uint8)],
        reduce_retracing=True,
    )
    def forward(frames):
        batch = tf.shape(frames)[0]
        x = tf.reshape(tf.cast(frames, tf.float32), [-1, size, size, 3])  # (B*K, 224, 224, 3)
        x = keras.applications.resnet.preprocess_input(x)  # the same op as preprocess_frames
        maps = cnn(x, training=False)  # (B*K, N, M, C)
        n, m, c = maps.shape[1], maps.shape[2], maps.shape[3]
        maps = tf.reshape(maps, [batch, num_frames, n * m, c])  # (B, K, N*M, C)
        return tf.reduce_mean(maps, axis=2), tf.reduce_mean(maps, axis=1)

    return forward
