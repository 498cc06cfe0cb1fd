"""ImportExampleGen's reading of a span's TFRecord shards, naming a corrupt shard in its error.

TFX's ImportExampleGen reads with Beam's `ReadFromTFRecord`, whose error for a truncated or
garbage gzip file ("Compressed file ended before the end-of-stream marker was reached", "Not a
gzipped file", a CRC mismatch) does not say which of the span's files it was. This executor
reads each shard on its own (tfx_pipeline/shard_reading.py) and fails with `CorruptShardError`
naming the file, the split
pattern and how many records came before the damage.

Why fail rather than skip: a shard holds many videos; training on the rest would silently drop
them from this span and from every later span built on it (beam_jobs/span_builder.py copies
records forward), and the Evaluator would score on a different set than the operator believes.
The fix is to re-extract or rebuild that shard, which the message says.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.dsl.components.base import executor_spec as tfx_executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from tfx_pipeline.shard_reading import list_shards, read_shard


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _ReadShards(pipeline, exec_properties: dict[str, Any], split_pattern: str):  # noqa: N802
    """Every record of every file of the split; one file per element, so errors name it."""
    files = list_shards(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    return (
        pipeline
        | "ListShards" >> beam.Create(files)
        # Gzip shards are not splittable: spread whole files over the workers.
        | "SpreadShards" >> beam.Reshuffle()
        | "ReadShard" >> beam.FlatMap(read_shard)
    )


class Executor(import_executor.Executor):
    """TFX's ImportExampleGen executor with `_ReadShards` in place of `ReadFromTFRecord`."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX's name)
        stock = super().GetInputSourceToExamplePTransform()

        @beam.ptransform_fn
        def ImportRecord(pipeline, exec_properties, split_pattern):  # noqa: N802
            payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
            if payload == example_gen_pb2.PayloadFormat.FORMAT_PARQUET:
                return pipeline | stock(exec_properties, split_pattern)
            records = pipeline | _ReadShards(exec_properties, split_pattern)
            if payload == example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE:
                import tensorflow as tf

                return records | "ToTFExample" >> beam.Map(tf.train.Example.FromString)
            if payload == example_gen_pb2.PayloadFormat.FORMAT_PROTO:
                return records
            return pipeline | stock(exec_properties, split_pattern)

        return ImportRecord


def executor_spec():
    """The executor spec for `FileBasedExampleGen(custom_executor_spec=...)`."""
    return tfx_executor_spec.BeamExecutorSpec(Executor)
