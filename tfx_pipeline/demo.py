"""`make demo` / `vre demo`: the whole system end to end on the four sample videos.

    sample videos ─▶ Beam feature job ─▶ <root>/data/span-1/
      ─▶ TFX pipeline (tiny model) ─▶ <root>/serving/vre/<version>/
      ─▶ local TF Serving-protocol server ─▶ gRPC captions + key frames + the Evaluator's table

The videos are featurised once, by the Beam job; the gRPC requests carry those features
(`vre caption VIDEO` is the client that featurises a new video itself).

The CNN and VGGish weights are random (fixed seed), as no weights can be downloaded here: the
demo proves the machinery, not caption quality, and says so in its output.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import time

from tfx_pipeline.config import PipelineConfig, load_config
from tfx_pipeline.features import ensure_features
from tfx_pipeline.local_runner import run_local
from tfx_pipeline.report import EvaluationReport, evaluation_report, pushed_model_dir
from tfx_pipeline.run_results import PipelineRun
from vre_common import contract, storage

log = logging.getLogger(__name__)

DEMO_CONFIG = pathlib.Path(__file__).resolve().parent / "configs" / "demo.yaml"
DEFAULT_ROOT = "/tmp/vre-demo"
RANDOM_WEIGHTS_NOTICE = (
    "NOTE: the ResNet152 and VGGish weights are RANDOM (fixed seed; no weights can be downloaded "
    "here) and the model is tiny and trained on 2 videos: the captions show that the system "
    "works end to end, not what it can learn."
)


WHAT_TO_EXPECT = (
    "What to expect: the two training videos should get one of their own reference captions "
    "(the model has learnt them). The validation and test videos were never trained on; with "
    "random CNN weights and two training videos nothing can describe an unseen video, so their "
    "captions only show that the served model answers. Real captions need real ResNet152 / "
    "VGGish weights and a real dataset (README: the parts; docs/feature_extraction.md)."
)


@dataclasses.dataclass
class CaptionedVideo:
    """One sample video captioned by the served model.

    Attributes:
        video_id: the sample video's id.
        split: its split in the sample data.
        caption: the served model's caption.
        key_frame: the refocused key frame i_key (0..K-1): the refocus module's pick (argmax
            alpha, Eq. 11), the frame step 2 re-encodes the video from. It is not the decoder's
            temporal attention (the served `temporal_attention`), which is what localizes the
            captioned event on the localization benchmark (docs/model.md).
        key_frame_time_s: when that frame is shown in the video.
        key_frame_png: the key frame saved as an image.
        latency_ms: the gRPC Predict round trip.
        model_version: the served version that answered.
        is_reference: the caption is one of the video's reference captions, word for word.
        figures: the key-frame strip (the refocus module's α and pick) and the heat map of the
            decoder's temporal attention per word, drawn from the served outputs.
    """

    video_id: str
    split: str
    caption: str
    key_frame: int
    key_frame_time_s: float
    key_frame_png: str
    latency_ms: float
    model_version: int
    is_reference: bool
    figures: list[str]


@dataclasses.dataclass
class DemoResult:
    """What the demo did: the pipeline run, its verdict, the pushed model and the captions."""

    run: PipelineRun
    report: EvaluationReport | None
    pushed_dir: str | None
    captions: list[CaptionedVideo]
    timings_s: dict[str, float]


def demo_config(root: str, config_path=DEMO_CONFIG) -> PipelineConfig:
    """The demo's pipeline config with its data extraction set to the sample videos.

    Args:
        root: folder for everything the demo writes.
        config_path: the demo config file.
    """
    from vre_common.sample_data import write_sample_manifest

    config = load_config(config_path, overrides={"root": str(root)})
    manifest = write_sample_manifest(storage.join(config.path("."), "sample_manifest.jsonl"))
    config.data.extract_argv = [
        "--dataset",
        "manifest",
        "--manifest",
        str(manifest),
        "--allow_random_weights",
        "--direct_running_mode",
        "in_memory",
        "--direct_num_workers",
        "1",
    ]
    return config


def read_span_features(span_folder: str) -> dict[str, dict]:
    """video id -> Contract-1 features ([K, C], [N*M, C], [128]) from a span's TFRecords.

    Args:
        span_folder: `<data_root>/span-<N>` written by the Beam feature job.
    """
    import tensorflow as tf

    from beam_jobs.feature_job import SHARD_SUFFIX

    k, c, r = contract.NUM_FRAMES, contract.FEATURE_CHANNELS, contract.NUM_REGIONS
    spec = contract.feature_spec()
    files = storage.glob(storage.join(span_folder, "*", f"*{SHARD_SUFFIX}"))
    features = {}
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.io.parse_single_example(record, spec)
        features[example[contract.VIDEO_ID].numpy().decode()] = {
            contract.TEMPORAL: example[contract.TEMPORAL].numpy().reshape(k, c),
            contract.SPATIAL: example[contract.SPATIAL].numpy().reshape(r, c),
            contract.AUDIO: example[contract.AUDIO].numpy(),
        }
    return features


def caption_videos(
    server_target: str, model_name: str, videos: list[dict], features: dict, frames_dir: str
):
    """Captions `videos` by gRPC Predict and saves each one's key frame as a PNG.

    Args:
        server_target: host:port of a TF Serving-protocol gRPC server.
        model_name: the served model's name.
        videos: sample-data records (id, path, split).
        features: video id -> features, as `read_span_features` returns (the Beam job's output
            for these videos: no second ResNet152 pass is needed).
        frames_dir: where the key frames are saved as PNG.
    """
    import io

    from PIL import Image

    from beam_jobs.frame_sampling import sample_times
    from beam_jobs.video_decoding import decode_video
    from serving.client import CaptionClient

    missing = [v["id"] for v in videos if v["id"] not in features]
    if missing:
        raise RuntimeError(f"the feature job wrote no features for {missing}")
    with CaptionClient(server_target, model_name=model_name) as client:
        answers = [client.caption_features([features[v["id"]]], attention=True)[0] for v in videos]
    results = []
    for video, answer in zip(videos, answers):
        # Decoded again only to show the key frame: the same K frames the features came from.
        clip = decode_video(video["path"])
        key = int(answer[contract.OUT_KEY_FRAME])
        if key < 0:  # a model row without refocus (Table 1): show the default key frame
            key = contract.NUM_FRAMES // 2
        times = sample_times(0.0, clip.duration_s, len(clip.frames))
        png = storage.join(frames_dir, f"{video['id']}_key_frame.png")
        encoded = io.BytesIO()
        Image.fromarray(clip.frames[key]).save(encoded, format="PNG")
        storage.write_bytes(png, encoded.getvalue())  # frames_dir may be remote
        figures = _draw_figures(video, answer, key, clip.frames, frames_dir)
        results.append(
            CaptionedVideo(
                video["id"],
                video["split"],
                answer[contract.OUT_CAPTION],
                key,
                float(times[key]),
                png,
                answer["predict_ms"],
                answer["model_version"],
                answer[contract.OUT_CAPTION].strip() in {c.strip() for c in video["captions"]},
                figures,
            )
        )
    return results


def _draw_figures(video, answer, key, frames, folder):
    """The key-frame strip and the temporal-attention heat map of one served answer (`key`: its
    key frame, the default one for a model without refocus)."""
    from vre_keras import plots

    caption = answer[contract.OUT_CAPTION]
    strip = plots.key_frame_figure(
        frames,
        contract.NUM_FRAMES // 2,
        key,
        None,
        caption,
        storage.join(folder, f"{video['id']}_key_frames.png"),
        key_frame_probs=answer[contract.OUT_KEY_FRAME_PROBS],
        references=video["captions"],
    )
    words = caption.split() + ["<EOS>"]
    attention = answer[contract.OUT_TEMPORAL_ATTENTION]
    heat_map = plots.temporal_attention_figure(
        frames,
        attention[: len(words)],
        words[: len(attention)],
        storage.join(folder, f"{video['id']}_temporal_attention.png"),
        key_frame=key,
    )
    return [strip, heat_map]


def run_demo(root: str = DEFAULT_ROOT, config_path=DEMO_CONFIG) -> DemoResult:
    """Runs the demo end to end and returns what it did (see the module docstring).

    Args:
        root: folder for data, pipeline outputs, ML Metadata, the serving base and key frames;
            a second run reuses the extracted features and the cached pipeline steps.
        config_path: the pipeline config to run (the demo's by default).
    """
    from serving.server import ModelServer
    from vre_common.sample_data import sample_videos

    timings = {}
    config = demo_config(root, config_path)

    start = time.monotonic()
    span_folder = ensure_features(config)
    timings["features"] = time.monotonic() - start

    start = time.monotonic()
    run = run_local(config)
    timings["pipeline"] = time.monotonic() - start
    report = evaluation_report(run)
    pushed = pushed_model_dir(run)

    serving_dir = config.push_destination
    if not storage.isdir(serving_dir) or not any(d.isdigit() for d in storage.listdir(serving_dir)):
        raise RuntimeError(
            f"no blessed model has ever been pushed to {serving_dir}; the Evaluator said:\n"
            + (report.table() if report else "(no evaluation)")
        )
    start = time.monotonic()
    server = ModelServer(config.serving.model_name, serving_dir, grpc_port=0, rest_port=None)
    server.start()
    try:
        captions = caption_videos(
            server.grpc_target,
            config.serving.model_name,
            sample_videos(),
            read_span_features(span_folder),
            storage.join(config.path("."), "key_frames"),
        )
    finally:
        server.stop()
    timings["serving"] = time.monotonic() - start
    return DemoResult(run, report, pushed, captions, timings)


def format_demo(result: DemoResult) -> str:
    """The demo's printout: component states, the Evaluator's table, captions and key frames."""
    lines = [RANDOM_WEIGHTS_NOTICE, "", f"pipeline run {result.run.run_id}:"]
    lines += [f"  {node:32} {state}" for node, state in result.run.states().items()]
    lines.append("")
    lines.append(result.report.table() if result.report else "Evaluator: no evaluation")
    lines.append("")
    lines.append(
        f"pushed this run: {result.pushed_dir}"
        if result.pushed_dir
        else "this run pushed nothing (not blessed); serving the latest pushed version"
    )
    lines += ["", "captions from the local TF Serving-protocol server (gRPC Predict):"]
    for c in result.captions:
        if c.split == "train":
            known = "a reference caption" if c.is_reference else "NOT a reference caption"
        else:
            known = "unseen in training"
        lines.append(f"  {c.video_id:20} [{c.split:10}] {c.caption!r}  ({known})")
        lines.append(
            f"  {'':20} key frame {c.key_frame} at {c.key_frame_time_s:.2f} s -> {c.key_frame_png}"
            f"  (version {c.model_version}, {c.latency_ms:.0f} ms)"
        )
        lines.append(f"  {'':20} figures: {', '.join(c.figures)}")
    if result.captions:
        lines.append(
            "  (key frame = the refocus module's pick, where step 2 re-encodes the video from; "
            "`vre explain` also draws the decoder's temporal attention per word, and "
            "docs/model.md says how well each finds the captioned moment)"
        )
        lines += ["", WHAT_TO_EXPECT]
    lines.append("")
    lines.append("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in result.timings_s.items()))
    return "\n".join(lines)
