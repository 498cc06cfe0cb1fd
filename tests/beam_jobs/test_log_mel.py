import numpy as np
import pytest

from beam_jobs import log_mel


def _tone(hz, seconds, rate=16000):
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def test_examples_are_0_96_s_of_96_by_64():
    examples = log_mel.log_mel_examples(_tone(1000, 3.0))
    # 3 s -> 298 frames of 10 ms -> 3 whole examples of 96 frames.
    assert examples.shape == (3, 96, 64)
    assert examples.dtype == np.float32


def test_a_tone_lights_its_mel_band():
    low = log_mel.log_mel_examples(_tone(300, 1.0))[0].mean(axis=0)
    high = log_mel.log_mel_examples(_tone(4000, 1.0))[0].mean(axis=0)
    assert np.argmax(low) < np.argmax(high)
    # Silence sits at log(0.01), the published offset.
    silence = log_mel.log_mel_examples(np.zeros(16000, np.float32))
    np.testing.assert_allclose(silence, np.log(log_mel.LOG_OFFSET), rtol=1e-6)


def test_short_audio_is_padded_to_one_example():
    assert log_mel.log_mel_examples(_tone(440, 0.2)).shape == (1, 96, 64)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="16000 Hz"):
        log_mel.log_mel_examples(_tone(440, 1.0), sample_rate=44100)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        log_mel.log_mel_examples(np.zeros((2, 100), np.float32))
