"""Which frames of a clip to keep: K times spread uniformly over the clip's real duration.

Sampling is done on presentation times, not frame indices, so that variable-frame-rate clips are
sampled uniformly in time (paper §4.2: "we uniformly extract 20 frames"). Each of the K equal
segments of the clip contributes the frame on screen at its centre. A clip with fewer than K
frames therefore repeats frames (each frame is on screen for several segment centres): the
output always has exactly K frames, in time order.
"""

import numpy as np


def clip_time_range(pts, durations, time_base):
    """The clip's [start, end) in seconds from its video packets' timestamps.

    Args:
      pts: presentation timestamps of the video packets (any order; None entries skipped).
      durations: the packets' durations in the same units (0 or None when unknown).
      time_base: seconds per timestamp unit (a Fraction or float).

    Returns:
      (start_s, end_s) with end_s > start_s.

    Raises:
      ValueError: when there is no timestamped packet.
    """
    pairs = sorted((p, d or 0) for p, d in zip(pts, durations) if p is not None)
    if not pairs:
        raise ValueError("the video stream has no timestamped packets")
    times = np.array([p for p, _ in pairs], dtype=np.float64) * float(time_base)
    last_duration = pairs[-1][1] * float(time_base)
    if last_duration <= 0:
        # No duration on the last packet (some containers): assume it lasts as long as the
        # typical gap between frames, and 1/25 s for a single-frame clip.
        gaps = np.diff(times)
        gaps = gaps[gaps > 0]
        last_duration = float(np.median(gaps)) if gaps.size else 1.0 / 25.0
    return float(times[0]), float(times[-1] + last_duration)


def sample_times(start_s, end_s, num_samples):
    """The K presentation times to sample: the centres of K equal segments of [start, end).

    Args:
      start_s: clip start, seconds.
      end_s: clip end, seconds (> start_s).
      num_samples: K.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if not end_s > start_s:
        raise ValueError(f"the clip's end ({end_s}) must be after its start ({start_s})")
    step = (end_s - start_s) / num_samples
    return start_s + (np.arange(num_samples) + 0.5) * step


def pick_frames(frames_with_times, targets, convert=None):
    """For each target time, the frame on screen then (the last frame starting at or before it).

    Consumes an iterator of (time_s, frame) in presentation order once, keeping only the frames it
    returns, so that long clips never sit in memory. Targets before the first frame take the
    first frame; targets after the last frame take the last one.

    Args:
      frames_with_times: iterable of (time_s, frame) in increasing time order.
      targets: sorted target times, seconds.
      convert: optional `frame -> value`, applied once to each picked frame as soon as it is
        picked (e.g. to a small RGB array), so that the source frames are not kept.

    Returns:
      (picked, num_frames): a list of len(targets) frames or converted values (the same object
      may repeat) and the number of frames read.
    """
    convert = convert or (lambda frame: frame)
    picked = []
    previous = None  # (frame, its converted value or None until it is picked)
    num_frames = 0
    j = 0

    def take(entry):
        if entry[1] is None:
            entry[1] = convert(entry[0])
        return entry[1]

    for time_s, frame in frames_with_times:
        num_frames += 1
        current = [frame, None]
        while j < len(targets) and targets[j] < time_s:
            picked.append(take(previous if previous is not None else current))
            j += 1
        previous = current
    if previous is None:
        return [], 0
    picked.extend([take(previous)] * (len(targets) - j))
    return picked, num_frames
