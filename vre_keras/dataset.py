"""tf.data input of the model: gzip TFRecords of Contract 1 -> training batches.

Training yields one element per (video, reference caption) pair, so every reference is seen once
per epoch (the usual choice for MSR-VTT / MSVD); the self-critical phase and key-frame extraction
use one element per video (`per_video=True`). Videos without any caption are dropped.

Shuffling happens per video, before the videos are expanded into captions, and the expansion
interleaves `shuffle_buffer` videos one caption at a time (each video's captions in a random
order): consecutive elements come from different videos and a video comes back only after the
others of its window. (A shuffle after expansion kept a video's captions next to each other, so
they shared batches, and the videos came in nearly the same order every epoch.) Memory: about
2 x shuffle_buffer videos' features (the shuffle buffer and the interleave window).
"""

import glob

import numpy as np
import tensorflow as tf

from vre_common import contract
from vre_keras.vre_captioner import (
    AUDIO,
    CAPTION_INDEX,
    SPATIAL,
    TEMPORAL,
    TOKENS,
    VIDEO_ID,
    VIDEO_INDEX,
)


def resolve_files(file_patterns) -> list[str]:
    """Expands glob patterns (a string or a list) into a sorted list of files.

    Args:
        file_patterns: str or list of str; each must match at least one file.
    """
    if isinstance(file_patterns, str):
        file_patterns = [file_patterns]
    files = []
    for pattern in file_patterns:
        matched = sorted(tf.io.gfile.glob(pattern)) or sorted(glob.glob(pattern))
        if not matched:
            raise FileNotFoundError(f"no TFRecord file matches {pattern!r}")
        files.extend(matched)
    return files


def _records(file_patterns):
    return tf.data.TFRecordDataset(resolve_files(file_patterns), compression_type="GZIP")


def read_references(file_patterns) -> dict[str, list[str]]:
    """Reference captions per video id, read from the records (used for the vocabulary and the
    phase-4 reward).

    Args:
        file_patterns: TFRecord glob(s).
    """
    spec = {
        contract.VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        contract.CAPTIONS: tf.io.VarLenFeature(tf.string),
    }
    references = {}
    for record in _records(file_patterns):
        parsed = tf.io.parse_single_example(record, spec)
        video_id = parsed[contract.VIDEO_ID].numpy().decode()
        captions = [c.decode() for c in parsed[contract.CAPTIONS].values.numpy()]
        if video_id in references:
            raise ValueError(f"video id {video_id!r} appears twice in {file_patterns}")
        references[video_id] = captions
    return references


def make_dataset(file_patterns, config, vocabulary, batch_size, shuffle=False, repeat=False,
                 video_ids=None, per_video=False, shuffle_buffer=2048, seed=None):
    """Batches of Contract-1 records for the VRECaptioner.

    Args:
        file_patterns: gzip TFRecord glob(s) of Contract 1.
        config: ModelConfig (feature sizes, caption length).
        vocabulary: Vocabulary that encodes the captions.
        batch_size: elements per batch (the last partial batch is dropped when `repeat`).
        shuffle: shuffle the videos (each epoch anew), then interleave their captions.
        repeat: repeat forever.
        video_ids: list of training video ids; position = `video_index` of the per-video tables.
            Videos not in it get index -1 (fine for evaluation, rejected by phases 2-4).
        per_video: one element per video (with its first caption) instead of per caption.
        shuffle_buffer: shuffle buffer size, in videos.
        seed: shuffle seed.

    Returns:
        tf.data.Dataset of dicts: temporal [B, K, C], spatial [B, R, C], audio [B, A],
        tokens int32 [B, L], video_index int32 [B], caption_index int32 [B] (the caption's position
        among its video's references; 0 with per_video), video_id string [B].
    """
    spec = contract.feature_spec(config.num_frames, config.channels, config.num_regions)
    length = config.caption_length
    ids = list(video_ids or [])
    index_table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(ids or [""], tf.string),
            tf.constant(list(range(len(ids))) or [-1], tf.int32),
        ),
        default_value=-1,
    )

    def encode(captions):
        rows = [vocabulary.encode(c.decode(), config.max_caption_words) for c in captions]
        return np.stack(rows) if rows else np.zeros([0, length], np.int32)

    def parse(record):
        x = tf.io.parse_single_example(record, spec)
        captions = x[contract.CAPTIONS].values
        tokens = tf.numpy_function(encode, [captions], tf.int32, stateful=False)
        tokens = tf.reshape(tokens, [-1, length])
        audio = x[contract.AUDIO]
        if not config.use_audio:
            audio = tf.zeros_like(audio)
        return {
            TEMPORAL: tf.reshape(x[contract.TEMPORAL], [config.num_frames, config.channels]),
            SPATIAL: tf.reshape(x[contract.SPATIAL], [config.num_regions, config.channels]),
            AUDIO: audio,
            VIDEO_ID: x[contract.VIDEO_ID],
            VIDEO_INDEX: index_table.lookup(x[contract.VIDEO_ID]),
            TOKENS: tokens,
        }

    dataset = _records(file_patterns).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.filter(lambda x: tf.shape(x[TOKENS])[0] > 0)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if per_video:
        dataset = dataset.map(
            lambda x: dict(x, **{TOKENS: x[TOKENS][0], CAPTION_INDEX: tf.constant(0, tf.int32)}))
    else:
        def per_caption(x, order):
            # One element per caption, sharing (not copying) the video's features.
            others = {k: v for k, v in x.items() if k != TOKENS}
            return tf.data.Dataset.from_tensor_slices(order).map(
                lambda i: dict(others, **{TOKENS: x[TOKENS][i], CAPTION_INDEX: i}))

        def in_order(x):
            return per_caption(x, tf.range(tf.shape(x[TOKENS])[0], dtype=tf.int32))

        def in_random_order(x):
            n = tf.shape(x[TOKENS])[0]
            return per_caption(x, tf.random.shuffle(tf.range(n, dtype=tf.int32), seed=seed))

        if shuffle:
            # One caption from each of `shuffle_buffer` videos in turn.
            dataset = dataset.interleave(in_random_order, cycle_length=shuffle_buffer,
                                         block_length=1, deterministic=True)
        else:
            dataset = dataset.flat_map(in_order)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=repeat)
    options = tf.data.Options()
    # Few, large records: shard by element across workers rather than by file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
