"""KBiGRU (Eq. 4-7): two GRUs that start at each video's own key frame."""

import keras
import tensorflow as tf

IMPLEMENTATIONS = ("vectorized", "while_loop")


@keras.saving.register_keras_serializable(package="vre")
class KeyFrameBiGRU(keras.layers.Layer):
    """Key-frame based bidirectional GRU.

    For each video b with key frame i_key[b], a right-to-left GRU reads v_ikey, ..., v_0 and a
    left-to-right GRU reads v_ikey, ..., v_{K-1}, both from a zero state; the output is
    tanh(Wc [h<-_0, h->_{K-1}] + bc).

    Two implementations give the same numbers:
    - "while_loop": one `tf.while_loop` over K steps; step t feeds frame i_key - t to the
      backward GRU and i_key + t to the forward GRU, and a per-example mask keeps a GRU's state
      once its frames are used up.
    - "vectorized": `tf.reverse_sequence` / a gather line each video's frames up from its key
      frame, and Keras' masked GRU layer runs both directions over the whole batch.

    Args:
        units: GRU state size.
        output_size: size of the combined output (Wc); defaults to `units`.
        implementation: "vectorized" or "while_loop".

    Call args:
        features: float32 [B, K, C] temporal features.
        key_frame: int [B] key frame index per video, in [0, K).

    Returns:
        float32 [B, output_size].

    References:
        Shi et al., "Watch It Twice: Video Captioning with a Refocused Video Encoder", Eq. 4-7.
    """

    def __init__(self, units, output_size=None, implementation="vectorized", **kwargs):
        # The recurrences stay in float32 whatever the global policy: key-frame masks and long
        # products of gates are where reduced precision hurts.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"KeyFrameBiGRU implementation must be one of {IMPLEMENTATIONS}, "
                f"got {implementation!r}"
            )
        self.units = units
        self.output_size = output_size
        self.implementation = implementation

    def build(self, features_shape, key_frame_shape=None):
        if len(features_shape) != 3 or features_shape[1] is None or features_shape[2] is None:
            raise ValueError(
                f"KeyFrameBiGRU expects features of shape [B, K, C] with known K and C, "
                f"got {features_shape}"
            )
        self.backward_gru = keras.layers.GRU(self.units, dtype=self.dtype_policy,
                                             name="backward_gru")
        self.forward_gru = keras.layers.GRU(self.units, dtype=self.dtype_policy,
                                            name="forward_gru")
        self.combine = keras.layers.Dense(self.output_size or self.units, activation="tanh",
                                          dtype=self.dtype_policy, name="combine")
        self.backward_gru.build(features_shape)
        self.forward_gru.build(features_shape)
        self.combine.build((features_shape[0], 2 * self.units))

    def call(self, features, key_frame):
        features = tf.convert_to_tensor(features, tf.float32)
        key_frame = tf.cast(key_frame, tf.int32)
        num_frames = features.shape[1]
        tf.debugging.assert_less(key_frame, num_frames, message="key_frame must be < K")
        tf.debugging.assert_non_negative(key_frame, message="key_frame must be >= 0")
        if self.implementation == "while_loop":
            backward, forward = self._encode_while_loop(features, key_frame, num_frames)
        else:
            backward, forward = self._encode_vectorized(features, key_frame, num_frames)
        return self.combine(tf.concat([backward, forward], axis=-1))  # (B, output_size)

    def _encode_while_loop(self, features, key_frame, num_frames):
        batch = tf.shape(features)[0]
        zeros = tf.zeros([batch, self.units], tf.float32)

        def body(t, h_backward, h_forward):
            back_index = key_frame - t  # (B,) frame of the right-to-left GRU at step t
            back_valid = back_index >= 0
            x = tf.gather(features, tf.maximum(back_index, 0), batch_dims=1)  # (B, C)
            new_backward, _ = self.backward_gru.cell(x, [h_backward])
            h_backward = tf.where(back_valid[:, None], new_backward, h_backward)

            fwd_index = key_frame + t
            fwd_valid = fwd_index < num_frames
            x = tf.gather(features, tf.minimum(fwd_index, num_frames - 1), batch_dims=1)
            new_forward, _ = self.forward_gru.cell(x, [h_forward])
            h_forward = tf.where(fwd_valid[:, None], new_forward, h_forward)
            return t + 1, h_backward, h_forward

        _, h_backward, h_forward = tf.while_loop(
            lambda t, *_: t < num_frames, body, (tf.constant(0), zeros, zeros)
        )
        return h_backward, h_forward

    def _encode_vectorized(self, features, key_frame, num_frames):
        # Right-to-left: reversing the first i_key + 1 frames puts v_ikey, ..., v_0 first.
        backward_len = key_frame + 1
        backward_seq = tf.reverse_sequence(features, backward_len, seq_axis=1, batch_axis=0)
        backward_mask = tf.sequence_mask(backward_len, num_frames)
        # Left-to-right: shift each video so that v_ikey comes first.
        forward_len = num_frames - key_frame
        positions = tf.minimum(key_frame[:, None] + tf.range(num_frames)[None, :], num_frames - 1)
        forward_seq = tf.gather(features, positions, batch_dims=1)  # (B, K, C)
        forward_mask = tf.sequence_mask(forward_len, num_frames)
        # A masked Keras GRU carries its state over masked steps, so the last output is the state
        # after each video's last valid frame.
        h_backward = self.backward_gru(backward_seq, mask=backward_mask)
        h_forward = self.forward_gru(forward_seq, mask=forward_mask)
        return h_backward, h_forward

    def compute_output_shape(self, features_shape, key_frame_shape=None):
        return (features_shape[0], self.output_size or self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units, output_size=self.output_size, implementation=self.implementation
        )
        return config
