"""Synthetic videos whose caption is told by one short event: the localization benchmark's data.

Every video has K frames. A contiguous segment of `event_length` frames at a random position is
the event: each of its frames carries a marker direction (what makes it the event) plus the
prototypes of the event's subject and verb. Every other frame is a distractor: the prototypes of
a random subject and verb, no marker. The captions ("a dog is running", "the dog is running")
name only the event's subject and verb, so a model captions an unseen video right only if it
finds the marked frames; the spatial feature is the frames' mean (as Eq. 3 averages over time),
which mixes event and distractors, and the audio vector is pure noise.

Ground truth (event start and length) is kept per video, so a benchmark can check whether the
served key frame, or the decoder's temporal attention, lies inside the event.

Example:
    task = EventTask(num_frames=20, channels=32)
    videos = generate_event_videos(task, count=100, seed=1)
    write_event_records("train.tfrecord.gz", videos)
"""

import dataclasses
import pathlib

import numpy as np

from vre_common import contract

SUBJECTS = ("man", "woman", "dog", "cat")
VERBS = ("running", "jumping", "eating", "sleeping")
# Two phrasings per event: references differ in their first word only (caption-to-caption
# variance, as MSR-VTT's ~20 references per video have).
TEMPLATES = ("a {subject} is {verb}", "the {subject} is {verb}")


@dataclasses.dataclass(frozen=True)
class EventTask:
    """The shape of the task; videos generated from the same task share its prototypes.

    Attributes:
        num_frames: K.
        channels: C of each frame feature.
        num_regions: R rows of the spatial feature.
        audio_dim: size of the audio vector.
        event_lengths: (shortest, longest) event, in frames, drawn uniformly per video.
        noise: (lowest, highest) standard deviation of the per-element Gaussian noise, drawn
            uniformly per video (prototypes have unit per-element scale).
        marker_scale: length of the event marker relative to a prototype.
        prototype_seed: seed of the marker and the subject / verb prototypes.
    """

    num_frames: int = contract.NUM_FRAMES
    channels: int = 32
    num_regions: int = 4
    audio_dim: int = contract.AUDIO_DIM
    event_lengths: tuple = (2, 4)
    noise: tuple = (0.3, 0.9)
    marker_scale: float = 1.0
    prototype_seed: int = 1234

    def __post_init__(self):
        for name in ("num_frames", "channels", "num_regions", "audio_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"EventTask.{name} must be a positive int, got {value!r}")
        low, high = self.event_lengths
        if not 1 <= low <= high < self.num_frames:
            raise ValueError(
                f"EventTask.event_lengths must satisfy 1 <= low <= high < num_frames "
                f"({self.num_frames}), got {self.event_lengths}"
            )
        if not 0.0 <= self.noise[0] <= self.noise[1]:
            raise ValueError(f"EventTask.noise must be 0 <= low <= high, got {self.noise}")

    def prototypes(self):
        """(marker [C], subject prototypes [S, C], verb prototypes [V, C]), fixed by the seed."""
        rng = np.random.default_rng(self.prototype_seed)
        c = self.channels
        marker = rng.normal(size=c) * self.marker_scale
        return marker, rng.normal(size=(len(SUBJECTS), c)), rng.normal(size=(len(VERBS), c))


@dataclasses.dataclass(frozen=True)
class EventVideo:
    """One synthetic video and its ground truth.

    Attributes:
        video_id: unique id.
        temporal: float32 [K, C]; spatial: float32 [R, C]; audio: float32 [A].
        captions: the references (they name the event's subject and verb).
        subject, verb: indices into SUBJECTS and VERBS of the event.
        event_start, event_length: the event covers frames [start, start + length).
        noise: the noise standard deviation of this video.
    """

    video_id: str
    temporal: np.ndarray
    spatial: np.ndarray
    audio: np.ndarray
    captions: tuple
    subject: int
    verb: int
    event_start: int
    event_length: int
    noise: float

    @property
    def event_frames(self) -> range:
        return range(self.event_start, self.event_start + self.event_length)

    def event_mask(self, num_frames) -> np.ndarray:
        """bool [K], True on the event's frames."""
        mask = np.zeros(num_frames, bool)
        mask[self.event_start : self.event_start + self.event_length] = True
        return mask


def event_captions(subject, verb) -> tuple:
    """The reference captions of an event."""
    return tuple(t.format(subject=SUBJECTS[subject], verb=VERBS[verb]) for t in TEMPLATES)


def generate_event_videos(task, count, seed, prefix="video") -> list:
    """`count` videos of `task`, reproducible from `seed`.

    Args:
        task: EventTask.
        count: number of videos.
        seed: seed of the positions, lengths, labels and noise (the prototypes come from the task).
        prefix: video id prefix (ids are f"{prefix}{seed}_{i}").

    Returns:
        list of EventVideo.
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int, got {count!r}")
    marker, subjects, verbs = task.prototypes()
    rng = np.random.default_rng(seed)
    k, c = task.num_frames, task.channels
    videos = []
    for i in range(count):
        subject = int(rng.integers(len(SUBJECTS)))
        verb = int(rng.integers(len(VERBS)))
        length = int(rng.integers(task.event_lengths[0], task.event_lengths[1] + 1))
        start = int(rng.integers(0, k - length + 1))
        noise = float(rng.uniform(*task.noise))
        # Distractors: a random subject and verb per frame, never marked.
        frames = (
            subjects[rng.integers(len(SUBJECTS), size=k)] + verbs[rng.integers(len(VERBS), size=k)]
        )
        frames[start : start + length] = marker + subjects[subject] + verbs[verb]
        frames = frames + rng.normal(scale=noise, size=(k, c))
        spatial = frames.mean(axis=0) + rng.normal(scale=noise, size=(task.num_regions, c))
        videos.append(
            EventVideo(
                video_id=f"{prefix}{seed}_{i}",
                temporal=frames.astype(np.float32),
                spatial=spatial.astype(np.float32),
                audio=rng.normal(size=task.audio_dim).astype(np.float32),
                captions=event_captions(subject, verb),
                subject=subject,
                verb=verb,
                event_start=start,
                event_length=length,
                noise=noise,
            )
        )
    return videos


def chance_inside(videos, num_frames) -> float:
    """Probability that a uniformly random frame lies inside the event, averaged over videos."""
    return float(np.mean([v.event_length / num_frames for v in videos]))


def write_event_records(path, videos, split="train"):
    """Writes the videos as a gzip TFRecord file of Contract 1 (what the trainer reads).

    Args:
        path: output file.
        videos: list of EventVideo.
        split: value of the `split` feature.

    Returns:
        the path.
    """
    import tensorflow as tf

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(values)))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for video in videos:
            if video.audio.shape != (contract.AUDIO_DIM,):
                raise ValueError(
                    f"{video.video_id}: Contract 1 needs audio of {contract.AUDIO_DIM} values, "
                    f"got shape {video.audio.shape}"
                )
            k = len(video.temporal)
            feature = {
                contract.VIDEO_ID: strings([video.video_id]),
                contract.SPLIT: strings([split]),
                contract.TEMPORAL: floats(video.temporal),
                contract.SPATIAL: floats(video.spatial),
                contract.AUDIO: floats(video.audio),
                contract.HAS_AUDIO: ints([1]),
                contract.CAPTIONS: strings(list(video.captions)),
                contract.NUM_SOURCE_FRAMES: ints([k]),
                contract.DURATION_S: floats([float(k)]),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    return path
