"""A small Contract-2-shaped SavedModel built with tf.Module, for server tests that need a model
of a particular shape (a second version that answers differently, a broken version).

Its outputs are computed from its inputs, so a test can check an answer against numpy.
"""

import os

import numpy as np
import tensorflow as tf

from vre_common.contract import (
    AUDIO,
    AUDIO_DIM,
    OUT_CAPTION,
    OUT_KEY_FRAME,
    OUT_KEY_FRAME_PROBS,
    OUT_SPATIAL_ATTENTION,
    OUT_TEMPORAL_ATTENTION,
    OUT_TOKENS,
    SERVING_DEFAULT,
    SPATIAL,
    TEMPORAL,
)

K, C, REGIONS, L = 4, 8, 6, 3  # frames, channels, regions, caption length


class ToyCaptioner(tf.Module):
    """key frame = argmax of the per-frame feature sums (+ offset); caption names it.

    Args:
        offset: shifts the key frame, to tell versions apart.
        spin: matmul iterations burnt per call, to make a slow model for concurrency tests.
    """

    def __init__(self, offset: int = 0, spin: int = 0):
        super().__init__()
        self.offset = tf.Variable(offset, dtype=tf.int64, trainable=False)
        self.spin = spin

    def serve(self, temporal, spatial, audio):
        scores = tf.reduce_sum(temporal, axis=-1)  # (B, K)
        probs = tf.nn.softmax(scores, axis=-1)
        frames = tf.cast(tf.shape(temporal)[1], tf.int64)
        key = (tf.argmax(scores, axis=-1) + self.offset) % frames  # (B,)
        batch = tf.shape(temporal)[0]
        caption = tf.strings.join(["key frame ", tf.strings.as_string(key)])
        tokens = tf.tile(key[:, None], [1, L])
        t_att = tf.tile(probs[:, None, :], [1, L, 1])
        s_att = tf.nn.softmax(tf.reduce_sum(spatial, -1) + tf.reduce_sum(audio, -1, True), -1)
        s_att = tf.tile(s_att[:, None, :], [1, L, 1])
        if self.spin:
            m = tf.ones([256, 256]) / 256.0
            _, m = tf.while_loop(
                lambda i, _: i < self.spin, lambda i, m: (i + 1, tf.matmul(m, m)), (0, m)
            )
            key = key + tf.cast(tf.reduce_sum(m) * 0.0, tf.int64)  # keep the loop in the graph
        del batch
        return {
            OUT_CAPTION: caption,
            OUT_TOKENS: tokens,
            OUT_KEY_FRAME: key,
            OUT_KEY_FRAME_PROBS: probs,
            OUT_TEMPORAL_ATTENTION: t_att,
            OUT_SPATIAL_ATTENTION: s_att,
        }


def export_toy_model(
    export_dir: str, offset: int = 0, spin: int = 0, frames: int = K, channels: int = C,
    regions: int = REGIONS,
) -> str:
    """Exports the toy captioner (see ToyCaptioner) with inputs [B, frames, channels],
    [B, regions, channels] and [B, 128]."""
    module = ToyCaptioner(offset, spin)
    serve = tf.function(
        module.serve,
        input_signature=[
            tf.TensorSpec([None, frames, channels], tf.float32, name=TEMPORAL),
            tf.TensorSpec([None, regions, channels], tf.float32, name=SPATIAL),
            tf.TensorSpec([None, AUDIO_DIM], tf.float32, name=AUDIO),
        ],
    )
    tf.saved_model.save(module, export_dir, signatures={SERVING_DEFAULT: serve})
    return export_dir


def export_broken_model(export_dir: str) -> str:
    """A version directory that cannot load: a truncated saved_model.pb."""
    os.makedirs(export_dir, exist_ok=True)
    with open(os.path.join(export_dir, "saved_model.pb"), "wb") as f:
        f.write(b"\x08\x01garbage")
    return export_dir


def toy_inputs(batch: int = 1, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        TEMPORAL: rng.standard_normal((batch, K, C)).astype(np.float32),
        SPATIAL: rng.standard_normal((batch, REGIONS, C)).astype(np.float32),
        AUDIO: rng.standard_normal((batch, AUDIO_DIM)).astype(np.float32),
    }


def expected_key_frames(inputs: dict, offset: int = 0) -> np.ndarray:
    return (inputs[TEMPORAL].sum(-1).argmax(-1) + offset) % K
