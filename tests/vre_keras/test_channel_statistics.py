"""Per-channel feature statistics: the layer, the measurement on records, and their trip through
a checkpoint and the exported SavedModel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vre_keras.feature_standardization import training_set_moments
from vre_keras.layers import ChannelStatistics
from vre_keras.layers.channel_statistics import channel_moments


def test_layer_is_identity_until_set_then_z_scores_each_channel():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3, 5, 4)) * [1.0, 2.0, 3.0, 4.0] + [10.0, -1.0, 0.0, 5.0]).astype("f4")
    layer = ChannelStatistics(4)
    np.testing.assert_allclose(layer(x), x)
    layer.set_statistics(*channel_moments(x))
    z = layer(x).numpy().reshape(-1, 4)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-4)


def test_layer_config_round_trip_and_functional_use():
    layer = ChannelStatistics(3, name="stats")
    clone = ChannelStatistics.from_config(layer.get_config())
    assert clone.channels == 3 and clone.name == "stats"
    inputs = keras.Input((2, 3))
    model = keras.Model(inputs, ChannelStatistics(3)(inputs))
    model.layers[-1].set_statistics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    out = model(np.ones((1, 2, 3), "float32")).numpy()
    np.testing.assert_allclose(out[0, 0], [0.0, -0.5, -1.0], atol=1e-5)


def test_wrong_statistics_shape_is_refused():
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        ChannelStatistics(4).set_statistics(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="positive int"):
        ChannelStatistics(0)


def test_training_set_moments_match_numpy(records, tiny_config):
    from vre_common import contract

    spec = contract.feature_spec(
        tiny_config.num_frames, tiny_config.channels, tiny_config.num_regions
    )
    parsed = [
        tf.io.parse_single_example(r, spec)
        for r in tf.data.TFRecordDataset(records["train"], compression_type="GZIP")
    ]
    moments = training_set_moments(records["train"], tiny_config)
    for key, feature in (("temporal", contract.TEMPORAL), ("spatial", contract.SPATIAL)):
        x = np.concatenate([p[feature].numpy().reshape(-1, tiny_config.channels) for p in parsed])
        np.testing.assert_allclose(moments[key][0], x.mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(moments[key][1], x.std(axis=0), rtol=1e-4, atol=1e-6)


def test_statistics_travel_with_checkpoint_and_change_the_model(tiny_config, tiny_batch, tmp_path):
    from vre_keras.vre_captioner import VRECaptioner

    def model():
        return VRECaptioner(tiny_config, vocab_size=20, num_videos=4).build_all()

    a = model()
    before = a(tiny_batch)
    c = tiny_config.channels
    a.set_feature_statistics(
        {
            "temporal": (np.full(c, 0.5), np.full(c, 3.0)),
            "spatial": (np.full(c, -0.5), np.full(c, 2.0)),
        }
    )
    after = a(tiny_batch)
    assert not np.allclose(before["logits2"], after["logits2"])
    path = tf.train.Checkpoint(model=a).write(str(tmp_path / "c"))
    b = model()
    tf.train.Checkpoint(model=b).restore(path).expect_partial()
    np.testing.assert_allclose(b.temporal_statistics.inverse_std.numpy(), 1 / 3.0, rtol=1e-5)
