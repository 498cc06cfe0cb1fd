"""Runs the pipeline on this machine: LocalDagRunner with a SQLite ML Metadata store.

Like the TFX penguin example's runner file, this only resolves paths and calls
`create_pipeline`; what the run did is then read back from ML Metadata.
"""

from __future__ import annotations

import logging
import os

from tfx_pipeline.config import ConfigError, PipelineConfig
from tfx_pipeline.run_results import PipelineRun, read_run

log = logging.getLogger(__name__)


def sqlite_metadata_config(metadata_path: str):
    """The ML Metadata connection config of a SQLite file (its folder is created).

    SQLite needs a local file: with a remote root (gs://), set `metadata_path` to a local path
    (the store is the orchestrator's own database, not a pipeline output).
    """
    from tfx import v1 as tfx

    from vre_common import storage

    if storage.is_remote(metadata_path):
        raise ConfigError(
            f"metadata_path {metadata_path!r} is remote: the local runner's ML Metadata store is a "
            "SQLite file and needs a local path (set metadata_path to an absolute local path)"
        )

    os.makedirs(os.path.dirname(os.path.abspath(metadata_path)), exist_ok=True)
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)


def run_local(config: PipelineConfig) -> PipelineRun:
    """Runs the pipeline once with LocalDagRunner and returns what each component did.

    Args:
        config: the pipeline config; its data_root must already hold a span of records
            (see `tfx_pipeline.features.ensure_features`).
    """
    from tfx_pipeline.features import latest_span

    data_root = config.resolved_data_root
    if latest_span(data_root) is None:
        raise FileNotFoundError(
            f"data_root {data_root} holds no span-<N>/<split>/ folders of TFRecords; run the "
            "feature job first (set data.extract_argv in the config, or run `vre extract`)"
        )
    from tfx import v1 as tfx

    from tfx_pipeline.pipeline import create_pipeline_from_config

    pipeline = create_pipeline_from_config(
        config, metadata_connection_config=sqlite_metadata_config(config.resolved_metadata_path)
    )
    log.info("running pipeline %s (root %s)", config.pipeline_name, config.resolved_pipeline_root)
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return read_run(config.resolved_metadata_path, config.pipeline_name)
