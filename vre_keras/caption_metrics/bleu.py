"""BLEU-1..4 exactly as coco-caption's BleuScorer (option "closest"), vectorised over the corpus.

coco-caption's BLEU is corpus-level: clipped n-gram matches and lengths are summed over all items
before the geometric mean, with the reference length closest to each hypothesis (ties to the
shorter) and its epsilons (1e-15 / 1e-9) that keep empty hypotheses finite.
"""

import math

import numpy as np

from vre_keras.caption_metrics.corpus_ngrams import CorpusNgrams
from vre_keras.caption_metrics.ngrams import lookup

_TINY = 1e-15
_SMALL = 1e-9


def _clipped_matches(corpus: CorpusNgrams, n: int) -> np.ndarray:
    """Per item: hypothesis n-gram counts clipped by their max count in any one reference."""
    counts = corpus.ngrams[n - 1]
    hyp, ref = corpus.split_entries(counts)
    width = max(counts.num_grams, 1)
    ref_key = corpus.ref_owner[counts.sentence[ref] - corpus.num_items] * width + counts.gram[ref]
    order = np.argsort(ref_key, kind="stable")
    sorted_key = ref_key[order]
    if len(sorted_key):
        starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_key)) + 1])
        max_key = sorted_key[starts]
        max_count = np.maximum.reduceat(counts.count[ref][order], starts)
    else:
        max_key = max_count = np.zeros(0, dtype=np.int64)
    hyp_key = counts.sentence[hyp] * width + counts.gram[hyp]
    clipped = np.minimum(counts.count[hyp], lookup(max_key, max_count, hyp_key, 0))
    return np.bincount(counts.sentence[hyp], weights=clipped, minlength=corpus.num_items)


def _closest_ref_lengths(corpus: CorpusNgrams) -> np.ndarray:
    """coco-caption's min((abs(l - testlen), l) for l in reflens)[1], per item."""
    test = corpus.hyp_lengths[corpus.ref_owner]
    refs = corpus.ref_lengths
    base = int(max(refs.max(initial=0), 0)) + 1
    combined = np.abs(refs - test) * base + refs  # orders by distance, then by length
    return np.minimum.reduceat(combined, corpus.ref_start) % base


def bleu(corpus: CorpusNgrams, max_n: int = 4):
    """BLEU-1..max_n.

    Args:
        corpus: the counted corpus (built with at least max_n).
        max_n: highest order.

    Returns:
        (list of corpus BLEU-n, float64 [I, max_n] per-item BLEU-n), as coco-caption's Bleu.
    """
    testlen = corpus.hyp_lengths.astype(np.float64)
    reflen = _closest_ref_lengths(corpus)
    correct = np.stack([_clipped_matches(corpus, n) for n in range(1, max_n + 1)], axis=1)
    guess = np.stack([np.maximum(0, corpus.hyp_lengths - n + 1) for n in range(1, max_n + 1)],
                     axis=1).astype(np.float64)

    per_item = np.empty((corpus.num_items, max_n))
    running = np.ones(corpus.num_items)
    for k in range(max_n):
        running = running * ((correct[:, k] + _TINY) / (guess[:, k] + _SMALL))
        per_item[:, k] = running ** (1.0 / (k + 1))
    ratio = (testlen + _TINY) / (reflen + _SMALL)
    short = ratio < 1
    per_item[short] *= np.exp(1 - 1 / ratio[short])[:, None]

    # Corpus level: the same formula on summed counts (sums of ints are exact).
    total_test = int(corpus.hyp_lengths.sum())
    total_ref = int(reflen.sum())
    corpus_scores = []
    running_total = 1.0
    for k in range(max_n):
        running_total *= (float(correct[:, k].sum()) + _TINY) / (float(guess[:, k].sum()) + _SMALL)
        corpus_scores.append(running_total ** (1.0 / (k + 1)))
    ratio_total = (total_test + _TINY) / (total_ref + _SMALL)
    if ratio_total < 1:
        corpus_scores = [s * math.exp(1 - 1 / ratio_total) for s in corpus_scores]
    return corpus_scores, per_item
