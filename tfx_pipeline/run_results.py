"""What a pipeline run did, read back from ML Metadata.

After `LocalDagRunner().run(...)` returns, the only record of which components ran, which were
served from cache, whether the Evaluator blessed the model and where the Pusher put it is the
ML Metadata store. This module reads one run (the latest by default) from it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

PIPELINE_RUN_CONTEXT = "pipeline_run"  # TFX's context type names (tfx.dsl.compiler.constants)
NODE_CONTEXT = "node"


@dataclasses.dataclass
class ArtifactInfo:
    """One output artifact: its type, URI and (custom) properties."""

    type_name: str
    uri: str
    properties: dict[str, Any]


@dataclasses.dataclass
class NodeRun:
    """One component's execution in a run.

    Attributes:
        node_id: the component id (e.g. "Trainer").
        state: MLMD's execution state name: COMPLETE, CACHED, FAILED, RUNNING, ...
        outputs: output key -> artifacts.
    """

    node_id: str
    state: str
    outputs: dict[str, list[ArtifactInfo]]

    def output(self, key: str) -> ArtifactInfo:
        """The single artifact under `key` (ValueError naming the node when there is none)."""
        artifacts = self.outputs.get(key, [])
        if len(artifacts) != 1:
            raise ValueError(
                f"{self.node_id}: expected one '{key}' output artifact, found {len(artifacts)}"
            )
        return artifacts[0]


@dataclasses.dataclass
class PipelineRun:
    """One pipeline run: its id and its components' executions by node id."""

    run_id: str
    nodes: dict[str, NodeRun]

    def node(self, node_id: str) -> NodeRun:
        if node_id not in self.nodes:
            raise KeyError(
                f"run {self.run_id} has no execution of {node_id!r}; it ran {sorted(self.nodes)}"
            )
        return self.nodes[node_id]

    def states(self) -> dict[str, str]:
        return {node_id: node.state for node_id, node in self.nodes.items()}


def _value(value) -> Any:
    kind = value.WhichOneof("value")
    if kind == "proto_value" or kind == "struct_value":
        return str(getattr(value, kind))
    return getattr(value, kind) if kind else None


def _artifact_info(artifact, type_names) -> ArtifactInfo:
    properties = {k: _value(v) for k, v in artifact.properties.items()}
    properties.update({k: _value(v) for k, v in artifact.custom_properties.items()})
    return ArtifactInfo(type_names.get(artifact.type_id, "?"), artifact.uri, properties)


def open_store(metadata_path: str):
    """An ML Metadata store over the SQLite file of a local run (read-only use)."""
    import os

    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    if not os.path.isfile(metadata_path):
        raise FileNotFoundError(f"no ML Metadata store at {metadata_path} (has the pipeline run?)")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    return metadata_store.MetadataStore(config)


def list_run_ids(store, pipeline_name: str) -> list[str]:
    """The run ids of a pipeline, oldest first."""
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is None:
        return []
    pipeline_execs = {e.id for e in store.get_executions_by_context(pipeline_ctx.id)}
    runs = [
        c
        for c in store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
        if pipeline_execs & {e.id for e in store.get_executions_by_context(c.id)}
    ]
    runs.sort(key=lambda c: (c.create_time_since_epoch, c.id))
    return [c.name for c in runs]


def read_run(metadata_path: str, pipeline_name: str, run_id: str | None = None) -> PipelineRun:
    """The executions of one run of `pipeline_name` (the latest when run_id is None).

    Args:
        metadata_path: the SQLite ML Metadata file.
        pipeline_name: the pipeline's name.
        run_id: a pipeline run id; None for the latest run.
    """
    from ml_metadata.proto import metadata_store_pb2

    store = open_store(metadata_path)
    run_ids = list_run_ids(store, pipeline_name)
    if not run_ids:
        raise ValueError(f"pipeline {pipeline_name!r} has no runs in {metadata_path}")
    run_id = run_id or run_ids[-1]
    run_ctx = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if run_ctx is None:
        raise ValueError(f"pipeline {pipeline_name!r} has no run {run_id!r} in {metadata_path}")
    run_exec_ids = {e.id for e in store.get_executions_by_context(run_ctx.id)}
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    state_names = metadata_store_pb2.Execution.State.Name

    nodes = {}
    prefix = pipeline_name + "."
    for node_ctx in store.get_contexts_by_type(NODE_CONTEXT):
        if not node_ctx.name.startswith(prefix):
            continue
        node_id = node_ctx.name[len(prefix):]
        executions = [
            e for e in store.get_executions_by_context(node_ctx.id) if e.id in run_exec_ids
        ]
        if not executions:
            continue
        execution = max(executions, key=lambda e: e.id)
        events = store.get_events_by_execution_ids([execution.id])
        output_ids = {}
        for event in events:
            if event.type == metadata_store_pb2.Event.OUTPUT and event.path.steps:
                output_ids.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
        outputs = {}
        for key, ids in output_ids.items():
            artifacts = store.get_artifacts_by_id(ids)
            outputs[key] = [_artifact_info(a, type_names) for a in artifacts]
        nodes[node_id] = NodeRun(node_id, state_names(execution.last_known_state), outputs)
    return PipelineRun(run_id, nodes)
