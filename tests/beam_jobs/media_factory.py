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


def write_long_clip(path, seconds, size=32, fps=1, audio_rate=8000, audio=None):
    """A long, tiny clip: `size`x`size` mpeg4 at `fps` and a mono PCM track, in Matroska.

    Each frame is a flat grey whose level cycles with time; the audio is a 440 Hz tone unless
    `audio` (float32 samples in [-1, 1] at `audio_rate`, NaN allowed) is given. PCM keeps the
    generation fast (no audio encoder runs): 30 minutes take a few seconds.
    """
    import av

    with av.open(str(path), "w", format="matroska") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = size, size, "yuv420p"
        sound = container.add_stream("pcm_f32le", rate=audio_rate, layout="mono")
        if audio is None:
            t = np.arange(int(seconds * audio_rate), dtype=np.float64) / audio_rate
            audio = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
        audio = np.asarray(audio, np.float32)
        for i in range(int(seconds * fps)):
            image = np.full((size, size, 3), (i * 7) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                container.mux(packet)
        for start in range(0, audio.size, audio_rate):  # one-second audio frames
            chunk = audio[start : start + audio_rate]
            frame = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
            frame.sample_rate, frame.pts = audio_rate, start
            for packet in sound.encode(frame):
                container.mux(packet)
        for stream in (video, sound):
            for packet in stream.encode():
                container.mux(packet)
    return pathlib.Path(path)


def write_nan_audio_clip(path, seconds=2):
    """A short clip whose float PCM audio track holds NaN samples (a real, decodable file)."""
    rate = 16000
    audio = np.full(seconds * rate, 0.1, np.float32)
    audio[rate // 2 : rate] = np.nan
    return write_long_clip(path, seconds, size=64, fps=5, audio_rate=rate, audio=audio)
