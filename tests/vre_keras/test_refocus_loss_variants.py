"""refocus_loss="decoder_attention": alpha is pulled towards where the decoder looked, and only the
refocus module learns from it (the captioner is untouched)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vre_keras import losses
from vre_keras.vre_captioner import VRECaptioner


def test_caption_attention_profile_leaves_out_pad_steps():
    attention = np.zeros((1, 4, 3), np.float32)
    attention[0, 0, 0] = attention[0, 1, 0] = 1.0  # the words look at frame 0
    attention[0, 2:, 2] = 1.0  # steps after <EOS> (PAD) look at frame 2
    tokens = np.array([[5, 2, 0, 0]])  # word, <EOS>, <PAD>, <PAD>
    profile = losses.caption_attention_profile(attention, tokens).numpy()
    np.testing.assert_allclose(profile, [[1.0, 0.0, 0.0]])


def test_decoder_attention_loss_is_cross_entropy_to_the_profile_and_moves_alpha_there():
    attention = tf.constant([[[0.1, 0.8, 0.1]] * 2], tf.float32)
    tokens = tf.constant([[5, 2]])
    logits = tf.Variable([[0.0, 0.0, 0.0]])
    loss = losses.decoder_attention_refocus_loss(logits, attention, tokens)
    np.testing.assert_allclose(loss.numpy(), [np.log(3.0)], rtol=1e-6)
    optimizer = keras.optimizers.SGD(1.0)
    for _ in range(50):
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(losses.decoder_attention_refocus_loss(logits, attention, tokens))
        optimizer.apply([tape.gradient(value, logits)], [logits])
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), [[0.1, 0.8, 0.1]], atol=0.02)


def test_phase2_with_decoder_attention_trains_only_the_refocus_module(
    tiny_config, tiny_vocabulary, tiny_batch
):
    config = tiny_config.__class__(
        **dict(tiny_config.to_dict(), refocus_loss="decoder_attention", beta=1.0)
    )
    keras.utils.set_random_seed(0)
    model = VRECaptioner(config, vocab_size=len(tiny_vocabulary), num_videos=4).build_all()
    model.set_phase(2)
    with tf.GradientTape(persistent=True) as tape:
        out = model._phase_losses(tiny_batch, training=False)
        refocus_loss = tf.reduce_sum(out["refocus_xe"])
    assert "reward" not in out and "lr_plus" not in out and np.all(out["refocus_xe"].numpy() > 0)
    refocus_vars = model.encoder.refocus.trainable_variables
    grads = tape.gradient(refocus_loss, model.trainable_variables)
    named = {v.path: g for v, g in zip(model.trainable_variables, grads)}
    refocus_paths = {v.path for v in refocus_vars}
    assert any(named[p] is not None and np.any(named[p].numpy() != 0) for p in refocus_paths)
    for path, grad in named.items():
        if path not in refocus_paths:
            assert grad is None or not np.any(grad.numpy()), path  # captioner untouched
    with pytest.raises(ValueError, match="refocus_loss must be one of"):
        tiny_config.__class__(**dict(tiny_config.to_dict(), refocus_loss="argmax"))


def test_default_refocus_loss_is_the_variant_and_phase2_logs_it_by_its_name(
    tiny_vocabulary, tiny_batch
):
    from vre_keras.config import ModelConfig

    config = ModelConfig.tiny()
    assert config.refocus_loss == "decoder_attention"
    keras.utils.set_random_seed(0)
    model = VRECaptioner(config, vocab_size=len(tiny_vocabulary), num_videos=4).build_all()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    model.set_phase(2)
    logs = model.train_step(tiny_batch)
    assert "refocus_xe" in logs and np.isfinite(float(logs["refocus_xe"]))
    assert "lr_plus" not in logs and "reward" not in logs
    # The paper's loss is one field away, and logs LR+ and R_e instead.
    paper = VRECaptioner(
        ModelConfig.tiny(refocus_loss="lr_plus"), vocab_size=len(tiny_vocabulary), num_videos=4
    ).build_all()
    paper.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    paper.set_phase(2)
    assert {"lr_plus", "reward"} <= set(paper.train_step(tiny_batch)) - {"refocus_xe"}
