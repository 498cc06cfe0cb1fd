"""The feature-extraction Beam job: videos -> Contract-1 TFRecords, dead letters, metadata.

    python -m beam_jobs.feature_job --dataset manifest --manifest videos.jsonl \
        --output_dir out/ --cnn_weights resnet152_notop.h5 --vggish_weights vggish_model.ckpt

Steps: list the videos (dataset adapter, in the driver) -> keep one record per id -> decode with
PyAV in a subprocess (crash and timeout isolated) -> RunInference (ResNet152 + VGGish, batched,
one model per worker process) -> tf.train.Example -> `<output_dir>/<split>/part-*.tfrecord.gz`.
Every failure at any step becomes a line of `<output_dir>/dead_letter.jsonl` (id, path, stage,
error); `<output_dir>/metadata.json` holds the counts, settings and weights. The job fails only
when failed / total passes `--max_failure_ratio`.

Any Beam runner works with the standard options (`--runner DataflowRunner --setup_file
./setup.py ...`); locally it defaults to the DirectRunner's engine (FnApiRunner) in
multi-processing mode.
"""

import argparse
import json
import logging
import shutil
import tempfile
import typing

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from beam_jobs import progress as progress_lib
from beam_jobs import video_list
from beam_jobs.feature_extractor import (
    DEFAULT_RANDOM_SEED,
    DEFAULT_VGGISH_BATCH_SIZE,
    MissingWeightsError,
)
from beam_jobs.job_args import DEFAULT_MAX_AUDIO_S, add_job_arguments
from beam_jobs.model_handler import InferenceFailure, KerasFeatureModelHandler
from beam_jobs.video_record import VideoRecord
from vre_common import contract

_LOG = logging.getLogger(__name__)
METRICS_NAMESPACE = "vre_features"
DEAD_LETTER_FILE = "dead_letter.jsonl"
METADATA_FILE = "metadata.json"
INPUT_MANIFEST_FILE = "input_videos.jsonl"
SHARD_PREFIX = "part"
SHARD_SUFFIX = ".tfrecord.gz"
LOCAL_RUNNERS = ("directrunner", "fnapirunner", "direct")


class EncodedVideo(typing.NamedTuple):
    """One written video: its split, serialized Example, audio flag and weights description."""

    split: str
    example: bytes
    has_audio: int
    model_id: str


class FailureRatioExceededError(RuntimeError):
    """More videos failed than --max_failure_ratio allows."""


def dead_letter(record, stage, error):
    """One dead-letter line (a dict): which video, where it failed and why."""
    return {"id": record.video_id, "path": record.path, "stage": stage, "error": str(error)}


def _error_text(error_info):
    """The readable error of a with_exception_handling entry (type, repr, traceback)."""
    if isinstance(error_info, tuple) and len(error_info) >= 2:
        return str(error_info[1])
    return repr(error_info)


class _OnePerId(beam.DoFn):
    """After GroupByKey(id): one record per video id goes on.

    Records of an id with the same path and split are one video listed on several lines (a CSV
    row per caption): their captions are merged, in sorted order since Beam keeps no line order.
    A record with another path or split is a dead letter ("duplicate video id").
    """

    DUPLICATE = "duplicate"

    def process(self, keyed):
        _, records = keyed
        records = sorted(records, key=lambda r: (r.path, r.split, r.captions))
        kept = records[0]
        same = [r for r in records if (r.path, r.split) == (kept.path, kept.split)]
        if len(same) > 1:
            captions = sum(sorted(r.captions for r in same), ())
            kept = VideoRecord(kept.video_id, kept.path, kept.split, captions)
        yield kept
        for extra in records:
            if (extra.path, extra.split) != (kept.path, kept.split):
                yield beam.pvalue.TaggedOutput(
                    self.DUPLICATE,
                    dead_letter(
                        extra, "input", f"duplicate video id; {kept.path} ({kept.split}) was kept"
                    ),
                )


class _DecodeFn(beam.DoFn):
    """VideoRecord -> (record, DecodedVideo) with `decode_fn` (PyAV's decode_video)."""

    def __init__(self, decode_fn, num_frames, max_audio_s):
        self.decode_fn = decode_fn
        self.num_frames = num_frames
        self.max_audio_s = max_audio_s

    def process(self, record):
        yield (
            record,
            self.decode_fn(record.path, num_frames=self.num_frames, max_audio_s=self.max_audio_s),
        )


class DecodeVideos(beam.PTransform):
    """VideoRecords -> ((record, DecodedVideo), dead letters of stage "decode").

    Decoding runs in a subprocess of each worker (Beam's `with_exception_handling(
    use_subprocess=True)`): a segfault or a hang in FFmpeg on one file costs that file only (the
    subprocess is killed and restarted), not the worker and every video of its bundle.

    Args:
      num_frames: K.
      timeout_s: seconds allowed per video.
      decode_fn: `(path, num_frames=K, max_audio_s=S) -> DecodedVideo`; `decode_video` unless
        a test needs a decoder that misbehaves.
      max_audio_s: seconds of audio kept per video (None: all), which bounds a worker's memory.
    """

    def __init__(
        self,
        num_frames=contract.NUM_FRAMES,
        timeout_s=300.0,
        decode_fn=None,
        max_audio_s=DEFAULT_MAX_AUDIO_S,
    ):
        super().__init__()
        from beam_jobs.video_decoding import decode_video

        self.num_frames = num_frames
        self.timeout_s = timeout_s
        self.decode_fn = decode_fn or decode_video
        self.max_audio_s = max_audio_s

    def expand(self, records):
        decoded, failed = records | "DecodeInSubprocess" >> beam.ParDo(
            _DecodeFn(self.decode_fn, self.num_frames, self.max_audio_s)
        ).with_exception_handling(use_subprocess=True, timeout=self.timeout_s)
        letters = failed | "DecodeLetters" >> beam.Map(
            lambda f: dead_letter(f[0], "decode", _error_text(f[1]))
        )
        return decoded, letters


class _EncodeFn(beam.DoFn):
    """Keyed PredictionResult -> EncodedVideo."""

    def __init__(self, progress_dir):
        self.progress_dir = progress_dir
        self.ok = Metrics.counter(METRICS_NAMESPACE, "videos_ok")
        self.no_audio = Metrics.counter(METRICS_NAMESPACE, "videos_no_audio")

    def process(self, keyed_result):
        from beam_jobs.example_codec import encode_example

        record, result = keyed_result
        decoded = result.example
        example = encode_example(record, result.inference, decoded.num_frames, decoded.duration_s)
        has_audio = int(result.inference[contract.HAS_AUDIO])
        self.ok.inc()
        if not has_audio:
            self.no_audio.inc()
        if self.progress_dir:
            progress_lib.record_outcome(self.progress_dir, progress_lib.OK)
        yield EncodedVideo(record.split, example, has_audio, result.model_id)


class _CountFailureFn(beam.DoFn):
    def __init__(self, progress_dir):
        self.progress_dir = progress_dir
        self.failed = Metrics.counter(METRICS_NAMESPACE, "videos_failed")

    def process(self, letter):
        self.failed.inc()
        if self.progress_dir:
            progress_lib.record_outcome(self.progress_dir, progress_lib.FAILED)
        yield letter


def _failed_batch_letters(failed):
    batch, error_info = failed
    for record, _ in batch:
        yield dead_letter(record, "features", _error_text(error_info))


def _failed_alone(keyed_result, num_partitions):
    return int(isinstance(keyed_result[1].inference, InferenceFailure))


class ExtractFeatures(beam.PTransform):
    """VideoRecords -> (EncodedVideos, dead letters).

    Args:
      model_handler: a KerasFeatureModelHandler.
      decode_timeout_s: seconds allowed to decode one video (its subprocess is then killed).
      num_frames: K.
      progress_dir: local folder for the progress display, or None.
      max_audio_s: seconds of audio kept per video (None: all).
    """

    def __init__(
        self,
        model_handler,
        decode_timeout_s=300,
        num_frames=contract.NUM_FRAMES,
        progress_dir=None,
        max_audio_s=DEFAULT_MAX_AUDIO_S,
    ):
        super().__init__()
        self.model_handler = model_handler
        self.decode_timeout_s = decode_timeout_s
        self.num_frames = num_frames
        self.progress_dir = progress_dir
        self.max_audio_s = max_audio_s

    def expand(self, records):
        # GroupByKey both keeps one record per id and breaks fusion, so that on a distributed
        # runner the slow decoding spreads over workers instead of following the input's split.
        unique = (
            records
            | "KeyById" >> beam.Map(lambda r: (r.video_id, r))
            | "GroupById" >> beam.GroupByKey()
            | "OnePerId" >> beam.ParDo(_OnePerId()).with_outputs(_OnePerId.DUPLICATE, main="unique")
        )
        decoded, decode_letters = unique.unique | "Decode" >> DecodeVideos(
            self.num_frames, self.decode_timeout_s, max_audio_s=self.max_audio_s
        )
        inferred, inference_failed = (
            decoded
            | "Features"
            >> RunInference(KeyedModelHandler(self.model_handler)).with_exception_handling()
        )
        # A failed batch was retried video by video inside the handler; the ones that failed
        # alone carry an InferenceFailure.
        inferred_ok, failed_alone = inferred | "SplitFailedAlone" >> beam.Partition(
            _failed_alone, 2
        )
        encoded, encode_failed = (
            inferred_ok
            | "Encode" >> beam.ParDo(_EncodeFn(self.progress_dir)).with_exception_handling()
        )
        letters = (
            unique[_OnePerId.DUPLICATE],
            decode_letters,
            inference_failed.failed_inferences
            | "FeatureLetters" >> beam.FlatMap(_failed_batch_letters),
            failed_alone
            | "FailedAloneLetters"
            >> beam.Map(lambda kv: dead_letter(kv[0], "features", kv[1].inference.error)),
            encode_failed
            | "EncodeLetters"
            >> beam.Map(lambda f: dead_letter(f[0][0], "encode", _error_text(f[1]))),
        )
        dead_letters = letters | "AllLetters" >> beam.Flatten()
        return encoded, dead_letters


def _split_index(encoded, num_partitions):
    return contract.SPLITS.index(encoded.split)


def _metadata(counts, weights_seen, settings):
    failed = counts.get("failed", 0)
    ok = sum(counts.get(f"ok:{s}", 0) for s in contract.SPLITS)
    total = ok + failed
    return {
        "contract": "Contract 1 (vre_common.contract)",
        "videos_total": total,
        "videos_ok": ok,
        "videos_failed": failed,
        "videos_no_audio": counts.get("no_audio", 0),
        "failure_ratio": failed / total if total else 0.0,
        "per_split": {s: counts.get(f"ok:{s}", 0) for s in contract.SPLITS},
        "failed_per_stage": {
            k.split(":", 1)[1]: v for k, v in sorted(counts.items()) if k.startswith("stage:")
        },
        "weights": settings["weights"],
        "models": [json.loads(w) for w in sorted(weights_seen)],
        "settings": settings,
    }


def _outcome_labels(encoded_or_letter):
    if isinstance(encoded_or_letter, dict):
        return ["failed", "stage:" + encoded_or_letter["stage"]]
    labels = [f"ok:{encoded_or_letter.split}"]
    if not encoded_or_letter.has_audio:
        labels.append("no_audio")
    return labels


def build_pipeline(
    pipeline,
    manifest,
    output_dir,
    model_handler,
    settings,
    num_shards=0,
    decode_timeout_s=300,
    progress_dir=None,
    max_audio_s=DEFAULT_MAX_AUDIO_S,
):
    """Adds the whole job to `pipeline`.

    Args:
      pipeline: a beam.Pipeline.
      manifest: the input manifest (path or URI); workers read and parse it, so the graph holds
        its name only.
      output_dir: where the splits, dead letters and metadata go (local or URI).
      model_handler: a KerasFeatureModelHandler.
      settings: dict recorded in metadata.json (must hold "weights").
      num_shards: TFRecord shards per split (0: the runner decides).
      decode_timeout_s: seconds per video for the decoder.
      progress_dir: local folder for the progress display, or None.
      max_audio_s: seconds of audio kept per video (None: all).
    """
    fmt, fieldnames = video_list.check_manifest(manifest)
    videos, malformed = pipeline | "ListVideos" >> video_list.ReadVideoRecords(
        manifest, fmt, fieldnames
    )
    encoded, extract_letters = videos | "ExtractFeatures" >> ExtractFeatures(
        model_handler, decode_timeout_s, settings["num_frames"], progress_dir, max_audio_s
    )
    dead_letters = (
        (malformed, extract_letters)
        | "InputAndExtractLetters" >> beam.Flatten()
        | "CountFailures" >> beam.ParDo(_CountFailureFn(progress_dir))
    )
    by_split = encoded | "BySplit" >> beam.Partition(_split_index, len(contract.SPLITS))
    for split, part in zip(contract.SPLITS, by_split):
        _ = (
            part
            | f"Serialized[{split}]" >> beam.Map(lambda e: e.example)
            | f"Write[{split}]"
            >> beam.io.WriteToTFRecord(
                FileSystems.join(output_dir, split, SHARD_PREFIX),
                file_name_suffix=SHARD_SUFFIX,
                num_shards=num_shards,
                compression_type=beam.io.filesystem.CompressionTypes.GZIP,
            )
        )
    _ = (
        dead_letters
        | "LetterJson" >> beam.Map(lambda d: json.dumps(d, sort_keys=True))
        | "WriteDeadLetters"
        >> beam.io.WriteToText(
            FileSystems.join(output_dir, DEAD_LETTER_FILE), num_shards=1, shard_name_template=""
        )
    )
    counts = (
        (encoded, dead_letters)
        | "Outcomes" >> beam.Flatten()
        | "Labels" >> beam.FlatMap(_outcome_labels)
        | "CountLabels" >> beam.combiners.Count.PerElement()
        | "CountsDict" >> beam.combiners.ToDict()
    )
    weights_seen = (
        encoded
        | "WeightsUsed" >> beam.Map(lambda e: e.model_id)
        | "DistinctWeights" >> beam.Distinct()
        | "WeightsList" >> beam.combiners.ToList()
    )
    _ = (
        counts
        | "Metadata"
        >> beam.Map(
            lambda c, w: json.dumps(_metadata(c, w, settings), indent=2, sort_keys=True),
            w=beam.pvalue.AsSingleton(weights_seen),
        )
        | "WriteMetadata"
        >> beam.io.WriteToText(
            FileSystems.join(output_dir, METADATA_FILE), num_shards=1, shard_name_template=""
        )
    )


def read_metadata(output_dir):
    """The metadata.json a finished job wrote."""
    with FileSystems.open(FileSystems.join(output_dir, METADATA_FILE)) as f:
        return json.loads(f.read().decode("utf-8"))


def check_failure_ratio(metadata, max_failure_ratio, output_dir):
    """Raises FailureRatioExceededError when the job's failure ratio passes the maximum."""
    if metadata["failure_ratio"] > max_failure_ratio:
        raise FailureRatioExceededError(
            f"{metadata['videos_failed']} of {metadata['videos_total']} videos failed "
            f"(ratio {metadata['failure_ratio']:.3f} > --max_failure_ratio {max_failure_ratio}); "
            f"see {FileSystems.join(output_dir, DEAD_LETTER_FILE)}"
        )


def _check_weight_files(cnn_weights, vggish_weights, pca_params):
    """Fails in the driver, naming the path, before any worker tries to load a missing file."""
    paths = [("--cnn_weights", cnn_weights, [""]), ("--vggish_pca_params", pca_params, [""])]
    # A TF checkpoint is a prefix: `vggish_model.ckpt` is stored as `.index` + `.data-*` files.
    paths.append(("--vggish_weights", vggish_weights, ["", ".index"]))
    for flag, path, suffixes in paths:
        if path is None or (flag == "--cnn_weights" and path == "imagenet"):
            continue
        if not any(FileSystems.exists(str(path) + suffix) for suffix in suffixes):
            raise ValueError(f"{flag} {path}: no such file")


def _is_local(options):
    runner = options.view_as(StandardOptions).runner
    return runner is None or str(runner).lower() in LOCAL_RUNNERS


def input_manifest_path(output_dir):
    """Where the job writes the manifest of videos it was given as records (`output_dir`/...)."""
    return FileSystems.join(output_dir, INPUT_MANIFEST_FILE)


def run_feature_job(
    videos,
    output_dir,
    *,
    cnn_weights=None,
    vggish_weights=None,
    pca_params=None,
    allow_random_weights=False,
    use_audio=True,
    random_seed=DEFAULT_RANDOM_SEED,
    max_failure_ratio=0.1,
    decode_timeout_s=300.0,
    batch_size=2,
    num_shards=0,
    max_audio_s=DEFAULT_MAX_AUDIO_S,
    vggish_batch_size=DEFAULT_VGGISH_BATCH_SIZE,
    pipeline_args=None,
    show_progress=False,
):
    """Runs the job on `videos` and returns the metadata it wrote.

    Args:
      videos: a manifest (`.jsonl` / `.csv` path or URI, read by the workers), or VideoRecords,
        which are first written as `<output_dir>/input_videos.jsonl` (streamed).
      output_dir: output folder (local or URI).
      cnn_weights: "imagenet" or a path to ResNet152 (no top) weights.
      vggish_weights: path to VGGish weights (`*.weights.h5` or `vggish_model.ckpt`).
      pca_params: path to `vggish_pca_params.npz`, optional.
      allow_random_weights: run without weights, using fixed-seed random ones (tests, demos).
      use_audio: False skips VGGish (audio zeros, has_audio 0).
      random_seed: seed of the random weights.
      max_failure_ratio: the job raises FailureRatioExceededError above this ratio.
      decode_timeout_s: seconds allowed to decode one video.
      batch_size: videos per CNN call.
      num_shards: TFRecord shards per split (0: the runner decides).
      max_audio_s: seconds of audio kept per video (None or 0: all of it).
      vggish_batch_size: 0.96 s audio examples per VGGish call.
      pipeline_args: Beam pipeline options as command-line strings (e.g. ["--runner=...",
        "--direct_running_mode=in_memory"]). Locally the default is multi_processing with
        2 workers.
      show_progress: print done / total / rate / failures while a local run goes on.

    Returns:
      The metadata dict (also in <output_dir>/metadata.json).

    Raises:
      MissingWeightsError: no weights and allow_random_weights is False.
      ValueError: no videos, an unreadable manifest or a bad setting.
      FailureRatioExceededError: too many videos failed (outputs are still written).
    """
    if not 0.0 <= max_failure_ratio <= 1.0:
        raise ValueError(f"max_failure_ratio must be in [0, 1], got {max_failure_ratio}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if vggish_batch_size < 1:
        raise ValueError(f"vggish_batch_size must be >= 1, got {vggish_batch_size}")
    max_audio_s = max_audio_s or None
    if max_audio_s is not None and max_audio_s < 0:
        raise ValueError(f"max_audio_s must be >= 0 (0: no cap), got {max_audio_s}")
    no_weights = cnn_weights is None or (use_audio and vggish_weights is None)
    if no_weights and not allow_random_weights:
        raise MissingWeightsError(
            "the feature job needs --cnn_weights imagenet|PATH and --vggish_weights PATH "
            "(or --no_audio); --allow_random_weights runs with fixed-seed random weights, "
            "for tests and demos only"
        )
    _check_weight_files(cnn_weights, vggish_weights if use_audio else None, pca_params)
    manifest = _manifest_of(videos, output_dir)
    if no_weights:
        _LOG.warning(
            "*** RANDOM WEIGHTS (seed=%d): the features are NOT usable for real captioning ***",
            random_seed,
        )
    extractor_kwargs = {
        "cnn_weights": cnn_weights,
        "vggish_weights": vggish_weights,
        "allow_random_weights": allow_random_weights,
        "pca_params": pca_params,
        "use_audio": use_audio,
        "random_seed": random_seed,
        "vggish_batch_size": vggish_batch_size,
    }
    settings = {
        "num_frames": contract.NUM_FRAMES,
        "frame_size": contract.FRAME_SIZE,
        "manifest": manifest,
        "weights": {
            "cnn": cnn_weights or f"random(seed={random_seed})",
            "vggish": (vggish_weights or f"random(seed={random_seed + 1})")
            if use_audio
            else "disabled",
            "vggish_pca_params": pca_params,
        },
        "max_failure_ratio": max_failure_ratio,
        "decode_timeout_s": decode_timeout_s,
        "batch_size": batch_size,
        "num_shards": num_shards,
        "max_audio_s": max_audio_s,
        "vggish_batch_size": vggish_batch_size,
    }
    options = PipelineOptions(list(pipeline_args or []))
    local = _is_local(options)
    runner = None
    if local:
        direct = options.view_as(DirectOptions)
        given = " ".join(pipeline_args or [])
        if "--direct_running_mode" not in given:  # the default: multi-processing
            direct.direct_running_mode = "multi_processing"
        if "--direct_num_workers" not in given and direct.direct_running_mode != "in_memory":
            direct.direct_num_workers = 2
        # The FnApiRunner directly: the DirectRunner would first try the Prism runner, whose
        # binary it downloads from GitHub (no internet on our machines), then fall back.
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        runner = FnApiRunner()
        settings["runner"] = (
            f"FnApiRunner({direct.direct_running_mode}, workers={direct.direct_num_workers})"
        )
    else:
        settings["runner"] = str(options.view_as(StandardOptions).runner)
    handler = KerasFeatureModelHandler(extractor_kwargs, max_batch_size=batch_size)
    progress_root = tempfile.mkdtemp(prefix="vre-progress-") if local and show_progress else None
    display = None
    if progress_root:  # local runs only: counting the lines streams the manifest once
        display = progress_lib.ProgressDisplay(progress_root, video_list.count_lines(manifest))
    pipeline = beam.Pipeline(runner=runner, options=options)
    build_pipeline(
        pipeline,
        manifest,
        output_dir,
        handler,
        settings,
        num_shards=num_shards,
        decode_timeout_s=decode_timeout_s,
        progress_dir=str(display.folder) if display else None,
        max_audio_s=max_audio_s,
    )
    try:
        if display:
            with display:
                pipeline.run().wait_until_finish()
        else:
            pipeline.run().wait_until_finish()
    finally:
        if progress_root:
            shutil.rmtree(progress_root, ignore_errors=True)
    metadata = read_metadata(output_dir)
    _LOG.info(
        "feature job: %d ok, %d failed of %d videos -> %s",
        metadata["videos_ok"],
        metadata["videos_failed"],
        metadata["videos_total"],
        output_dir,
    )
    check_failure_ratio(metadata, max_failure_ratio, output_dir)
    return metadata


def _manifest_of(videos, output_dir):
    """The manifest path of `videos`: itself when a path, else the records written to one."""
    if isinstance(videos, str):
        video_list.check_manifest(videos)
        return videos
    path = input_manifest_path(output_dir)
    written = video_list.write_manifest(_checked_records(videos), path)
    if not written:
        raise ValueError("the feature job got no videos")
    return path


def _checked_records(records):
    for record in records:
        if not isinstance(record, VideoRecord):
            raise ValueError("records must be VideoRecord instances (see beam_jobs.adapters)")
        yield record


def _first_records(manifest, limit):
    """The first `limit` VideoRecords of a manifest, read as a stream (for --limit)."""
    from beam_jobs.adapters import manifest as manifest_lib

    fmt, fieldnames = video_list.check_manifest(manifest)
    lines = video_list.first_lines(manifest, limit + (1 if fmt == "csv" else 0))
    if fmt == "csv":
        lines = lines[1:]
    for i, line in enumerate(lines):
        where = f"manifest {manifest}, line {line[: video_list.QUOTE_CHARS]!r}"
        if fmt == "jsonl":
            yield manifest_lib.parse_jsonl_line(manifest, where, line)
        else:
            yield manifest_lib.parse_csv_line(manifest, where, fieldnames, line)


def videos_from_args(args):
    """What the parsed flags describe: a manifest path, or VideoRecords (adapters run here).

    A `--dataset manifest` file is handed to the workers as it is (the driver only checks its
    first lines), whatever its size. MSR-VTT and MSVD annotation files are parsed here, in the
    driver (fixed-size datasets: 10k and 2k clips); the job writes their records as a manifest.
    """
    from beam_jobs.adapters.msrvtt import read_msrvtt
    from beam_jobs.adapters.msvd import read_msvd

    if args.dataset == "manifest":
        if not args.manifest:
            raise ValueError("--dataset manifest needs --manifest FILE")
        if args.limit:
            return list(_first_records(args.manifest, args.limit))
        return str(args.manifest)
    if args.dataset == "msrvtt":
        if not args.annotations or not args.video_dir:
            raise ValueError("--dataset msrvtt needs --annotations FILE... and --video_dir DIR")
        records = read_msrvtt(args.annotations, args.video_dir, args.video_ext or ".mp4")
    else:
        if not args.msvd_mapping or not args.annotations or not args.video_dir:
            raise ValueError(
                "--dataset msvd needs --msvd_mapping FILE, --annotations FILE... and --video_dir"
            )
        records = read_msvd(
            args.msvd_mapping, args.annotations, args.video_dir, args.video_ext or ".avi"
        )
    if args.limit:
        records = records[: args.limit]
    return records


def run_from_args(args, pipeline_args, show_progress=False):
    """Runs the job from parsed job flags plus Beam pipeline flags; returns the metadata."""
    return run_feature_job(
        videos_from_args(args),
        args.output_dir,
        cnn_weights=args.cnn_weights,
        vggish_weights=args.vggish_weights,
        pca_params=args.vggish_pca_params,
        allow_random_weights=args.allow_random_weights,
        use_audio=not args.no_audio,
        random_seed=args.random_seed,
        max_failure_ratio=args.max_failure_ratio,
        decode_timeout_s=args.decode_timeout_s,
        batch_size=args.batch_size,
        num_shards=args.num_shards,
        max_audio_s=args.max_audio_s,
        vggish_batch_size=args.vggish_batch_size,
        pipeline_args=pipeline_args,
        show_progress=show_progress,
    )


def run(argv=None, save_main_session=False, show_progress=False):
    """Command-line entry: job flags plus any Beam pipeline options; returns the metadata.

    show_progress: show videos done / failed / total, rate and ETA while a local run goes on.

    save_main_session is False by default: every transform lives in an importable module that
    `setup.py` ships to workers, so nothing from __main__ needs pickling.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_job_arguments(parser)
    args, pipeline_args = parser.parse_known_args(argv)
    if save_main_session:
        pipeline_args = list(pipeline_args) + ["--save_main_session"]
    return run_from_args(args, pipeline_args, show_progress=show_progress)


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    run()
