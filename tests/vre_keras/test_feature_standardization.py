"""Feature standardisation: each vector to zero mean and unit L2 norm, inside the model."""

import dataclasses

import keras
import numpy as np

from vre_keras.feature_standardization import standardize_features
from vre_keras.vre_captioner import VRECaptioner


def test_each_vector_gets_zero_mean_unit_norm_and_zeros_stay_zero():
    rng = np.random.default_rng(0)
    x = (13.0 + 15.0 * rng.normal(size=(3, 5, 64))).astype("float32")
    x[1, 2] = 0.0  # e.g. the audio vector of a video without sound
    y = standardize_features(x).numpy()
    mean = x.mean(-1, keepdims=True)
    std = np.sqrt(x.var(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(y, (x - mean) / (std * np.sqrt(64)), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(y[1, 2], 0.0)
    assert np.abs(y[0].mean(-1)).max() < 1e-6
    np.testing.assert_allclose(np.linalg.norm(y[0], axis=-1), 1.0, rtol=1e-4)


def _captioner(config, vocab_size):
    keras.utils.set_random_seed(0)
    return VRECaptioner(config, vocab_size=vocab_size, num_videos=4).build_all()


def test_the_model_reads_features_independently_of_their_scale(tiny_config, tiny_vocabulary,
                                                              tiny_batch):
    # Random-weight CNN features are ~13 +- 15, ImageNet ones ~0.5: with standardisation the
    # captions, key frames and attention do not depend on that scale and offset.
    model = _captioner(tiny_config, len(tiny_vocabulary))
    raw = [tiny_batch[k] for k in ("temporal", "spatial", "audio")]
    scaled = [13.0 + 15.0 * x for x in raw]
    a = model.generate(*raw)
    b = model.generate(*scaled)
    np.testing.assert_array_equal(a["tokens"], b["tokens"])
    np.testing.assert_array_equal(a["key_frame"], b["key_frame"])
    np.testing.assert_allclose(a["key_frame_probs"], b["key_frame_probs"], rtol=1e-4, atol=1e-6)
    logits_a = model(tiny_batch)["logits2"]
    logits_b = model({**tiny_batch, "temporal": scaled[0], "spatial": scaled[1],
                      "audio": scaled[2]})["logits2"]
    np.testing.assert_allclose(logits_a, logits_b, rtol=1e-3, atol=1e-4)


def test_standardize_features_false_feeds_the_raw_features(tiny_config, tiny_vocabulary,
                                                          tiny_batch):
    raw_config = dataclasses.replace(tiny_config, standardize_features=False)
    model = _captioner(raw_config, len(tiny_vocabulary))
    scaled = {**tiny_batch, "temporal": 13.0 + 15.0 * tiny_batch["temporal"]}
    assert not np.allclose(model(tiny_batch)["logits2"], model(scaled)["logits2"], atol=1e-3)
    standardized = {**tiny_batch, **{k: standardize_features(tiny_batch[k]).numpy()
                                     for k in ("temporal", "spatial", "audio")}}
    with_std = _captioner(tiny_config, len(tiny_vocabulary))
    np.testing.assert_allclose(with_std(tiny_batch)["logits2"],
                               model(standardized)["logits2"], rtol=1e-4, atol=1e-5)
