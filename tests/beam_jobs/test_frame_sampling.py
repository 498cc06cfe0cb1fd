import numpy as np
import pytest

from beam_jobs import frame_sampling


def test_time_range_uses_last_packet_duration_and_any_order():
    start, end = frame_sampling.clip_time_range([512, 0, 1024], [512, 512, 512], 1 / 12800)
    assert start == 0.0
    assert end == pytest.approx(1536 / 12800)


def test_time_range_without_durations_uses_typical_gap():
    start, end = frame_sampling.clip_time_range([0, 10, 20, None], [0, 0, 0, 0], 0.01)
    assert (start, end) == pytest.approx((0.0, 0.3))


def test_time_range_rejects_no_packets():
    with pytest.raises(ValueError, match="no timestamped packets"):
        frame_sampling.clip_time_range([None], [0], 0.01)


def test_sample_times_are_segment_centres():
    times = frame_sampling.sample_times(1.0, 3.0, 4)
    np.testing.assert_allclose(times, [1.25, 1.75, 2.25, 2.75])
    with pytest.raises(ValueError, match="after its start"):
        frame_sampling.sample_times(2.0, 2.0, 4)
    with pytest.raises(ValueError, match="num_samples"):
        frame_sampling.sample_times(0.0, 1.0, 0)


def test_pick_frames_variable_rate_takes_frame_on_screen():
    # Frames at irregular times: a long still, then a burst.
    frames = [(0.0, "a"), (0.9, "b"), (0.95, "c"), (1.0, "d")]
    picked, count = frame_sampling.pick_frames(iter(frames), [0.1, 0.5, 0.92, 0.97, 1.5])
    assert picked == ["a", "a", "b", "c", "d"]
    assert count == 4


def test_pick_frames_short_clip_repeats_frames_to_fill_k():
    picked, count = frame_sampling.pick_frames(
        iter([(0.0, 0), (0.5, 1)]), frame_sampling.sample_times(0.0, 1.0, 20)
    )
    assert count == 2 and len(picked) == 20
    assert picked == [0] * 10 + [1] * 10


def test_pick_frames_empty_stream():
    assert frame_sampling.pick_frames(iter([]), [0.5]) == ([], 0)
