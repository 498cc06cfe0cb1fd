"""The pipeline's data-validation components: the Contract-1 schema and the gate before the Trainer.

    StatisticsGen ─┐
    ContractSchemaGen ──▶ ExampleValidator ──▶ ValidationGate ──▶ (Trainer runs after it)

- ContractSchemaGen writes the schema of tfx_pipeline/contract_schema.py at the model's feature
  sizes; generated in the task itself, so the same spec runs in any image (no file path baked
  in at compile time) and test configs with tiny sizes get a schema of their sizes.
- ValidationGate fails the run, with a report naming span, split, feature and problem, when
  ExampleValidator found anomalies or the statistics count NaN/inf values. TFX 1.21's
  ExampleValidator only writes its anomalies (and a per-split `blessed` property); nothing in
  TFX stops the Trainer on them, hence this small component, ordered before the Trainer.
"""

import logging

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from tfx_pipeline import data_checks

log = logging.getLogger(__name__)

SCHEMA_FILE = "schema.pbtxt"  # the name SchemaGen gives its file
ANOMALIES_FILE = "SchemaDiff.pb"  # ExampleValidator's per-split output file


@tfx.dsl.components.component
def ContractSchemaGen(
    schema: tfx.dsl.components.OutputArtifact[standard_artifacts.Schema],
    num_frames: tfx.dsl.components.Parameter[int],
    channels: tfx.dsl.components.Parameter[int],
    num_regions: tfx.dsl.components.Parameter[int],
) -> None:
    """Writes the Contract-1 schema at the given feature sizes into the Schema artifact."""
    import tensorflow as tf

    from tfx_pipeline.contract_schema import schema_text

    text = schema_text(num_frames=num_frames, channels=channels, num_regions=num_regions)
    with tf.io.gfile.GFile(f"{schema.uri.rstrip('/')}/{SCHEMA_FILE}", "w") as f:
        f.write(text)


def span_of(examples) -> int | None:
    """The span ExampleGen recorded on its Examples artifact.

    TFX 1.21's ExampleGen writes `span` as a custom property of Examples, while StatisticsGen
    and ExampleValidator copy the (unset) standard property, so their artifacts say span 0:
    the span is read here from the Examples artifact itself.
    """
    if examples.has_custom_property("span"):
        return int(examples.get_int_custom_property("span"))
    if examples.has_property("span"):
        return int(examples.span)
    return None


def find_problems(
    statistics_artifact, anomalies_artifact, span, schema=None
) -> list[data_checks.Problem]:
    """Every problem ExampleValidator and the NaN/inf check see, over every split."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.types import artifact_utils
    from tfx.utils import io_utils

    problems = []
    for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
        statistics = stats_artifact_utils.load_statistics(statistics_artifact, split).proto()
        statistics = statistics.datasets[0] if statistics.datasets else None
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(
            io_utils.read_bytes_file(
                artifact_utils.get_split_uri([anomalies_artifact], split) + "/" + ANOMALIES_FILE
            )
        )
        problems += data_checks.problems_from_anomalies(anomalies, split, span, statistics, schema)
        if statistics is not None:
            problems += data_checks.problems_from_statistics(statistics, split, span)
    return problems


@tfx.dsl.components.component
def ValidationGate(
    examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
    statistics: tfx.dsl.components.InputArtifact[standard_artifacts.ExampleStatistics],
    anomalies: tfx.dsl.components.InputArtifact[standard_artifacts.ExampleAnomalies],
    schema: tfx.dsl.components.InputArtifact[standard_artifacts.Schema],
) -> None:
    """Fails (DataValidationError with the report) when the examples break Contract 1."""
    from tfx.utils import io_utils

    span = span_of(examples)
    contract = io_utils.SchemaReader().read(f"{schema.uri.rstrip('/')}/{SCHEMA_FILE}")
    problems = find_problems(statistics, anomalies, span, contract)
    if problems:
        report = data_checks.format_report(
            problems, pipeline_hint=f"ExampleValidator's anomalies: {anomalies.uri}"
        )
        log.error("%s", report)
        raise data_checks.DataValidationError(report)
    log.info("data validation passed: span %s, splits %s", span, anomalies.split_names)
