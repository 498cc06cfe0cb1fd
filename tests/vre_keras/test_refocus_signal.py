"""The signal that trains the refocus (LR+, Eq. 19-21): deterministic R_e, R_{e-1} of the same
caption, no LR+ before a baseline exists, exact log-probabilities (issue 12, defects 1-4)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vre_keras import losses
from vre_keras.vre_captioner import CAPTION_INDEX, VRECaptioner


@pytest.fixture(scope="session")
def tiny_config():
    """The paper's LR+ (what these tests are about; ModelConfig's default is the variant)."""
    from vre_keras.config import ModelConfig

    return ModelConfig.tiny(refocus_loss="lr_plus")


def _model(config, vocabulary, **kwargs):
    keras.utils.set_random_seed(0)
    m = VRECaptioner(config, vocab_size=len(vocabulary), **kwargs).build_all()
    m.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    m.set_phase(2)
    return m


def test_reward_is_deterministic_for_fixed_weights_and_inputs(
    tiny_config, tiny_vocabulary, tiny_batch
):
    # Paper's dropout 0.5 and scheduled sampling 0.25 are on in the training passes.
    assert tiny_config.dropout > 0 and tiny_config.scheduled_sampling > 0
    model = _model(tiny_config, tiny_vocabulary, num_videos=4)
    first = model._phase_losses(tiny_batch, training=True)
    second = model._phase_losses(tiny_batch, training=True)
    # The XE of the training passes moves with the random draws ...
    assert np.any(first["xe2"].numpy() != second["xe2"].numpy())
    # ... R_e does not: it is the XE difference of the inference-mode passes.
    np.testing.assert_array_equal(first["reward"], second["reward"])
    inference = model._both_passes(tiny_batch, training=False)  # (inputs as given)
    expected = -(
        losses.caption_cross_entropy(inference["logits2"], tiny_batch["tokens"])
        - losses.caption_cross_entropy(inference["logits1"], tiny_batch["tokens"])
    )
    np.testing.assert_allclose(first["reward"], expected, rtol=1e-5, atol=1e-5)

    noisy = _model(
        tiny_config.__class__(**dict(tiny_config.to_dict(), reward_passes="training")),
        tiny_vocabulary,
        num_videos=4,
    )
    a = noisy._phase_losses(tiny_batch, training=True)["reward"].numpy()
    b = noisy._phase_losses(tiny_batch, training=True)["reward"].numpy()
    assert np.any(a != b)  # the old behaviour, kept as an option, is not


def test_per_token_reward_divides_by_scored_tokens(tiny_config, tiny_vocabulary, tiny_batch):
    total = _model(tiny_config, tiny_vocabulary, num_videos=4)._phase_losses(tiny_batch, False)
    per_token_config = tiny_config.__class__(
        **dict(tiny_config.to_dict(), reward_normalization="per_token")
    )
    per_token = _model(per_token_config, tiny_vocabulary, num_videos=4)._phase_losses(
        tiny_batch, False
    )
    scored = (tiny_batch["tokens"] != 0).sum(1)
    np.testing.assert_allclose(per_token["reward"], total["reward"].numpy() / scored, rtol=1e-5)


def test_no_lr_plus_before_a_previous_reward_exists(tiny_config, tiny_vocabulary, tiny_batch):
    model = _model(tiny_config, tiny_vocabulary, num_videos=4)
    refocus = model.encoder.refocus.trainable_variables
    with tf.GradientTape() as tape:
        out = model._phase_losses(tiny_batch, training=True)
        lr = tf.reduce_sum(out["lr_plus"])
    # First phase-2 epoch: R_{e-1} was never measured (Wm untrained), so no key frame is pushed.
    np.testing.assert_array_equal(out["lr_plus"], 0.0)
    assert all(g is None or not np.any(g.numpy()) for g in tape.gradient(lr, refocus))
    assert np.any(out["reward"].numpy() != 0)

    model.train_step(tiny_batch)
    model.end_reward_epoch()
    np.testing.assert_array_equal(model.previous_reward_seen.numpy(), [1, 1, 1, 1])
    with tf.GradientTape() as tape:
        lr = tf.reduce_sum(model._phase_losses(tiny_batch, training=True)["lr_plus"])
    assert all(np.any(g.numpy()) for g in tape.gradient(lr, refocus))


def test_previous_reward_is_the_same_captions(tiny_config, tiny_vocabulary, tiny_batch):
    # Two videos, two captions each: rows (video, caption) of the reward table.
    model = _model(tiny_config, tiny_vocabulary, num_videos=2, captions_per_video=2)
    batch = dict(tiny_batch, video_index=np.array([0, 0, 1, 1], "int32"))
    batch["temporal"] = np.repeat(tiny_batch["temporal"][[0, 2]], 2, axis=0)
    batch["spatial"] = np.repeat(tiny_batch["spatial"][[0, 2]], 2, axis=0)
    batch["audio"] = np.repeat(tiny_batch["audio"][[0, 2]], 2, axis=0)
    batch[CAPTION_INDEX] = np.array([0, 1, 0, 1], "int32")
    reward = model._phase_losses(batch, training=True)["reward"].numpy()
    assert reward[0] != reward[1]  # two captions of one video: different rewards
    model._update_trackers({"reward": reward}, 0.0, batch)
    model.end_reward_epoch()
    np.testing.assert_allclose(model.previous_reward.numpy(), reward, rtol=1e-6)
    # Same weights, same captions: R_e == R_{e-1} for every caption, so LR+ is exactly 0 (the
    # per-video mean of old would push one caption's key frame up and the other's down).
    again = model._phase_losses(batch, training=True)
    np.testing.assert_array_equal(again["lr_plus"], 0.0)


def _numpy_log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    m = logits.max(-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))


def test_lr_plus_equals_numpy_from_log_softmax_even_at_saturation():
    logits = np.array(
        [
            [40.0, 0.0, 0.0, 0.0],  # alpha_key within float32 eps of 1
            [0.0, 0.0, 0.0, 0.0],
            [-5.0, 3.0, 1.0, 0.0],
            [-30.0, 0.0, 1.0, 2.0],
        ],
        np.float32,
    )  # alpha_key ~ 1e-14
    key = np.array([0, 2, 1, 0])
    reward = np.array([-1.0, 2.0, -0.5, 0.7], np.float32)
    previous = np.array([1.0, 1.0, 0.5, 0.2], np.float32)  # worse, better, worse, better
    has_previous = np.array([1, 1, 1, 1], np.float32)
    log_p = _numpy_log_softmax(logits)
    log_alpha = log_p[np.arange(4), key]
    log_rest = np.log(
        np.array([np.exp(log_p[b]).sum() - np.exp(log_p[b, key[b]]) for b in range(4)])
    )
    # Row 0: log(1 - alpha) from the other frames' mass, computed in float64 directly.
    log_rest[0] = np.log(3.0) + log_p[0, 1]
    d = reward - previous
    expected = -np.abs(d) * np.where(d > 0, log_alpha, log_rest)
    value = losses.lr_plus(logits, key, reward, previous, has_previous)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert expected[0] > 40  # a clipped softmax would have given |d| * 16.1 here

    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(losses.lr_plus(variable, key, reward, previous, has_previous))
    assert np.all(np.isfinite(tape.gradient(total, variable).numpy()))


@pytest.mark.parametrize("k", [1, 3])
def test_key_frame_log_probs_handles_single_frame(k):
    log_alpha, log_rest = losses.key_frame_log_probs(np.zeros([1, k], np.float32), [0])
    np.testing.assert_allclose(log_alpha, [np.log(1.0 / k)], rtol=1e-6)
    if k == 1:
        assert np.isneginf(log_rest.numpy()[0])
