"""Builds the next span from the previous one plus a batch of newly extracted videos.

Kubeflow runs train on one span (ExampleGen ingests one span per run; the multi-span Resolver
does not compile for KFP v2), so each span must hold the whole dataset. Re-running the CNN over
every old video for that would cost hours; this copies records instead:

    span-<N+1>/<split>/  =  span-<N>/<split>/* (names kept)  +  NEW/<split>/* (as span<N+1>-<name>)

`NEW` is a `vre extract --output_dir NEW` output (`<split>/*.tfrecord.gz`). Shards are copied
byte for byte (tf.io.gfile.copy: a server-side copy on gs://), never decoded or re-encoded.

Each built span also gets `video_ids.json` (split -> sorted ids), so the next build checks the
new batch for videos already in the dataset by reading only the new batch's ids; when the
previous span has no such index (a span written by the feature job), it is read once, ids only.
A video already present is refused (naming it): a re-extracted video would otherwise be trained
on twice. `span_build.json` records where every file came from.

    vre spans build --data_root DATA --new NEW [--span N]
"""

from __future__ import annotations

import json
import logging
import re

from vre_common import contract

log = logging.getLogger(__name__)

INDEX_FILE = "video_ids.json"
BUILD_FILE = "span_build.json"
_SPAN_DIR = re.compile(r"^span-(\d+)/?$")


class SpanBuildError(ValueError):
    """The spans or the new batch cannot be combined; the message names the input."""


def _join(*parts: str) -> str:
    return "/".join([parts[0].rstrip("/")] + [p.strip("/") for p in parts[1:]])


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def list_spans(data_root: str) -> list[int]:
    """Span numbers under `data_root` (folders `span-<N>`), ascending."""
    gfile = _gfile()
    if not gfile.isdir(data_root):
        return []
    spans = [_SPAN_DIR.match(name) for name in gfile.listdir(data_root)]
    return sorted(int(m.group(1)) for m in spans if m)


def split_files(folder: str, split: str) -> list[str]:
    """The record files of one split folder (no sub-folders), sorted; [] when it is absent."""
    gfile = _gfile()
    split_dir = _join(folder, split)
    if not gfile.isdir(split_dir):
        return []
    return sorted(
        _join(split_dir, name)
        for name in gfile.listdir(split_dir)
        if not name.endswith("/") and not gfile.isdir(_join(split_dir, name))
    )


def read_video_ids(files: list[str]) -> list[str]:
    """The `video_id` of every record in `files` (only that feature is parsed)."""
    import tensorflow as tf

    from tfx_pipeline.shard_reading import read_shard

    spec = {contract.VIDEO_ID: tf.io.FixedLenFeature([], tf.string)}
    ids = []
    for path in files:
        for record in read_shard(path):
            ids.append(tf.io.parse_single_example(record, spec)[contract.VIDEO_ID].numpy().decode())
    return ids


def _index_of(span_folder: str) -> dict[str, list[str]]:
    gfile = _gfile()
    path = _join(span_folder, INDEX_FILE)
    if gfile.exists(path):
        with gfile.GFile(path) as f:
            return json.load(f)
    log.info("%s has no %s: reading its video ids once", span_folder, INDEX_FILE)
    return {s: sorted(read_video_ids(split_files(span_folder, s))) for s in contract.SPLITS}


def build_span(data_root: str, new_batch: str, span: int | None = None) -> dict:
    """Writes span `span` (default: the highest + 1) = the highest span below it + `new_batch`.

    Args:
        data_root: the folder of `span-<N>` folders (a local path or a gs:// URI).
        new_batch: a feature-job output folder with `<split>/*.tfrecord.gz` of the new videos.
        span: the span number to write; it must not exist yet. The previous span is the
            highest one below it (none: the new batch alone becomes the span).

    Returns:
        The build record (also written to `<new span>/span_build.json`).
    """
    gfile = _gfile()
    spans = list_spans(data_root)
    target = span if span is not None else (max(spans) + 1 if spans else 1)
    if not isinstance(target, int) or target < 0:
        raise SpanBuildError(f"span must be an integer >= 0, got {span!r}")
    out = _join(data_root, f"span-{target}")
    if gfile.exists(out):
        raise SpanBuildError(f"{out} already exists: spans are never overwritten")
    new_files = {s: split_files(new_batch, s) for s in contract.SPLITS}
    if not any(new_files.values()):
        raise SpanBuildError(
            f"{new_batch} holds no record files under {'/, '.join(contract.SPLITS)}/ "
            "(expected a `vre extract --output_dir` folder)"
        )
    previous = max([s for s in spans if s < target], default=None)
    prev_folder = _join(data_root, f"span-{previous}") if previous is not None else None
    prev_files = {s: split_files(prev_folder, s) if prev_folder else [] for s in contract.SPLITS}
    index = _index_of(prev_folder) if prev_folder else {s: [] for s in contract.SPLITS}

    # Refuse videos already in the dataset before anything is written.
    new_ids = {s: read_video_ids(new_files[s]) for s in contract.SPLITS}
    known = {v: s for s, ids in index.items() for v in ids}
    seen: dict[str, str] = {}
    for split, ids in new_ids.items():
        for video in ids:
            where = known.get(video) or seen.get(video)
            if where:
                raise SpanBuildError(
                    f"video {video!r} of {new_batch} ({split}) is already in "
                    f"{prev_folder if video in known else new_batch} ({where}); remove it from "
                    "the new batch (or build from a span without it)"
                )
            seen[video] = split

    copied = []
    try:
        for split in contract.SPLITS:
            gfile.makedirs(_join(out, split))
            sources = [(p, p.rsplit("/", 1)[1]) for p in prev_files[split]]
            sources += [(p, f"span{target}-{p.rsplit('/', 1)[1]}") for p in new_files[split]]
            for source, name in sources:
                gfile.copy(source, _join(out, split, name), overwrite=False)
                copied.append({"split": split, "from": source, "to": _join(out, split, name)})
        new_index = {s: sorted(index.get(s, []) + new_ids[s]) for s in contract.SPLITS}
        with gfile.GFile(_join(out, INDEX_FILE), "w") as f:
            json.dump(new_index, f)
        record = {
            "span": target,
            "previous_span": previous,
            "new_batch": new_batch,
            "videos": {s: len(new_index[s]) for s in contract.SPLITS},
            "new_videos": {s: len(new_ids[s]) for s in contract.SPLITS},
            "files": copied,
        }
        with gfile.GFile(_join(out, BUILD_FILE), "w") as f:
            json.dump(record, f, indent=1)
    except BaseException:
        # A half-built span would be picked up by the next run as the newest: remove it.
        if gfile.exists(out):
            gfile.rmtree(out)
        raise
    log.info("built %s: %s videos (%s new)", out, record["videos"], record["new_videos"])
    return record
