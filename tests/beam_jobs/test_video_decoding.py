import numpy as np
import pytest

from beam_jobs import frame_sampling
from beam_jobs.video_decoding import (
    AUDIO_SAMPLE_RATE,
    VideoDecodeError,
    decode_video,
    orient_and_crop,
    scaled_size,
)
from tests.beam_jobs import media_factory
from vre_common import contract


@pytest.mark.parametrize(
    "video_id, source_size, num_frames, has_audio",
    [
        ("bigbuckbunny", (1280, 720), 132, True),
        ("bikes", (640, 272), 250, False),
        ("carphone_pristine", (176, 144), 120, False),  # smaller than 224: upscaled
    ],
)
def test_sample_videos_decode_to_k_frames(samples, video_id, source_size, num_frames, has_audio):
    decoded = decode_video(samples[video_id]["path"])
    assert decoded.frames.shape == (contract.NUM_FRAMES, 224, 224, 3)
    assert decoded.frames.dtype == np.uint8
    assert decoded.source_size == source_size
    assert decoded.num_frames == num_frames
    assert decoded.has_audio is has_audio
    # Frames are taken across the whole clip, not all from its start.
    assert not np.array_equal(decoded.frames[0], decoded.frames[-1])
    if has_audio:
        assert decoded.audio_sample_rate == AUDIO_SAMPLE_RATE
        assert decoded.audio.ndim == 1
        assert decoded.audio.size / AUDIO_SAMPLE_RATE == pytest.approx(decoded.duration_s, abs=0.2)
        assert np.abs(decoded.audio).max() <= 1.0
    else:
        assert decoded.audio is None and decoded.audio_sample_rate is None


def test_duration_comes_from_the_timestamps(samples):
    assert decode_video(samples["bigbuckbunny"]["path"]).duration_s == pytest.approx(5.28)
    assert decode_video(samples["bikes"]["path"]).duration_s == pytest.approx(10.0)


def test_rotated_variable_rate_short_clip(tmp_path):
    path = media_factory.write_rotated_vfr_clip(tmp_path / "rotated.mp4", rotation=90)
    decoded = decode_video(path)
    assert decoded.rotation == 90
    assert decoded.num_frames == 8  # fewer than K: frames repeat
    assert decoded.duration_s == pytest.approx(media_factory.VFR_END_MS / 1000)
    # Turned a quarter counter-clockwise: the source's top marker band is now on the left, its
    # right (blue) half on top and its left (red) half at the bottom.
    first = decoded.frames[0].astype(int)
    assert first[5, 112, 2] > 200 and first[5, 112, 0] < 60
    assert first[218, 112, 0] > 200 and first[218, 112, 2] < 60
    # Which source frame each of the K samples shows: the one on screen at its segment centre.
    markers = np.round(decoded.frames[:, 112, 4, 0] / media_factory.MARKER_STEP).astype(int)
    times = [t / 1000 for t in media_factory.VFR_FRAME_TIMES_MS]
    expected, _ = frame_sampling.pick_frames(
        iter(zip(times, range(8))),
        frame_sampling.sample_times(0.0, media_factory.VFR_END_MS / 1000, contract.NUM_FRAMES),
    )
    assert markers.tolist() == expected


@pytest.mark.parametrize(
    "name, message",
    [
        ("empty", "empty \\(0 bytes\\)"),
        ("not_video", "not a readable video container"),
        ("truncated", "not a readable video container"),
        ("audio_only", "no video stream .* \\(streams: audio\\)"),
        ("missing", "does not exist"),
    ],
)
def test_bad_files_raise_an_error_naming_them(broken_files, name, message):
    path = broken_files[name]
    with pytest.raises(VideoDecodeError, match=message) as error:
        decode_video(path)
    assert str(path) in str(error.value)


def test_directory_is_rejected(tmp_path):
    with pytest.raises(VideoDecodeError, match="is a directory"):
        decode_video(tmp_path)


def test_scaling_and_cropping_keep_the_centre():
    assert scaled_size(1280, 720) == (398, 224)
    assert scaled_size(176, 144) == (274, 224)
    assert scaled_size(272, 640) == (224, 527)
    image = np.zeros((224, 398, 3), np.uint8)
    image[:, 199] = 255  # the centre column
    out = orient_and_crop(image, 0)
    assert out.shape == (224, 224, 3)
    assert out[:, 112].min() == 255
    rotated = orient_and_crop(np.zeros((224, 300, 3), np.uint8), -90)
    assert rotated.shape == (224, 224, 3)
    with pytest.raises(ValueError, match="smaller than"):
        orient_and_crop(np.zeros((100, 300, 3), np.uint8), 0)
