"""The localization benchmark's data: the event sits where its ground truth says, and only the
event decides the caption."""

import numpy as np
import pytest

from vre_keras.synthetic_events import (
    SUBJECTS,
    VERBS,
    EventTask,
    chance_inside,
    event_captions,
    generate_event_videos,
)


def _nearest(frame, marker, subjects, verbs):
    """(is marked, subject, verb) whose prototype sum lies closest to `frame`."""
    best = None
    for has_marker in (False, True):
        for s in range(len(subjects)):
            for v in range(len(verbs)):
                centre = subjects[s] + verbs[v] + (marker if has_marker else 0.0)
                distance = np.sum((frame - centre) ** 2)
                if best is None or distance < best[0]:
                    best = (distance, has_marker, s, v)
    return best[1:]


def test_event_frames_are_marked_and_carry_the_captioned_subject_and_verb():
    task = EventTask(num_frames=20, channels=64, noise=(0.1, 0.1), event_lengths=(2, 5))
    marker, subjects, verbs = task.prototypes()
    videos = generate_event_videos(task, 40, seed=3)
    starts, lengths = set(), set()
    for video in videos:
        assert video.temporal.shape == (20, 64) and video.spatial.shape == (4, 64)
        assert 2 <= video.event_length <= 5 and 0 <= video.event_start
        assert video.event_start + video.event_length <= 20
        starts.add(video.event_start)
        lengths.add(video.event_length)
        assert video.captions == event_captions(video.subject, video.verb)
        assert all(SUBJECTS[video.subject] in c and VERBS[video.verb] in c for c in video.captions)
        for i, frame in enumerate(video.temporal):
            marked, s, v = _nearest(frame, marker, subjects, verbs)
            # Marked exactly on the event's frames; there, the event's own subject and verb.
            assert marked == (i in video.event_frames), (video.video_id, i)
            if marked:
                assert (s, v) == (video.subject, video.verb)
        mask = video.event_mask(20)
        assert mask.sum() == video.event_length and mask[video.event_start]
    assert len(starts) > 8 and lengths == {2, 3, 4, 5}  # positions and lengths vary
    assert chance_inside(videos, 20) == pytest.approx(
        np.mean([v.event_length for v in videos]) / 20
    )


def test_the_caption_is_decided_by_the_event_alone():
    """Swapping the event's frames between two videos swaps which caption the frames support:
    the distractors carry no information about the caption."""
    task = EventTask(noise=(0.0, 0.0))
    marker, subjects, verbs = task.prototypes()
    videos = generate_event_videos(task, 200, seed=5)
    # Distractor frames are drawn independently of the label: every subject shows up among the
    # distractors of videos of every label about equally often.
    counts = np.zeros((len(SUBJECTS), len(SUBJECTS)))
    for video in videos:
        for i, frame in enumerate(video.temporal):
            if i not in video.event_frames:
                _, s, _ = _nearest(frame, marker, subjects, verbs)
                counts[video.subject, s] += 1
    shares = counts / counts.sum(axis=1, keepdims=True)
    assert np.all(np.abs(shares - 1 / len(SUBJECTS)) < 0.08)


def test_reproducible_and_bad_tasks_named():
    task = EventTask()
    a, b = generate_event_videos(task, 3, seed=1), generate_event_videos(task, 3, seed=1)
    assert all(np.array_equal(x.temporal, y.temporal) for x, y in zip(a, b))
    assert a[0].video_id != generate_event_videos(task, 1, seed=2)[0].video_id
    with pytest.raises(ValueError, match="event_lengths must satisfy"):
        EventTask(num_frames=4, event_lengths=(2, 4))
    with pytest.raises(ValueError, match="count must be a positive int"):
        generate_event_videos(task, 0, seed=1)


def test_records_follow_contract_1(tmp_path):
    from vre_keras.config import ModelConfig
    from vre_keras.dataset import make_dataset, read_references
    from vre_keras.synthetic_events import write_event_records
    from vre_keras.vocabulary import Vocabulary

    task = EventTask()
    videos = generate_event_videos(task, 4, seed=0)
    path = write_event_records(tmp_path / "e.tfrecord.gz", videos)
    references = read_references(str(path))
    assert references == {v.video_id: list(v.captions) for v in videos}
    config = ModelConfig.tiny(num_frames=20, channels=32, num_regions=4, max_caption_words=4)
    vocabulary = Vocabulary.build([c for v in videos for c in v.captions], min_count=1)
    batch = next(iter(make_dataset(str(path), config, vocabulary, 8)))
    assert batch["temporal"].shape == (8, 20, 32)
    np.testing.assert_allclose(batch["temporal"][0].numpy(), videos[0].temporal)
