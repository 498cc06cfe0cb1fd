"""BLEU-1..4 exactly as coco-caption's BleuScorer (option "closest"), vectorised over the corpus.

coco-caption's BLEU is corpus-level: clipped n-gram matches and lengths are summed over all items
before the geometric mean, with the reference length closest to each hypothesis (ties to the
shorter) and its epsilons (1e-15 / 1e-9) that keep empty hypotheses finite.

Clipping only needs, for each n-gram of a hypothesis, its largest count in one reference of the
same item. So the hypotheses' n-grams form small sorted tables (item-local ids, level by level)
and the references are only looked up in them: a reference position stays alive at length n only
while its n-gram occurs in its item's hypothesis, which prunes most of the references' n-grams.
"""

import math
from collections.abc import Sequence

import numpy as np

from vre_keras.caption_metrics.key_index import find
from vre_keras.caption_metrics.token_keys import KeyedTokens, encode_with_references

_TINY = 1e-15
_SMALL = 1e-9


def _runs(sorted_values: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values."""
    if len(sorted_values) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]))


def _positions(lengths: np.ndarray):
    """(sentence of each token, exclusive end of its sentence) for a flat token array."""
    sentence = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    ends = np.cumsum(lengths)
    return sentence, ends[sentence]


def _clipped_matches(hyp_ids, hyp_len, ref_ids, ref_len, ref_owner, width, max_n):
    """float64 [I, max_n]: per item, sum over its hypothesis n-grams of min(count in the
    hypothesis, largest count in one of its references)."""
    num_items, num_refs = len(hyp_len), len(ref_len)
    hyp_sentence, hyp_end = _positions(hyp_len)
    hyp_pos = np.arange(len(hyp_ids), dtype=np.int64)
    hyp_prev = hyp_sentence  # n = 1 keys start from the item: n-gram ids are item-local
    # References are followed only at their alive positions: `ref_pos` (sorted), with the id of
    # the n-gram found there at the previous level (`ref_gram`) and the end of its sentence.
    ref_sentence = np.repeat(np.arange(num_refs, dtype=np.int64), ref_len)
    ref_pos = ref_gram = ref_end = None
    correct = np.zeros((num_items, max_n))
    for n in range(1, max_n + 1):
        hyp_pos = hyp_pos[hyp_pos + n <= hyp_end[hyp_pos]]
        if len(hyp_pos) == 0:
            break
        hyp_key = hyp_prev[hyp_pos] * width + hyp_ids[hyp_pos + n - 1]
        table, hyp_gram = np.unique(hyp_key, return_inverse=True)
        hyp_count = np.bincount(hyp_gram, minlength=len(table))
        # The item of each table entry: keys sort by item first, as their prefixes do.
        first_of_gram = np.zeros(len(table), dtype=np.int64)
        first_of_gram[hyp_gram] = hyp_pos
        gram_item = hyp_sentence[first_of_gram]

        # References: positions whose n-gram is in their item's hypothesis table. A token in no
        # hypothesis (id -1) gets key -1, which no table holds.
        if n == 1:
            ref_key = ref_owner[ref_sentence] * width + ref_ids
            ref_key[ref_ids < 0] = -1
            idx = find(table, ref_key)
            ref_pos = np.flatnonzero(idx >= 0)
            ref_gram = idx[ref_pos]
            ref_end = np.cumsum(ref_len)[ref_sentence[ref_pos]]
        else:
            inside = ref_pos + n <= ref_end
            ref_pos, ref_gram, ref_end = ref_pos[inside], ref_gram[inside], ref_end[inside]
            last = ref_ids[ref_pos + n - 1]
            ref_key = ref_gram * width + last
            ref_key[last < 0] = -1
            idx = find(table, ref_key)
            found = idx >= 0
            ref_pos, ref_gram, ref_end = ref_pos[found], idx[found], ref_end[found]
        ref_max = np.zeros(len(table))
        if len(ref_pos):
            # Count per (n-gram, reference), then the largest count per n-gram.
            pair = np.sort(ref_gram * num_refs + ref_sentence[ref_pos])
            starts = _runs(pair)
            counts = np.diff(np.concatenate([starts, [len(pair)]]))
            gram = pair[starts] // num_refs
            gram_starts = _runs(gram)
            ref_max[gram[gram_starts]] = np.maximum.reduceat(counts, gram_starts)
        correct[:, n - 1] = np.bincount(
            gram_item, weights=np.minimum(hyp_count, ref_max), minlength=num_items
        )
        # Ids of this level become the prefixes of the next.
        next_hyp = np.full(len(hyp_ids), -1, dtype=np.int64)
        next_hyp[hyp_pos] = hyp_gram
        hyp_prev = next_hyp
    return correct


def _closest_ref_lengths(hyp_len, ref_len, ref_owner, ref_start) -> np.ndarray:
    """coco-caption's min((abs(l - testlen), l) for l in reflens)[1], per item."""
    base = int(ref_len.max(initial=0)) + 1
    combined = np.abs(ref_len - hyp_len[ref_owner]) * base + ref_len  # distance, then length
    return np.minimum.reduceat(combined, ref_start) % base


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    max_n: int = 4,
    keyed: KeyedTokens | None = None,
):
    """BLEU-1..max_n.

    Args:
        hypotheses: one tokenized caption per item.
        references: tokenized references per item, at least one each.
        max_n: highest order.
        keyed: token_keys(hypotheses + all references), if the caller has it.

    Returns:
        (list of corpus BLEU-n, float64 [I, max_n] per-item BLEU-n), as coco-caption's Bleu.
    """
    num_items = len(hypotheses)
    refs_per_item = np.array([len(r) for r in references], dtype=np.int64)
    if len(references) != num_items or (refs_per_item < 1).any():
        raise ValueError("every item needs one hypothesis and at least one reference")
    hyp_enc, ref_ids, ref_len = encode_with_references(
        hypotheses, [r for refs in references for r in refs], keyed=keyed
    )
    width = int(hyp_enc.ids.max(initial=0)) + 1
    ref_owner = np.repeat(np.arange(num_items, dtype=np.int64), refs_per_item)
    ref_start = np.zeros(num_items, dtype=np.int64)
    np.cumsum(refs_per_item[:-1], out=ref_start[1:])
    hyp_len = hyp_enc.lengths
    reflen = _closest_ref_lengths(hyp_len, ref_len, ref_owner, ref_start)
    correct = _clipped_matches(hyp_enc.ids, hyp_len, ref_ids, ref_len, ref_owner, width, max_n)
    guess = np.stack([np.maximum(0, hyp_len - n + 1) for n in range(1, max_n + 1)], axis=1).astype(
        np.float64
    )
    testlen = hyp_len.astype(np.float64)

    per_item = np.empty((num_items, max_n))
    running = np.ones(num_items)
    for k in range(max_n):
        running = running * ((correct[:, k] + _TINY) / (guess[:, k] + _SMALL))
        per_item[:, k] = running ** (1.0 / (k + 1))
    ratio = (testlen + _TINY) / (reflen + _SMALL)
    short = ratio < 1
    per_item[short] *= np.exp(1 - 1 / ratio[short])[:, None]

    # Corpus level: the same formula on summed counts (sums of ints are exact).
    total_test = int(hyp_len.sum())
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
