"""TensorBoard event logging without the `tensorboard` package.

`keras.callbacks.TensorBoard` calls `tf.summary.scalar`, which lives in the tensorboard package,
and the locked environment does not have it. The core op `tf.summary.write` with the scalars
plugin's metadata writes the same event records, which TensorBoard reads as ordinary scalars.
"""

import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
).SerializeToString()


class ScalarEventLogger(keras.callbacks.Callback):
    """Writes every epoch's logs as TensorBoard scalars, training and validation in sub-folders.

    Args:
        log_dir: folder of the event files (`train/` and `validation/` below it).
        step_offset: added to the epoch number (so resumed runs continue the curves).
    """

    def __init__(self, log_dir, step_offset=0):
        super().__init__()
        self.log_dir = str(log_dir)
        self.step_offset = step_offset
        self._writers = {}

    def _writer(self, name):
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(f"{self.log_dir}/{name}")
        return self._writers[name]

    def on_epoch_end(self, epoch, logs=None):
        groups = {"train": {}, "validation": {}}
        for key, value in (logs or {}).items():
            if key.startswith("val_"):
                groups["validation"][key[4:]] = value
            else:
                groups["train"][key] = value
        for name, values in groups.items():
            if not values:
                continue
            with self._writer(name).as_default():
                for key, value in values.items():
                    tf.summary.write(f"epoch_{key}", tf.cast(value, tf.float32),
                                     step=epoch + self.step_offset, metadata=_SCALAR_METADATA)
            self._writer(name).flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
