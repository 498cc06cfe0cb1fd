"""Training metrics that Keras' built-ins do not cover."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="vre")
class KeyFrameHistogram(keras.metrics.Metric):
    """Share of videos whose key frame is each of the K frames, since the last reset.

    `result()` returns a dict of K scalars (`key_frame_00`, ...), which Keras merges into the logs,
    so TensorBoard plots each frame's share.

    Args:
        num_frames: K.
    """

    def __init__(self, num_frames, name="key_frame_histogram", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_frames = num_frames
        self.counts = self.add_variable(shape=(num_frames,), initializer="zeros", name="counts",
                                        aggregation="sum")

    def update_state(self, key_frame, sample_weight=None):
        one_hot = tf.one_hot(tf.cast(key_frame, tf.int32), self.num_frames)
        self.counts.assign_add(tf.reduce_sum(one_hot, axis=0))

    def result(self):
        total = tf.maximum(tf.reduce_sum(self.counts), 1.0)
        shares = self.counts / total
        return {f"key_frame_{i:02d}": shares[i] for i in range(self.num_frames)}

    def get_config(self):
        return {"num_frames": self.num_frames, "name": self.name}
