import numpy as np
import pytest

from beam_jobs import cnn_features, log_mel
from beam_jobs.feature_extractor import MissingWeightsError, VideoFeatureExtractor
from beam_jobs.video_decoding import decode_video
from vre_common import contract

pytestmark = pytest.mark.slow


def test_features_equal_a_direct_resnet152_call(extractor, direct_features):
    decoded, features = direct_features["bikes"]
    assert features[contract.TEMPORAL].shape == (contract.NUM_FRAMES, contract.FEATURE_CHANNELS)
    assert features[contract.SPATIAL].shape == (contract.NUM_REGIONS, contract.FEATURE_CHANNELS)
    maps = extractor.cnn(cnn_features.preprocess_frames(decoded.frames), training=False).numpy()
    assert maps.shape == (20, 7, 7, 2048)
    # Eq. 2 and Eq. 3 written out on the raw maps.
    temporal = maps.mean(axis=(1, 2))
    spatial = maps.mean(axis=0).reshape(49, 2048)
    scale = np.abs(maps).max()
    np.testing.assert_allclose(features[contract.TEMPORAL], temporal, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(features[contract.SPATIAL], spatial, rtol=1e-5, atol=1e-5 * scale)
    assert features[contract.HAS_AUDIO] == 0
    np.testing.assert_array_equal(features[contract.AUDIO], np.zeros(128, np.float32))


def test_audio_is_the_clip_mean_of_vggish_embeddings(extractor, direct_features):
    decoded, features = direct_features["bigbuckbunny"]
    assert features[contract.HAS_AUDIO] == 1
    examples = log_mel.log_mel_examples(decoded.audio, decoded.audio_sample_rate)
    assert examples.shape == (5, 96, 64)  # 5.3 s of sound
    expected = extractor.vggish.predict_on_batch(examples).mean(axis=0)
    np.testing.assert_allclose(features[contract.AUDIO], expected, rtol=1e-5, atol=1e-7)
    assert np.abs(features[contract.AUDIO]).max() > 0


def test_weights_are_described_with_fingerprints(extractor):
    info = extractor.describe_weights()
    assert info["cnn_weights"] == "random(seed=20190000)"
    assert info["vggish_weights"] == "random(seed=20190001)"
    assert len(info["cnn_fingerprint"]) == 16


def test_bad_frames_are_rejected(extractor, samples):
    decoded = decode_video(samples["carphone_pristine"]["path"], num_frames=5)
    with pytest.raises(ValueError, match="carphone_pristine.mp4 are uint8 \\(5, 224, 224, 3\\)"):
        extractor.extract(decoded)


def test_refuses_to_run_without_weights():
    with pytest.raises(MissingWeightsError, match="CNN .* and VGGish"):
        VideoFeatureExtractor()
    with pytest.raises(MissingWeightsError, match="no weights for CNN") as error:
        VideoFeatureExtractor(vggish_weights=None, use_audio=False)
    assert "VGGish" not in str(error.value)
