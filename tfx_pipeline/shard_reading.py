"""Reading one TFRecord shard so that a truncated or corrupt file is named in the error.

Used by ImportExampleGen's executor (tfx_pipeline/record_reader.py). Imports TensorFlow only
when reading (no TFX), so it is unit-tested quickly. Paths go through tf.io.gfile / tf.data, so
shards on gs:// are read the same way.
"""

from __future__ import annotations


class CorruptShardError(ValueError):
    """A TFRecord shard of the input cannot be read to its end."""


def _compression(path: str) -> str:
    # Beam's ReadFromTFRecord (what TFX uses) picks compression from the extension: keep that.
    return "GZIP" if path.endswith(".gz") else ""


def read_shard(path: str):
    """Yields the serialized records of one TFRecord file; CorruptShardError names the file.

    Args:
        path: a local path or a URI tf.io.gfile reads (gs://...).
    """
    import tensorflow as tf

    count = 0
    try:
        for record in tf.data.TFRecordDataset(path, compression_type=_compression(path)):
            count += 1
            yield record.numpy()
    except tf.errors.OpError as e:
        reason = (e.message or type(e).__name__).splitlines()[0]
        raise CorruptShardError(
            f"TFRecord shard {path} is truncated or corrupt: {count} record(s) read, then: "
            f"{reason}. Re-extract or rebuild this shard (or remove it) and run again."
        ) from None


def list_shards(input_base: str, split_pattern: str) -> list[str]:
    """The files of one split, sorted; ValueError naming the pattern when there are none."""
    import tensorflow as tf

    pattern = input_base.rstrip("/") + "/" + split_pattern
    files = sorted(f for f in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(f))
    if not files:
        raise ValueError(f"no TFRecord files match {pattern}")
    return files
