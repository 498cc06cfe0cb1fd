"""The Video Refocusing Encoder (Alg. 1): encode at the middle frame, refocus, encode again."""

import keras
import tensorflow as tf

from vre_keras.layers.key_frame_bigru import KeyFrameBiGRU
from vre_keras.layers.refocus_attention import RefocusAttention


@keras.saving.register_keras_serializable(package="vre")
class RefocusedVideoEncoder(keras.layers.Layer):
    """VRE: o1 from a KBiGRU at the default key frame, o2 from a second KBiGRU pass at i_key.

    Step 1: h1 = KBiGRU(Vf, K//2); o1 = tanh(Wa [h1, va] + ba); alpha, i_key = Refocus(o1, Vf).
    Step 2: h2 = KBiGRU(Vf, i_key); õ2 = tanh(Wm [h1, h2] + bm); o2 = tanh(Wa [õ2, va] + ba),
    with the same Wa. One KBiGRU serves both passes (the paper's Fig. 2 has one encoder).

    Args:
        hidden_size: size of h and o.
        attention_size: width of the refocus projections.
        default_key_frame: i_key of step 1.
        use_audio: concatenate the audio vector va before Wa.
        kbigru_implementation: "vectorized" or "while_loop".

    Call args:
        temporal: float [B, K, C].
        audio: float [B, A] (ignored when use_audio is False).
        key_frame: optional int [B]; when given, step 2 uses it instead of the refocused frame
            (phase 3 trains with saved key frames as constants).

    Returns:
        dict with o1, o2 [B, H], alpha [B, K], refocus_logits [B, K] (alpha's scores),
        key_frame int32 [B] (the one step 2 used) and predicted_key_frame int32 [B] (argmax alpha).
    """

    def __init__(self, hidden_size, attention_size, default_key_frame, use_audio=True,
                 kbigru_implementation="vectorized", **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.attention_size = attention_size
        self.default_key_frame = default_key_frame
        self.use_audio = use_audio
        self.kbigru_implementation = kbigru_implementation

    def build(self, temporal_shape, audio_shape=None, key_frame_shape=None):
        if not 0 <= self.default_key_frame < temporal_shape[1]:
            raise ValueError(
                f"default_key_frame {self.default_key_frame} is outside the {temporal_shape[1]} "
                "frames of the input"
            )
        if self.use_audio and audio_shape is None:
            raise ValueError("RefocusedVideoEncoder with use_audio=True needs the audio input")
        h = self.hidden_size
        self.kbigru = KeyFrameBiGRU(h, implementation=self.kbigru_implementation, name="kbigru")
        self.audio_fusion = keras.layers.Dense(h, activation="tanh", dtype=self.dtype_policy,
                                               name="audio_fusion")  # Wa, ba
        self.refocus = RefocusAttention(self.attention_size, dtype=self.dtype_policy,
                                        name="refocus")
        self.merge = keras.layers.Dense(h, activation="tanh", dtype=self.dtype_policy,
                                        name="merge")  # Wm, bm
        batch = temporal_shape[0]
        self.kbigru.build(temporal_shape, (batch,))
        audio_dim = audio_shape[-1] if self.use_audio else 0
        self.audio_fusion.build((batch, h + audio_dim))
        self.refocus.build((batch, h), temporal_shape)
        self.merge.build((batch, 2 * h))

    def _fuse_audio(self, h, audio):
        if self.use_audio:
            h = tf.concat([h, tf.cast(audio, h.dtype)], axis=-1)
        return self.audio_fusion(h)

    def step1(self, temporal, audio):
        """Returns (h1, o1) encoded from the default key frame."""
        batch = tf.shape(temporal)[0]
        default = tf.fill([batch], tf.constant(self.default_key_frame, tf.int32))
        h1 = self.kbigru(temporal, default)  # (B, H)
        return h1, self._fuse_audio(h1, audio)

    def step2(self, temporal, audio, h1, key_frame):
        """Returns o2 re-encoded from `key_frame`."""
        h2 = self.kbigru(temporal, key_frame)  # (B, H)
        merged = self.merge(tf.concat([h1, h2], axis=-1))  # õ2
        return self._fuse_audio(merged, audio)

    def call(self, temporal, audio=None, key_frame=None):
        h1, o1 = self.step1(temporal, audio)
        alpha, predicted, logits = self.refocus(o1, temporal, return_logits=True)
        used = predicted if key_frame is None else tf.cast(key_frame, tf.int32)
        o2 = self.step2(temporal, audio, h1, used)
        return {"o1": o1, "o2": o2, "alpha": alpha, "refocus_logits": logits, "key_frame": used,
                "predicted_key_frame": predicted}

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            attention_size=self.attention_size,
            default_key_frame=self.default_key_frame,
            use_audio=self.use_audio,
            kbigru_implementation=self.kbigru_implementation,
        )
        return config
