"""Real fixtures for the TFMA test: Contract-1 TFRecords and a string-output SavedModel."""

import numpy as np

from vre_common import contract

# Tiny feature sizes (the metric reads only ids and captions; the keys are Contract 1's).
TINY_FRAMES, TINY_CHANNELS, TINY_REGIONS = 2, 3, 4
FIXED_SENTENCE = "a man is talking on the phone"

VIDEOS = [
    ("video1", "test", ["A man is talking on a phone in a car.", "a man talks on the phone",
                        "someone drives a car"]),
    ("video2", "test", ["a big white rabbit comes out of a hole", "a cartoon rabbit stretches"]),
    ("video3", "test", ["a man rides a bike past cars", "a cyclist in traffic",
                        "a man in a suit rides a bicycle", "a man cycles"]),
    ("video4", "validation", ["two people are cooking food", "a woman cooks in a kitchen"]),
    ("video5", "validation", ["a dog runs on the grass", "a dog is running"]),
    ("video6", "validation", ["a cat sleeps on a sofa", "a cat is sleeping"]),
]
# The fixture model answers the fixed sentence for these videos and the first reference otherwise.
FIXED_FOR = ("video1", "video3", "video5")


def serialized_examples() -> list[bytes]:
    import tensorflow as tf

    def floats(n):
        return tf.train.Feature(float_list=tf.train.FloatList(value=np.linspace(0, 1, n)))

    def text(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    out = []
    for video_id, split, captions in VIDEOS:
        feature = {
            contract.VIDEO_ID: text([video_id]),
            contract.SPLIT: text([split]),
            contract.TEMPORAL: floats(TINY_FRAMES * TINY_CHANNELS),
            contract.SPATIAL: floats(TINY_REGIONS * TINY_CHANNELS),
            contract.AUDIO: floats(contract.AUDIO_DIM),
            contract.HAS_AUDIO: ints([0]),
            contract.CAPTIONS: text(captions),
            contract.NUM_SOURCE_FRAMES: ints([40]),
            contract.DURATION_S: tf.train.Feature(float_list=tf.train.FloatList(value=[1.5])),
        }
        out.append(tf.train.Example(features=tf.train.Features(feature=feature))
                   .SerializeToString())
    return out


def expected_hypotheses() -> dict:
    return {v: FIXED_SENTENCE if v in FIXED_FOR else caps[0] for v, _, caps in VIDEOS}


def write_tfrecords(path) -> str:
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in serialized_examples():
            writer.write(record)
    return str(path)


def save_caption_model(export_dir, fixed_for=FIXED_FOR) -> str:
    """A SavedModel whose `serve_tf_examples` signature parses Contract-1 examples and outputs
    `caption` (the fixed sentence for `fixed_for` videos, else the first reference) and
    `key_frame`, so TFMA sees a multi-output string model like the real one."""
    import tensorflow as tf

    spec = {contract.VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
            contract.CAPTIONS: tf.io.VarLenFeature(tf.string)}
    fixed_ids = tf.constant(list(fixed_for) or [""], dtype=tf.string)

    class CaptionModel(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string,
                                                    name=contract.SERVE_TF_EXAMPLES_INPUT)])
        def serve(self, examples):
            parsed = tf.io.parse_example(examples, spec)
            first = tf.sparse.to_dense(parsed[contract.CAPTIONS], default_value="")[:, 0]
            is_fixed = tf.reduce_any(
                tf.equal(parsed[contract.VIDEO_ID][:, None], fixed_ids[None, :]), axis=1)
            caption = tf.where(is_fixed, tf.constant(FIXED_SENTENCE), first)
            return {contract.OUT_CAPTION: caption,
                    contract.OUT_KEY_FRAME: tf.zeros_like(caption, dtype=tf.int64)}

    model = CaptionModel()
    tf.saved_model.save(model, str(export_dir),
                        signatures={contract.SERVE_TF_EXAMPLES: model.serve})
    return str(export_dir)
