"""Generates the small real media files the tests need, with PyAV (no file is committed)."""

import fractions
import pathlib

import numpy as np

# The generated rotated clip: 8 frames at irregular times (variable frame rate), each frame
# with a grey marker band on its top rows whose level says which frame it is.
VFR_FRAME_TIMES_MS = [0, 200, 240, 440, 480, 680, 720, 920]
VFR_END_MS = 960
MARKER_STEP = 30


def write_rotated_vfr_clip(path, rotation=90):
    """A 320x240 mpeg4 clip of 8 frames at VFR_FRAME_TIMES_MS, tagged with a display rotation.

    Left half red, right half blue; the top 20 rows are grey at level i * MARKER_STEP.
    """
    import av

    path = pathlib.Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = fractions.Fraction(1, 1000)
        stream.set_display_rotation(rotation)
        for i, t in enumerate(VFR_FRAME_TIMES_MS):
            image = np.zeros((240, 320, 3), np.uint8)
            image[:, :160] = (255, 0, 0)
            image[:, 160:] = (0, 0, 255)
            image[:20] = i * MARKER_STEP
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = t, fractions.Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path, seconds=1.0, rate=16000):
    """A WAV file with a 440 Hz tone and no video stream."""
    import av

    samples = (np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 440 / rate) * 10000).astype(
        np.int16
    )
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return pathlib.Path(path)


def write_broken_files(folder, good_video):
    """{name: path} of files that are not decodable videos, each broken in its own way."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = pathlib.Path(good_video).read_bytes()
    files = {
        "empty": folder / "empty.mp4",
        "not_video": folder / "notes.mp4",
        "truncated": folder / "truncated.mp4",
        "audio_only": folder / "tone.wav",
        "missing": folder / "never_written.mp4",
    }
    files["empty"].write_bytes(b"")
    files["not_video"].write_text("these are meeting notes, not a video\n")
    files["truncated"].write_bytes(data[: len(data) // 2])  # the index (moov) is cut off
    write_audio_only(files["audio_only"])
    return files
