"""Decodes one video with PyAV: K frames (uniform in time, 224x224 RGB) and its audio track.

This is the one decoding function of the project: the Beam job calls it (in a subprocess, see
`isolated_decoder.py`) and the caption client calls it directly, so training and serving see the
same pixels.

Choices (paper §3.1, §4.2, issue 5):
- K frames at the centres of K equal segments of the clip's real duration, measured from the
  video packets' timestamps (variable frame rate safe); clips with fewer than K frames repeat
  frames (see `frame_sampling.py`).
- Rotation metadata (the display matrix, e.g. phone videos) is applied before cropping.
- Each frame is resized so that its shorter side is 224 (area interpolation, by FFmpeg's
  swscale) and centre-cropped to 224x224. ResNet's own preprocessing (channel means) is part of
  the CNN model, so frames stay uint8 here (4x smaller to pass between processes).
- Audio: the first audio stream, downmixed to mono and resampled by FFmpeg's swresample
  straight to 16 kHz, VGGish's rate (the paper's 44.1 kHz extraction is resampled to 16 kHz by
  VGGish's own input code anyway).
"""

import contextlib
import dataclasses
import os

import numpy as np

from beam_jobs import frame_sampling
from vre_common import contract

AUDIO_SAMPLE_RATE = 16000  # VGGish's input rate


class VideoDecodeError(ValueError):
    """A video cannot be decoded; the message names the file and the problem."""


@dataclasses.dataclass
class DecodedVideo:
    """A decoded clip, ready for feature extraction.

    Attributes:
      path: where it was read from.
      frames: uint8 [K, 224, 224, 3] RGB frames in time order.
      audio: float32 [T] mono waveform in [-1, 1] at `audio_sample_rate`, or None (no audio).
      audio_sample_rate: Hz, or None when there is no audio.
      num_frames: frames decoded from the source video.
      duration_s: the clip's duration in seconds (from its video timestamps).
      source_size: (width, height) of the source frames as stored.
      rotation: the display rotation applied, degrees counter-clockwise.
    """

    path: str
    frames: np.ndarray
    audio: np.ndarray | None
    audio_sample_rate: int | None
    num_frames: int
    duration_s: float
    source_size: tuple[int, int]
    rotation: int = 0

    @property
    def has_audio(self) -> bool:
        return self.audio is not None and self.audio.size > 0


def _check_local_file(local, path):
    if not os.path.exists(local):
        raise VideoDecodeError(f"video file does not exist: {path}")
    if os.path.isdir(local):
        raise VideoDecodeError(f"video path is a directory, not a file: {path}")
    if os.path.getsize(local) == 0:
        raise VideoDecodeError(f"video file is empty (0 bytes): {path}")


@contextlib.contextmanager
def _open(local, path):
    """The opened PyAV container of the local file `local` (read from `path`); FFmpeg's open
    errors become VideoDecodeError naming `path`."""
    import av

    try:
        container = av.open(local)
    except av.FFmpegError as e:
        raise VideoDecodeError(f"not a readable video container: {path}: {e}") from e
    with container:
        yield container


def _video_time_range(local, path):
    """Pass 1: demux (no decoding) to get the clip's real time range from packet timestamps."""
    with _open(local, path) as container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoDecodeError(f"no video stream in {path} (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        pts, durations = [], []
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's flush packet
                continue
            pts.append(packet.pts)
            durations.append(packet.duration)
        try:
            start, end = frame_sampling.clip_time_range(pts, durations, stream.time_base)
        except ValueError as e:
            raise VideoDecodeError(f"no video frames in {path}: {e}") from e
        return start, end


def orient_and_crop(rgb, rotation, size=contract.FRAME_SIZE):
    """Applies a display rotation (degrees counter-clockwise) and centre-crops to size x size.

    Args:
      rgb: uint8 [H, W, 3], already scaled so that its shorter displayed side is `size`.
      rotation: degrees counter-clockwise, a multiple of 90 (others are rounded to one).
      size: output side in pixels.
    """
    quarter_turns = round(rotation / 90.0) % 4
    if quarter_turns:
        rgb = np.rot90(rgb, k=quarter_turns)
    h, w = rgb.shape[:2]
    if h < size or w < size:
        raise ValueError(f"frame {w}x{h} is smaller than the {size}x{size} crop")
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(rgb[top : top + size, left : left + size])


def scaled_size(width, height, size=contract.FRAME_SIZE):
    """(width, height) to scale a frame to so that its shorter side is `size`.

    A quarter-turn display rotation swaps the sides but not which one is shorter, so the stored
    frame is scaled before it is rotated.
    """
    scale = size / min(width, height)
    # The shorter side is exactly `size`; the other is rounded and never below it.
    new_w = size if width <= height else max(size, round(width * scale))
    new_h = size if height < width else max(size, round(height * scale))
    return new_w, new_h


def _frame_to_rgb(frame, size):
    rotation = frame.rotation
    new_w, new_h = scaled_size(frame.width, frame.height, size)
    rgb = frame.reformat(width=new_w, height=new_h, format="rgb24", interpolation="AREA")
    return orient_and_crop(rgb.to_ndarray(), rotation, size)


def _decode_frames(local, path, targets, size):
    """Pass 2: decode in presentation order and keep the frame on screen at each target time.

    Frames stream through: only the picked ones are kept, each converted to 224x224 RGB as soon
    as it is picked, so a long or high-resolution clip never sits in memory.
    """
    with _open(local, path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame-threaded decoding: 2x on long H.264 clips
        first = {}

        def timed_frames():
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                if not first:
                    first.update(size=(frame.width, frame.height), rotation=frame.rotation)
                yield float(frame.pts * stream.time_base), frame

        picked, num_frames = frame_sampling.pick_frames(
            timed_frames(), targets, convert=lambda frame: _frame_to_rgb(frame, size)
        )
        if not picked:
            raise VideoDecodeError(f"no video frame could be decoded from {path}")
        return np.stack(picked), num_frames, first["size"], first["rotation"]


def _decode_audio(local, path, sample_rate, max_audio_s):
    """The first audio stream as float32 mono at `sample_rate`, at most `max_audio_s` seconds
    (decoding stops there), or None when there is none."""
    import av

    max_samples = None if max_audio_s is None else int(max_audio_s * sample_rate)
    with _open(local, path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = []
        kept = 0

        def resampled():
            for frame in container.decode(stream):
                yield from resampler.resample(frame)
            yield from resampler.resample(None)  # flush the resampler's buffered tail

        for out in resampled():
            chunk = out.to_ndarray().reshape(-1)
            if max_samples is not None and kept + chunk.size >= max_samples:
                chunks.append(chunk[: max_samples - kept])
                kept = max_samples
                break
            chunks.append(chunk)
            kept += chunk.size
        if not kept:
            return None
        return np.concatenate(chunks).astype(np.float32, copy=False)


def decode_video(
    path,
    num_frames=contract.NUM_FRAMES,
    frame_size=contract.FRAME_SIZE,
    audio_sample_rate=AUDIO_SAMPLE_RATE,
    max_audio_s=None,
) -> DecodedVideo:
    """Decodes `path` into K uniformly sampled 224x224 RGB frames and a 16 kHz mono waveform.

    A remote video (gs://, s3://...) is fetched once, through Beam's filesystems, into a local
    temp file that all three passes read (FFmpeg seeks; each remote open would re-read it).

    Args:
      path: a local path, file:// URI, or any URI Beam's filesystems read (gs://, s3://...).
      num_frames: K, frames to sample.
      frame_size: side of the square frames.
      audio_sample_rate: Hz of the returned waveform.
      max_audio_s: keep at most the first this-many seconds of audio (None: all of it); it
        bounds the memory a long clip's waveform takes.

    Returns:
      A DecodedVideo.

    Raises:
      VideoDecodeError: the file is missing, empty, not a media container, has no video stream
        or no decodable frame; the message names the path.
    """
    import av

    from beam_jobs.local_copy import is_remote, local_copy

    path = str(path)
    if max_audio_s is not None and max_audio_s <= 0:
        raise ValueError(f"max_audio_s must be > 0 or None, got {max_audio_s}")
    try:
        with local_copy(path, prefix="vre-video-") as local:
            _check_local_file(local, path)
            start, end = _video_time_range(local, path)
            targets = frame_sampling.sample_times(start, end, num_frames)
            frames, decoded, source_size, rotation = _decode_frames(
                local, path, targets, frame_size
            )
            audio = _decode_audio(local, path, audio_sample_rate, max_audio_s)
    except FileNotFoundError as e:
        if not is_remote(path):
            raise
        raise VideoDecodeError(f"cannot open video {path}: {e}") from e
    except av.FFmpegError as e:
        raise VideoDecodeError(f"decoding failed for {path}: {e}") from e
    return DecodedVideo(
        path=path,
        frames=frames,
        audio=audio,
        audio_sample_rate=audio_sample_rate if audio is not None else None,
        num_frames=decoded,
        duration_s=end - start,
        source_size=source_size,
        rotation=rotation,
    )
