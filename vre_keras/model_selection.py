"""Which phase-2 epoch is the best model: a caption metric of greedy captions on validation videos.

The paper keeps "the best model" of the joint phase without saying by what; a caption model is
judged by its captions, so the default is CIDEr-D (the project's coco-caption-equal metrics),
with validation XE2 kept as an option ("xe2").
"""

import math
import weakref

from vre_keras.caption_metrics import names

XE2 = "xe2"
SELECTION_METRICS = names.ALL_KEYS + (XE2,)

# One traced greedy decoder per model, reused by every epoch's scoring.
_GREEDY_TOKENS = weakref.WeakKeyDictionary()


def check_selection_metric(metric):
    """Raises ValueError unless `metric` is a caption metric key or "xe2"."""
    if metric not in SELECTION_METRICS:
        raise ValueError(
            f"phase-2 selection metric must be one of {list(SELECTION_METRICS)}, got {metric!r}"
        )


def higher_is_better(metric) -> bool:
    """Caption metrics grow with quality; XE2 shrinks."""
    return metric != XE2


def is_better(metric, score, best) -> bool:
    """True when `score` beats `best` (None: nothing yet) under `metric`."""
    if best is None or math.isnan(best):
        return not math.isnan(score)
    return score > best if higher_is_better(metric) else score < best


def _family(metric):
    return names.BLEU if metric in names.BLEU_KEYS else metric


def caption_score(model, file_patterns, vocabulary, batch_size, metric, max_batches=None):
    """`metric` of the model's greedy captions of the videos in `file_patterns`.

    The step-2 caption of every video (refocused with the model's current encoder: call
    `model.freeze_key_frame_predictor()` first when the encoder is still training) is scored
    against all that video's references.

    Args:
        model: a built VRECaptioner.
        file_patterns: gzip TFRecord glob(s) of Contract 1 (the validation videos).
        vocabulary: the model's Vocabulary.
        batch_size: videos per decoding batch.
        metric: a key of caption_metrics.names.ALL_KEYS, e.g. "CIDEr-D".
        max_batches: score only the first this many batches (None: all videos).

    Returns:
        float, the corpus score.
    """
    import tensorflow as tf

    from vre_keras.caption_metrics import score_corpus
    from vre_keras.dataset import make_dataset, read_references
    from vre_keras.vre_captioner import AUDIO, SPATIAL, TEMPORAL, VIDEO_ID

    if metric == XE2 or metric not in names.ALL_KEYS:
        raise ValueError(f"caption_score needs a caption metric key, got {metric!r}")
    references = read_references(file_patterns)
    generate = _GREEDY_TOKENS.get(model)
    if generate is None:
        generate = tf.function(lambda t, s, a: model.generate(t, s, a, method="greedy")["tokens"])
        _GREEDY_TOKENS[model] = generate
    dataset = make_dataset(file_patterns, model.config, vocabulary, batch_size, per_video=True)
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    hypotheses = {}
    for batch in dataset:
        tokens = generate(batch[TEMPORAL], batch[SPATIAL], batch[AUDIO]).numpy()
        for video_id, row in zip(batch[VIDEO_ID].numpy(), tokens):
            hypotheses[video_id.decode()] = vocabulary.decode(row)
    if not hypotheses:
        raise ValueError(f"no captioned video to score in {file_patterns}")
    scores = score_corpus(
        hypotheses, {v: references[v] for v in hypotheses}, metrics=[_family(metric)]
    )
    return float(scores[metric])
