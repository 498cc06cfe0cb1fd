"""Writes the SavedModel of Contract 2: `serving_default` and `serve_tf_examples` signatures.

The graph holds the weights, the decoding loop (greedy or beam, `tf.while_loop`), the Example
parser and an in-graph id -> word table whose vocabulary file is a SavedModel asset, so a process
that imports only TensorFlow (or stock TF Serving) can caption videos.

Every Table-1 row (ModelConfig.table1_row) exports the same signatures and outputs. Rows without
the refocus ("Vf+vs", "KBiGRU(Vf)", "KBiGRU(Vf)+vs+va") predict no key frame: `key_frame` is -1
and `key_frame_probs` all 0; "KBiGRU(Vf)" has no spatial attention, so `spatial_attention` is 0.
"""

import os
import tempfile

import tensorflow as tf

from vre_common import contract, storage
from vre_keras.vocabulary import EOS_ID, PAD_ID, UNK

VOCABULARY_ASSET = "vocabulary.txt"
CONFIG_ASSET = "model_config.json"


class _CaptionServingModule(tf.Module):
    """The exported object: the model's variables plus the serving functions."""

    def __init__(self, model, vocabulary_file, config_file, method):
        super().__init__(name="vre_serving")
        self.model = model
        self.method = method
        self.vocabulary_file = tf.saved_model.Asset(str(vocabulary_file))
        self.config_file = tf.saved_model.Asset(str(config_file))
        self.words = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocabulary_file,
                key_dtype=tf.int64,
                key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                value_dtype=tf.string,
                value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value=UNK,
        )
        c = model.config
        self.feature_spec = {
            k: v
            for k, v in contract.feature_spec(c.num_frames, c.channels, c.num_regions).items()
            if k in (contract.TEMPORAL, contract.SPATIAL, contract.AUDIO)
        }

    def _caption(self, temporal, spatial, audio):
        out = self.model.generate(temporal, spatial, audio, method=self.method)
        tokens = out["tokens"]  # (B, L) int64, <PAD> after <EOS>
        keep = tf.logical_and(tf.not_equal(tokens, EOS_ID), tf.not_equal(tokens, PAD_ID))
        words = tf.ragged.boolean_mask(self.words.lookup(tokens), keep)
        return {
            contract.OUT_CAPTION: tf.strings.reduce_join(words, axis=1, separator=" "),
            contract.OUT_TOKENS: tokens,
            contract.OUT_KEY_FRAME: out["key_frame"],
            contract.OUT_KEY_FRAME_PROBS: out["key_frame_probs"],
            contract.OUT_TEMPORAL_ATTENTION: out["temporal_attention"],
            contract.OUT_SPATIAL_ATTENTION: out["spatial_attention"],
        }

    def serve_features(self, temporal, spatial, audio):
        return self._caption(temporal, spatial, audio)

    def serve_examples(self, examples):
        c = self.model.config
        parsed = tf.io.parse_example(examples, self.feature_spec)
        temporal = tf.reshape(parsed[contract.TEMPORAL], [-1, c.num_frames, c.channels])
        spatial = tf.reshape(parsed[contract.SPATIAL], [-1, c.num_regions, c.channels])
        return self._caption(temporal, spatial, parsed[contract.AUDIO])


def export_saved_model(model, vocabulary, export_dir, method=None) -> str:
    """Exports `model` with its vocabulary as a SavedModel (Contract 2).

    Args:
        model: a built VRECaptioner.
        vocabulary: the Vocabulary the model was trained with.
        export_dir: directory to write (created; must not already hold a SavedModel).
        method: "greedy" or "beam"; defaults to model.config.decoding.

    Returns:
        export_dir as a string.
    """
    if len(vocabulary) != model.vocab_size:
        raise ValueError(
            f"vocabulary has {len(vocabulary)} tokens but the model was built for "
            f"{model.vocab_size}"
        )
    export_dir = str(export_dir)  # may be remote (gs://): tf.saved_model.save writes through gfile
    if storage.exists(storage.join(export_dir, "saved_model.pb")):
        raise FileExistsError(f"a SavedModel already exists in {export_dir}")
    method = method or model.config.decoding
    c = model.config
    with tempfile.TemporaryDirectory(prefix="vre_export_") as staging:
        # Assets are copied into export_dir/assets by the saver, under these base names.
        # (a local staging folder: these files only feed the saver, which copies them)
        vocabulary_file = vocabulary.save(os.path.join(staging, VOCABULARY_ASSET))
        config_file = storage.write_json(
            os.path.join(staging, CONFIG_ASSET), dict(c.to_dict(), decoding=method))
        module = _CaptionServingModule(model, vocabulary_file, config_file, method)
        features = tf.function(
            module.serve_features,
            input_signature=[
                tf.TensorSpec([None, c.num_frames, c.channels], tf.float32, contract.TEMPORAL),
                tf.TensorSpec([None, c.num_regions, c.channels], tf.float32, contract.SPATIAL),
                tf.TensorSpec([None, c.audio_dim], tf.float32, contract.AUDIO),
            ],
        )
        examples = tf.function(
            module.serve_examples,
            input_signature=[tf.TensorSpec([None], tf.string, contract.SERVE_TF_EXAMPLES_INPUT)],
        )
        signatures = {
            contract.SERVING_DEFAULT: features.get_concrete_function(),
            contract.SERVE_TF_EXAMPLES: examples.get_concrete_function(),
        }
        tf.saved_model.save(module, export_dir, signatures=signatures)
    return export_dir
