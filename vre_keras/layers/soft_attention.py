"""Soft attention (Eq. 14-16), used over the K frames and over the N*M regions."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="vre")
class SoftAttention(keras.layers.Layer):
    """a_i = W_beta tanh(W_h q ⊙ W_v v_i) + b_beta; alpha = softmax(a); context = sum alpha_i v_i.

    The decoder calls `project_values` once per video and `attend` at every step, since W_v v_i
    does not change over the caption.

    Args:
        units: width of the W_h and W_v projections.

    Call args:
        query: float [B, Q] (the decoder's [o_i, h_{t-1}]).
        values: float [B, N, C] frames or regions.

    Returns:
        (context [B, C], weights [B, N]).
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, query_shape, values_shape):
        self.query_projection = keras.layers.Dense(self.units, use_bias=False,
                                                   dtype=self.dtype_policy, name="query_projection")
        self.value_projection = keras.layers.Dense(self.units, use_bias=False,
                                                   dtype=self.dtype_policy, name="value_projection")
        self.score = keras.layers.Dense(1, dtype=self.dtype_policy, name="score")
        self.query_projection.build(query_shape)
        self.value_projection.build(values_shape)
        self.score.build((None, None, self.units))

    def project_values(self, values):
        """W_v v_i for every i: [B, N, units]."""
        return self.value_projection(values)

    def attend(self, query, values, projected_values):
        """One attention read given precomputed `project_values(values)`."""
        gate = self.query_projection(query)[:, None, :] * projected_values  # (B, N, units)
        logits = tf.squeeze(self.score(tf.tanh(gate)), -1)  # (B, N)
        weights = tf.nn.softmax(logits, axis=-1)
        context = tf.reduce_sum(weights[:, :, None] * values, axis=1)  # (B, C)
        return context, weights

    def call(self, query, values):
        return self.attend(query, values, self.project_values(values))

    def compute_output_shape(self, query_shape, values_shape):
        return (values_shape[0], values_shape[2]), (values_shape[0], values_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config
