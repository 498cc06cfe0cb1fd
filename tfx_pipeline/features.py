"""The data_root's spans: finding the newest one and filling a new one with the Beam job.

Layout (the Beam feature job's output, one folder per span):
    <data_root>/span-<N>/<split>/part-XXXXX-of-NNNNN.tfrecord.gz
    <data_root>/span-<N>/metadata.json, dead_letter.jsonl
ImportExampleGen reads the highest N, so adding span-<N+1> is how new videos reach training.
The data_root may be remote (gs://...): everything here goes through vre_common.storage.
"""

from __future__ import annotations

import logging
import re

from tfx_pipeline.config import PipelineConfig, expand
from vre_common import contract, storage

log = logging.getLogger(__name__)

_SPAN_DIR = re.compile(r"^span-(\d+)$")


def span_dir(data_root: str, span: int) -> str:
    return storage.join(data_root, f"span-{span}")


def span_has_records(path: str) -> bool:
    """True when every split folder of the span holds at least one record file."""
    return all(storage.glob(storage.join(path, split, "*")) for split in contract.SPLITS)


def latest_span(data_root: str) -> int | None:
    """The highest span number with records in every split, or None.

    Args:
        data_root: the folder of span-<N> folders (local or remote).
    """
    if not storage.isdir(data_root):
        return None
    spans = []
    for name in storage.listdir(data_root):
        match = _SPAN_DIR.match(name)
        if match and span_has_records(storage.join(data_root, name)):
            spans.append(int(match.group(1)))
    return max(spans) if spans else None


def ensure_features(config: PipelineConfig) -> str | None:
    """Runs the Beam feature job into `span-<data.extract_span>` when the config asks for it.

    Skipped when `data.extract_argv` is empty, or when the span already has records and
    `data.skip_existing` is set.

    Args:
        config: the pipeline config.

    Returns:
        The span folder written (or reused), or None when no extraction is configured.
    """
    if not config.data.extract_argv:
        return None
    out = span_dir(config.resolved_data_root, config.data.extract_span)
    if config.data.skip_existing and span_has_records(out):
        log.info("features already in %s; not extracting again", out)
        return out
    from beam_jobs import feature_job

    argv = [expand(a) for a in config.data.extract_argv] + ["--output_dir", out]
    log.info("extracting features: beam_jobs.feature_job.run(%s)", argv)
    feature_job.run(argv, show_progress=True)
    if not span_has_records(out):
        raise RuntimeError(
            f"the feature job wrote no records for some split under {out} "
            f"(every split of {contract.SPLITS} needs at least one video; see "
            f"{storage.join(out, feature_job.DEAD_LETTER_FILE)})"
        )
    return out
