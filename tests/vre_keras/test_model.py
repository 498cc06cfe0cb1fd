"""The VRE captioner: losses, where gradients go, the phased train_step, decoding, config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vre_keras import decoding, losses
from vre_keras.metrics import KeyFrameHistogram
from vre_keras.vocabulary import EOS_ID, PAD_ID
from vre_keras.vre_captioner import VRECaptioner


@pytest.fixture(scope="session")
def tiny_config():
    """The paper's LR+ (what these tests are about; ModelConfig's default is the variant)."""
    from vre_keras.config import ModelConfig

    return ModelConfig.tiny(refocus_loss="lr_plus")


@pytest.fixture()
def model(tiny_config, tiny_vocabulary):
    keras.utils.set_random_seed(0)
    m = VRECaptioner(tiny_config, vocab_size=len(tiny_vocabulary), num_videos=4).build_all()
    m.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    return m


def test_caption_cross_entropy_masks_pad():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 6)).astype("float32")
    tokens = np.array([[4, 5, EOS_ID, PAD_ID], [5, EOS_ID, PAD_ID, PAD_ID]], "int32")
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = [-sum(log_p[b, t, tokens[b, t]] for t in range(4) if tokens[b, t] != PAD_ID)
                for b in range(2)]
    np.testing.assert_allclose(losses.caption_cross_entropy(logits, tokens), expected, rtol=1e-5)


def test_lr_plus_branches_and_gradient_directions():
    # Two frames, key frame 0 with alpha = 0.3: logits log(0.3), log(0.7).
    logits = tf.Variable(np.log([[0.3, 0.7]] * 3).astype("float32"))
    key = tf.constant([0, 0, 0])
    reward = tf.constant([2.0, -1.0, 0.5])
    previous = tf.constant([1.0, 1.0, 0.5])  # better, worse, equal
    with tf.GradientTape() as tape:
        value = losses.lr_plus(logits, key, reward, previous)
    np.testing.assert_allclose(value, [-1.0 * np.log(0.3), -2.0 * np.log(0.7), 0.0], rtol=1e-5)
    # The gradient on the key frame's logit has the sign of the gradient on alpha_ikey.
    grad = tape.gradient(value, logits).numpy()[:, 0]
    assert grad[0] < 0  # descent raises alpha_ikey when the reward improved
    assert grad[1] > 0  # and lowers it when the reward got worse
    assert grad[2] == 0


def test_refocus_weights_get_gradient_from_lr_plus_only(model, tiny_batch):
    model.set_phase(2)
    model.previous_reward_seen.assign(tf.ones_like(model.previous_reward_seen))  # R_{e-1} = 0
    with tf.GradientTape(persistent=True) as tape:
        out = model._phase_losses(tiny_batch, training=False)
        xe = tf.reduce_sum(out["xe1"] + out["xe2"])
        lr = tf.reduce_sum(out["lr_plus"])
    refocus = model.encoder.refocus.trainable_variables
    assert refocus
    for grad in tape.gradient(xe, refocus):
        assert grad is None or not np.any(grad.numpy())
    assert all(np.any(g.numpy()) for g in tape.gradient(lr, refocus))
    decoder_grads = tape.gradient(lr, model.decoder.trainable_variables)
    assert all(g is None for g in decoder_grads)  # rewards are stop-gradient
    assert not model.key_frame_predictor.trainable_variables


def test_phase_train_steps_and_reward_table(model, tiny_batch):
    model.set_phase(1)
    logs = model.train_step(tiny_batch)
    assert set(logs) == {"loss", "xe1", "nonfinite_steps"}
    model.set_phase(2)
    first = model.train_step(tiny_batch)
    assert {"xe1", "xe2", "lr_plus", "reward", "key_frame_00"} <= set(first)
    np.testing.assert_allclose(sum(v for k, v in first.items() if k.startswith("key_frame_")), 1.0,
                               rtol=1e-5)
    np.testing.assert_array_equal(model.reward_count.numpy(), [1, 1, 1, 1])
    rewards = model.reward_sum.numpy().copy()
    model.end_reward_epoch()
    np.testing.assert_allclose(model.previous_reward.numpy(), rewards)
    np.testing.assert_array_equal(model.reward_count.numpy(), 0)
    model.set_phase(3)
    model.key_frame_table.assign([0, 1, 2, 3])
    out = model._phase_losses(tiny_batch, training=False)
    np.testing.assert_array_equal(out["key_frame"].numpy(), [0, 1, 2, 3])
    bad = dict(tiny_batch, video_index=np.array([0, 1, 2, 9], "int32"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="video_index"):
        model.train_step(bad)


def test_phase4_needs_a_reward(model):
    with pytest.raises(ValueError, match="set_reward"):
        model.set_phase(4)


def test_self_critical_step_uses_caption_reward(model, tiny_batch, tiny_vocabulary):
    from tests.vre_keras.conftest import CAPTIONS
    from vre_keras.caption_metrics.reward import CaptionReward

    model.set_reward(CaptionReward(CAPTIONS), tiny_vocabulary)
    model.set_phase(4)
    logs = model.train_step(tiny_batch)
    assert set(logs) >= {"loss", "sample_reward", "greedy_reward"}
    assert np.isfinite(float(logs["loss"]))


def test_greedy_decode_equals_manual_argmax_loop(model, tiny_batch):
    d = model.decoder
    o = model.encoder(tiny_batch["temporal"], tiny_batch["audio"])["o2"]
    args = (o, tiny_batch["temporal"], tiny_batch["spatial"], tiny_batch["audio"])
    tokens, t_att, s_att = tf.function(lambda *a: decoding.greedy_decode(d, *a, 5))(*args)
    state, x, finished = d.start(o, args[1], args[2]), o, np.zeros(4, bool)
    for t in range(5):
        logits, state, w_t, _ = d.step(o, x, state, *args[1:])
        word = np.where(finished, PAD_ID, logits.numpy().argmax(-1))
        # Attention rows after a caption's end are 0 (its <EOS> step keeps its own).
        np.testing.assert_allclose(t_att[:, t], np.where(finished[:, None], 0.0, w_t),
                                   rtol=1e-5, atol=1e-6)
        finished |= (word == EOS_ID) | (word == PAD_ID)
        np.testing.assert_array_equal(tokens[:, t], word)
        x = d.embed(word)
    assert s_att.shape == (4, 5, model.config.num_regions)


def test_beam_of_one_is_greedy_and_pad_follows_eos(model, tiny_batch):
    d = model.decoder
    o = model.encoder(tiny_batch["temporal"], tiny_batch["audio"])["o2"]
    args = (o, tiny_batch["temporal"], tiny_batch["spatial"], tiny_batch["audio"], 6)
    greedy = decoding.greedy_decode(d, *args)
    # Without length normalisation a single beam is greedy (a later end only lowers the score).
    beam = decoding.beam_search_decode(d, *args, beam_size=1, length_penalty=0.0)
    for g, b in zip(greedy, beam):
        np.testing.assert_allclose(g, b, rtol=1e-5, atol=1e-6)
    # Make <EOS> the likeliest word at step 2 onwards for every beam: captions must end there.
    bias = d.word_projection.bias
    bias.assign(tf.tensor_scatter_nd_update(bias, [[EOS_ID]], [3.0]))
    tokens, t_att, _ = decoding.beam_search_decode(d, *args, beam_size=3, length_penalty=1.0)
    assert t_att.shape == (4, 6, model.config.num_frames)
    for row in tokens.numpy():
        ends = np.flatnonzero(row == EOS_ID)
        assert ends.size, row
        assert (row[ends[0] + 1 :] == PAD_ID).all()


def test_generate_outputs_and_methods(model, tiny_batch):
    for method in ("greedy", "beam"):
        # Traced with a static batch size: the loops must keep their shapes.
        out = tf.function(model.generate)(tiny_batch["temporal"], tiny_batch["spatial"],
                                          tiny_batch["audio"], method)
        assert out["tokens"].dtype == tf.int64 and out["tokens"].shape == (4, 7)
        assert out["key_frame"].dtype == tf.int64
        np.testing.assert_allclose(out["key_frame_probs"].numpy().sum(-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="decoding method"):
        model.generate(tiny_batch["temporal"], tiny_batch["spatial"], tiny_batch["audio"], "top")


def test_model_config_round_trip(model, tiny_batch):
    restored = VRECaptioner.from_config(model.get_config()).build_all()
    restored.set_weights(model.get_weights())
    a = model(tiny_batch)
    b = restored(tiny_batch)
    np.testing.assert_allclose(a["logits2"], b["logits2"], rtol=1e-6)
    with pytest.raises(ValueError, match="vocab_size"):
        VRECaptioner(model.config, vocab_size=2)


def test_key_frame_histogram():
    metric = KeyFrameHistogram(4)
    metric.update_state([0, 1, 1, 3])
    assert {k: float(v) for k, v in metric.result().items()} == {
        "key_frame_00": 0.25, "key_frame_01": 0.5, "key_frame_02": 0.0, "key_frame_03": 0.25}
