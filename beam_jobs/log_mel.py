"""VGGish's input: a 16 kHz waveform turned into 0.96 s log-mel examples of 96 x 64, in core TF.

The parameters are the published VGGish ones (AudioSet's `vggish_params.py`): 25 ms Hann
windows every 10 ms, a 512-point FFT magnitude spectrum, 64 HTK mel bands from 125 to 7500 Hz,
log(mel + 0.01), and non-overlapping examples of 96 frames. `tf.signal` provides the STFT and
the HTK mel matrix (with the DC bin zeroed, as VGGish's own mel code does), so nothing here is
hand-rolled beyond the framing into examples.
"""

import numpy as np

SAMPLE_RATE = 16000
STFT_WINDOW_S = 0.025
STFT_HOP_S = 0.010
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s of 10 ms frames
EXAMPLE_HOP_FRAMES = 96
FFT_LENGTH = 512  # the next power of 2 above the 400-sample window


def log_mel_examples(waveform, sample_rate=SAMPLE_RATE):
    """Log-mel examples [E, 96, 64] float32 of a mono waveform.

    A clip with sound shorter than one example (0.96 s) is padded with silence to one example,
    so that any audio track yields at least one embedding.

    Args:
      waveform: float [T] mono samples in [-1, 1].
      sample_rate: must be 16000 (the decoder resamples to it).

    Raises:
      ValueError: wrong sample rate, or not a non-empty 1-D waveform.
    """
    import tensorflow as tf

    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"VGGish needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1 or waveform.size == 0:
        raise ValueError(f"expected a non-empty 1-D waveform, got shape {waveform.shape}")
    window = round(STFT_WINDOW_S * sample_rate)
    hop = round(STFT_HOP_S * sample_rate)
    min_samples = window + (EXAMPLE_FRAMES - 1) * hop
    if waveform.size < min_samples:
        waveform = np.pad(waveform, (0, min_samples - waveform.size))
    stft = tf.signal.stft(
        waveform,
        frame_length=window,
        frame_step=hop,
        fft_length=FFT_LENGTH,
        window_fn=tf.signal.hann_window,  # periodic, as VGGish's
        pad_end=False,
    )
    magnitude = tf.abs(stft)  # (frames, 257)
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=NUM_MEL_BINS,
        num_spectrogram_bins=FFT_LENGTH // 2 + 1,
        sample_rate=sample_rate,
        lower_edge_hertz=MEL_MIN_HZ,
        upper_edge_hertz=MEL_MAX_HZ,
    )
    log_mel = tf.math.log(tf.matmul(magnitude, mel_matrix) + LOG_OFFSET)  # (frames, 64)
    examples = tf.signal.frame(log_mel, EXAMPLE_FRAMES, EXAMPLE_HOP_FRAMES, axis=0)
    return examples.numpy().astype(np.float32)  # (E, 96, 64)


def example_chunks(waveform, examples_per_chunk, sample_rate=SAMPLE_RATE):
    """Slices of `waveform` that `log_mel_examples` turns into `examples_per_chunk` examples each.

    Examples do not overlap, and each slice starts on the STFT's frame grid, so the examples of
    all slices are exactly those of the whole waveform (the last slice may give fewer). A
    waveform shorter than one example is one slice (padded to one example, as for a whole clip).

    Args:
      waveform: float [T] mono samples.
      examples_per_chunk: examples per slice, >= 1.
      sample_rate: Hz.

    Yields:
      float32 [<= examples_per_chunk * 0.96 s + 15 ms] views of `waveform`.
    """
    if examples_per_chunk < 1:
        raise ValueError(f"examples_per_chunk must be >= 1, got {examples_per_chunk}")
    window = round(STFT_WINDOW_S * sample_rate)
    hop = round(STFT_HOP_S * sample_rate)
    example_samples = EXAMPLE_FRAMES * hop  # 15360: where the next example's first frame starts
    min_samples = window + (EXAMPLE_FRAMES - 1) * hop  # 15600: the samples one example reads
    step = examples_per_chunk * example_samples
    tail = min_samples - example_samples  # the last example reads this far past its hop
    waveform = np.asarray(waveform)
    if waveform.size < min_samples:
        yield waveform
        return
    for start in range(0, waveform.size, step):
        chunk = waveform[start : start + step + tail]
        if chunk.size < min_samples:
            return  # not a whole example: the whole waveform would drop it too
        yield chunk
