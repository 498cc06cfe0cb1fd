"""Worker memory stays bounded: a 30-minute clip goes through the real job within a stated peak
RSS, audio is capped and batched through VGGish, and a failing RunInference batch is retried
video by video so that only the bad video is dead-lettered."""

import json
import subprocess
import sys

import numpy as np
import pytest

from beam_jobs import log_mel
from beam_jobs.model_handler import InferenceFailure, KerasFeatureModelHandler
from beam_jobs.video_decoding import decode_video
from tests.beam_jobs import media_factory
from vre_common import contract

LONG_CLIP_S = 30 * 60
MAX_AUDIO_S = 120
# The whole job in one process tree: TF, ResNet152 and VGGish (about 2 GB with their weights)
# plus one video. Before the audio was capped and batched, this clip alone needed > 3 GB more
# (its 30-minute waveform, STFT and one VGGish call on 1,875 windows at once).
PEAK_RSS_BOUND_MB = 4000

_RUN_AND_MEASURE = """
import json, resource, sys
from beam_jobs import feature_job
feature_job.run(sys.argv[1:])
print("RUSAGE " + json.dumps({
    "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return media_factory.write_long_clip(tmp_path_factory.mktemp("long") / "long.mkv", LONG_CLIP_S)


def test_example_chunks_give_the_whole_waveforms_examples():
    rng = np.random.default_rng(0)
    waveform = rng.uniform(-0.5, 0.5, 16000 * 7 + 1234).astype(np.float32)
    whole = log_mel.log_mel_examples(waveform)
    chunked = np.concatenate(
        [log_mel.log_mel_examples(c) for c in log_mel.example_chunks(waveform, 3)]
    )
    assert whole.shape == chunked.shape == (7, 96, 64)
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-4)
    (short,) = log_mel.example_chunks(waveform[:1000], 3)  # padded to one example, as before
    assert log_mel.log_mel_examples(short).shape == (1, 96, 64)


@pytest.mark.slow
def test_decoding_a_long_clip_streams_frames_and_caps_audio(long_clip):
    decoded = decode_video(str(long_clip), max_audio_s=MAX_AUDIO_S)
    assert decoded.frames.shape == (contract.NUM_FRAMES, 224, 224, 3)
    assert decoded.num_frames == LONG_CLIP_S
    assert decoded.duration_s == pytest.approx(LONG_CLIP_S, abs=1.0)
    assert decoded.audio.shape == (MAX_AUDIO_S * 16000,)  # decoding stopped at the cap
    # Frames come from the whole clip (the grey level encodes the frame index).
    levels = decoded.frames[:, 112, 112, 0].astype(int)
    assert len(set(levels.tolist())) > 10


@pytest.mark.slow
@pytest.mark.e2e
def test_job_processes_a_30_minute_clip_within_the_memory_bound(long_clip, tmp_path, project_root):
    manifest = tmp_path / "long.jsonl"
    manifest.write_text(json.dumps({"id": "long", "path": str(long_clip), "split": "train"}))
    out = tmp_path / "out"
    argv = [
        "--dataset=manifest",
        f"--manifest={manifest}",
        f"--output_dir={out}",
        "--allow_random_weights",
        f"--max_audio_s={MAX_AUDIO_S}",
        "--vggish_batch_size=16",
        "--direct_running_mode=in_memory",
    ]
    result = subprocess.run(
        [sys.executable, "-c", _RUN_AND_MEASURE, *argv],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("RUSAGE ")]
    usage = json.loads(line.removeprefix("RUSAGE "))
    print(
        f"peak RSS: job process {usage['self_mb']:.0f} MB, children {usage['children_mb']:.0f} MB"
    )
    assert max(usage.values()) < PEAK_RSS_BOUND_MB, usage
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["videos_ok"] == 1 and metadata["videos_no_audio"] == 0, metadata
    assert metadata["settings"]["max_audio_s"] == MAX_AUDIO_S


@pytest.mark.slow
def test_failed_batch_is_retried_video_by_video(tmp_path, samples, extractor):
    """A real file with NaN audio samples fails the batch; retried alone, only it fails."""
    bad = decode_video(str(media_factory.write_nan_audio_clip(tmp_path / "nan_audio.mkv")))
    assert bad.has_audio and np.isnan(bad.audio).any()
    good = decode_video(samples["bigbuckbunny"]["path"])
    handler = KerasFeatureModelHandler({"allow_random_weights": True}, max_batch_size=2)
    extractor.description_json = "{}"
    with pytest.raises(ValueError, match="nan_audio.mkv has NaN"):
        extractor.extract_batch([good, bad])
    first, second = handler.run_inference([good, bad], extractor)
    assert first.example is good and second.example is bad
    assert first.inference[contract.HAS_AUDIO] == 1
    assert isinstance(second.inference, InferenceFailure)
    assert "nan_audio.mkv has NaN or infinite samples" in second.inference.error
    with pytest.raises(ValueError, match="NaN"):  # alone, the error goes to RunInference
        handler.run_inference([bad], extractor)


@pytest.mark.slow
@pytest.mark.e2e
def test_job_dead_letters_only_the_bad_video_of_a_batch(tmp_path, samples):
    from beam_jobs import feature_job
    from beam_jobs.video_record import VideoRecord

    bad = media_factory.write_nan_audio_clip(tmp_path / "nan_audio.mkv")
    records = [
        VideoRecord("bunny", samples["bigbuckbunny"]["path"], "train"),
        VideoRecord("nan_audio", str(bad), "train"),
    ]
    out = tmp_path / "out"
    metadata = feature_job.run_feature_job(
        records,
        str(out),
        allow_random_weights=True,
        batch_size=2,
        max_failure_ratio=1.0,
        pipeline_args=["--direct_running_mode=in_memory"],
    )
    assert metadata["videos_ok"] == 1 and metadata["failed_per_stage"] == {"features": 1}
    (letter,) = [json.loads(x) for x in (out / "dead_letter.jsonl").read_text().splitlines()]
    assert letter["id"] == "nan_audio" and letter["stage"] == "features"
    assert "NaN or infinite samples" in letter["error"]
