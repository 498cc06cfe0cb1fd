"""Shared fixtures of the beam_jobs tests: sample videos, generated media, one ResNet152."""

import pytest

from beam_jobs.video_record import VideoRecord
from tests.beam_jobs import media_factory
from vre_common.sample_data import sample_videos


@pytest.fixture(scope="session")
def samples():
    """{id: sample record dict} of the four real sample videos."""
    return {v["id"]: v for v in sample_videos()}


@pytest.fixture(scope="session")
def sample_records(samples):
    return [
        VideoRecord(v["id"], v["path"], v["split"], tuple(v["captions"])) for v in samples.values()
    ]


@pytest.fixture(scope="session")
def broken_files(tmp_path_factory, samples):
    return media_factory.write_broken_files(
        tmp_path_factory.mktemp("broken"), samples["carphone_distorted"]["path"]
    )


@pytest.fixture(scope="session")
def extractor():
    """One VideoFeatureExtractor (ResNet152 + VGGish, fixed-seed random weights) per session."""
    from beam_jobs.feature_extractor import VideoFeatureExtractor

    return VideoFeatureExtractor(allow_random_weights=True)


@pytest.fixture(scope="session")
def direct_features(extractor, samples):
    """{id: (DecodedVideo, features)} computed outside Beam, once per session."""
    from beam_jobs.video_decoding import decode_video

    out = {}
    for video_id in ("bikes", "bigbuckbunny", "carphone_distorted"):
        decoded = decode_video(samples[video_id]["path"])
        out[video_id] = decoded, extractor.extract(decoded)
    return out
