"""Each layer against the paper's equations in numpy, masks at the edges, config round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.vre_keras import numpy_reference as ref
from vre_keras.layers import (
    CaptionDecoder,
    KeyFrameBiGRU,
    RefocusAttention,
    RefocusedVideoEncoder,
    SoftAttention,
)

K, C, U, B = 6, 5, 4, 5


def randomize(layer, seed=0):
    """Random weights everywhere (biases too: zero biases would hide a wrong bias layout)."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype(w.dtype))


def gru_weights(gru):
    return gru.cell.kernel.numpy(), gru.cell.recurrent_kernel.numpy(), gru.cell.bias.numpy()


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(1).normal(size=(B, K, C)).astype("float32")


@pytest.mark.parametrize("implementation", ["while_loop", "vectorized"])
def test_kbigru_matches_numpy_per_example_loop(implementation, frames):
    layer = KeyFrameBiGRU(U, implementation=implementation)
    key_frames = np.array([0, K - 1, 2, 3, 0], "int32")  # both edges: one GRU reads one frame
    layer(frames, key_frames)
    randomize(layer)
    expected = ref.kbigru(frames, key_frames, gru_weights(layer.backward_gru),
                          gru_weights(layer.forward_gru), layer.combine.kernel.numpy(),
                          layer.combine.bias.numpy())
    np.testing.assert_allclose(layer(frames, key_frames).numpy(), expected, rtol=1e-5, atol=1e-5)
    compiled = tf.function(lambda f, k: layer(f, k))(frames, key_frames)
    np.testing.assert_allclose(compiled.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_kbigru_forms_agree_and_examples_are_independent(frames):
    loop = KeyFrameBiGRU(U, implementation="while_loop")
    vec = KeyFrameBiGRU(U, implementation="vectorized")
    keys = np.array([1, 4, 0, 5, 3], "int32")
    loop(frames, keys)
    vec(frames, keys)
    randomize(loop)
    vec.set_weights(loop.get_weights())
    np.testing.assert_allclose(loop(frames, keys), vec(frames, keys), rtol=1e-5, atol=1e-5)
    # Masks are per example: a video's output does not depend on the other videos' key frames.
    single = vec(frames[2:3], keys[2:3]).numpy()
    np.testing.assert_allclose(single, vec(frames, keys).numpy()[2:3], rtol=1e-6, atol=1e-6)


def test_kbigru_rejects_out_of_range_key_frame(frames):
    layer = KeyFrameBiGRU(U)
    with pytest.raises(tf.errors.InvalidArgumentError, match="key_frame must be < K"):
        layer(frames, np.full([B], K, "int32"))
    with pytest.raises(ValueError, match="implementation"):
        KeyFrameBiGRU(U, implementation="scan")


def test_refocus_attention_matches_eq_8_to_11(frames):
    layer = RefocusAttention(3)
    o1 = np.random.default_rng(2).normal(size=(B, U)).astype("float32")
    layer(o1, frames)
    randomize(layer, seed=3)
    alpha, key = layer(o1, frames)
    scores = ref.gated_attention_scores(o1, frames, layer.query_projection.kernel.numpy(),
                                        layer.frame_projection.kernel.numpy(),
                                        layer.score.kernel.numpy(), layer.score.bias.numpy())
    np.testing.assert_allclose(alpha.numpy(), ref.softmax(scores), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(key.numpy(), ref.softmax(scores).argmax(-1))
    assert key.dtype == tf.int32


def test_soft_attention_matches_eq_14_to_16(frames):
    layer = SoftAttention(3)
    query = np.random.default_rng(4).normal(size=(B, 2 * U)).astype("float32")
    layer(query, frames)
    randomize(layer, seed=5)
    context, weights = layer(query, frames)
    scores = ref.gated_attention_scores(query, frames, layer.query_projection.kernel.numpy(),
                                        layer.value_projection.kernel.numpy(),
                                        layer.score.kernel.numpy(), layer.score.bias.numpy())
    alpha = ref.softmax(scores)
    np.testing.assert_allclose(weights.numpy(), alpha, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context.numpy(), np.einsum("bk,bkc->bc", alpha, frames),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("use_audio", [True, False])
def test_refocused_video_encoder_follows_algorithm_1(use_audio, frames):
    audio = np.random.default_rng(6).normal(size=(B, 3)).astype("float32")
    layer = RefocusedVideoEncoder(U, 3, default_key_frame=K // 2, use_audio=use_audio)
    layer(frames, audio)
    randomize(layer, seed=7)
    out = layer(frames, audio)
    kb = layer.kbigru
    args = (gru_weights(kb.backward_gru), gru_weights(kb.forward_gru), kb.combine.kernel.numpy(),
            kb.combine.bias.numpy())
    wa, ba = layer.audio_fusion.kernel.numpy(), layer.audio_fusion.bias.numpy()

    def fuse(h):
        return np.tanh((np.concatenate([h, audio], -1) if use_audio else h) @ wa + ba)

    h1 = ref.kbigru(frames, np.full([B], K // 2), *args)
    o1 = fuse(h1)
    scores = ref.gated_attention_scores(o1, frames, layer.refocus.query_projection.kernel.numpy(),
                                        layer.refocus.frame_projection.kernel.numpy(),
                                        layer.refocus.score.kernel.numpy(),
                                        layer.refocus.score.bias.numpy())
    key = ref.softmax(scores).argmax(-1)
    h2 = ref.kbigru(frames, key, *args)
    merged = np.tanh(np.concatenate([h1, h2], -1) @ layer.merge.kernel.numpy()
                     + layer.merge.bias.numpy())
    np.testing.assert_allclose(out["o1"].numpy(), o1, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out["key_frame"].numpy(), key)
    np.testing.assert_allclose(out["o2"].numpy(), fuse(merged), rtol=1e-5, atol=1e-5)
    fixed = layer(frames, audio, key_frame=np.zeros([B], "int32"))
    np.testing.assert_array_equal(fixed["key_frame"].numpy(), 0)
    np.testing.assert_array_equal(fixed["predicted_key_frame"].numpy(), key)


def test_caption_decoder_teacher_forcing_equals_manual_steps(frames):
    vocab, length = 9, 4
    rng = np.random.default_rng(8)
    o = rng.normal(size=(B, U)).astype("float32")
    spatial = rng.normal(size=(B, 3, C)).astype("float32")
    audio = rng.normal(size=(B, 2)).astype("float32")
    tokens = rng.integers(4, vocab, size=(B, length)).astype("int32")
    layer = CaptionDecoder(vocab, U, U, 3, dropout=0.5, scheduled_sampling=0.25)
    logits, t_att, s_att = layer(o, frames, spatial, audio, tokens)
    assert logits.shape == (B, length, vocab) and t_att.shape == (B, length, K)
    assert s_att.shape == (B, length, 3)
    np.testing.assert_allclose(t_att.numpy().sum(-1), 1.0, rtol=1e-5)
    state = layer.start(o, frames, spatial)
    np.testing.assert_array_equal(state["h"], 0.0)  # h_{-1} = 0, c_{-1} = o_i (Alg. 2)
    np.testing.assert_array_equal(state["c"], o)
    x = o  # t = 0 reads o_i, later the previous reference word
    for t in range(length):
        step_logits, state, _, _ = layer.step(o, x, state, frames, spatial, audio)
        np.testing.assert_allclose(step_logits.numpy(), logits[:, t].numpy(), rtol=1e-5,
                                   atol=1e-5)
        x = layer.embed(tokens[:, t])
    trained, _, _ = layer(o, frames, spatial, audio, tokens, training=True)
    assert not np.allclose(trained.numpy(), logits.numpy())  # dropout and sampling are on


@pytest.mark.parametrize(
    "layer, args",
    [
        (KeyFrameBiGRU(U, output_size=3, implementation="while_loop"), "kbigru"),
        (RefocusAttention(3), "refocus"),
        (SoftAttention(3), "soft"),
        (RefocusedVideoEncoder(U, 3, default_key_frame=2, use_audio=True), "encoder"),
        (CaptionDecoder(9, U, U, 3), "decoder"),
    ],
)
def test_layer_config_round_trip(layer, args, frames):
    rng = np.random.default_rng(9)
    inputs = {
        "kbigru": (frames, np.array([0, 1, 2, 3, 5], "int32")),
        "refocus": (rng.normal(size=(B, U)).astype("float32"), frames),
        "soft": (rng.normal(size=(B, U)).astype("float32"), frames),
        "encoder": (frames, rng.normal(size=(B, 2)).astype("float32")),
        "decoder": (rng.normal(size=(B, U)).astype("float32"), frames,
                    rng.normal(size=(B, 3, C)).astype("float32"),
                    rng.normal(size=(B, 2)).astype("float32"),
                    rng.integers(0, 9, size=(B, 3)).astype("int32")),
    }[args]
    first = layer(*inputs)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert restored.get_config() == layer.get_config()
    restored(*inputs)
    restored.set_weights(layer.get_weights())
    second = restored(*inputs)
    for a, b in zip(tf.nest.flatten(first), tf.nest.flatten(second)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
