"""The refocusing module (Eq. 8-11): which frame should the second pass start from?"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="vre")
class RefocusAttention(keras.layers.Layer):
    """a_i = W_alpha tanh(W_o o1 ⊙ W_v v_i) + b_alpha; alpha = softmax(a); i_key = argmax alpha.

    Args:
        units: width of the W_o and W_v projections.

    Call args:
        video_representation: float [B, H], o1 of Alg. 1.
        frames: float [B, K, C] temporal features.

        return_logits: also return the scores a (LR+ takes exact log-probabilities from them).

    Returns:
        (alpha float [B, K], key_frame int32 [B]), plus logits float [B, K] with return_logits.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, video_representation_shape, frames_shape):
        self.query_projection = keras.layers.Dense(self.units, use_bias=False,
                                                   dtype=self.dtype_policy, name="query_projection")
        self.frame_projection = keras.layers.Dense(self.units, use_bias=False,
                                                   dtype=self.dtype_policy, name="frame_projection")
        self.score = keras.layers.Dense(1, dtype=self.dtype_policy, name="score")
        self.query_projection.build(video_representation_shape)
        self.frame_projection.build(frames_shape)
        self.score.build((None, None, self.units))

    def call(self, video_representation, frames, return_logits=False):
        gate = self.query_projection(video_representation)[:, None, :] * self.frame_projection(
            frames
        )  # (B, K, units)
        logits = tf.squeeze(self.score(tf.tanh(gate)), -1)  # (B, K)
        alpha = tf.nn.softmax(logits, axis=-1)
        key_frame = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (B,) = argmax alpha
        if return_logits:
            return alpha, key_frame, logits
        return alpha, key_frame

    def compute_output_shape(self, video_representation_shape, frames_shape):
        return (frames_shape[0], frames_shape[1]), (frames_shape[0],)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
