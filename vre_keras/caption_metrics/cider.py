"""CIDEr-D exactly as coco-caption's CiderScorer computes it, vectorised over the corpus.

coco-caption's "CIDEr" *is* the CIDEr-D formula of Vedantam et al.: tf-idf n-gram vectors
(n = 1..4), the hypothesis weight clipped by the reference's (min(h, r) * r), a Gaussian
penalty on the length difference (sigma = 6; "length" counts bigrams, as coco-caption does), the
mean over n and over references, times 10. Document frequencies count the items whose references
contain an n-gram; by default they come from the scored corpus itself (coco-caption), or from a
fixed table (the training references, for the self-critical reward).
"""

from dataclasses import dataclass

import numpy as np

from vre_keras.caption_metrics.corpus_ngrams import CorpusNgrams
from vre_keras.caption_metrics.ngrams import gram_tuples, lookup

SIGMA = 6.0


@dataclass
class DocumentFrequency:
    """A fixed document-frequency table (e.g. of the training references).

    Attributes:
        counts: n-gram tuple -> number of items whose references contain it.
        log_num_items: log of the number of items the table was counted over (coco's ref_len).
    """

    counts: dict
    log_num_items: float


def document_frequency_table(corpus: CorpusNgrams) -> DocumentFrequency:
    """Counts the document frequencies of a corpus's references once, as n-gram tuples."""
    table = {}
    for counts in corpus.ngrams:
        df = _corpus_df(corpus, counts)
        grams = np.flatnonzero(df)
        table.update(zip(gram_tuples(corpus.encoded, counts, grams), df[grams].tolist()))
    return DocumentFrequency(table, float(np.log(float(corpus.num_items))))


def _corpus_df(corpus: CorpusNgrams, counts) -> np.ndarray:
    _, ref = corpus.split_entries(counts)
    width = max(counts.num_grams, 1)
    owner = corpus.ref_owner[counts.sentence[ref] - corpus.num_items]
    pairs = np.unique(owner * width + counts.gram[ref])  # (item, n-gram) present
    return np.bincount(pairs % width, minlength=counts.num_grams).astype(np.float64)


def cider_d(corpus: CorpusNgrams, df: DocumentFrequency | None = None, sigma: float = SIGMA):
    """CIDEr-D per item and its corpus mean.

    Args:
        corpus: the counted corpus (any max_n; coco-caption uses 4).
        df: fixed document frequencies; None counts them on `corpus` (coco-caption's way).
        sigma: the length penalty's standard deviation.

    Returns:
        (corpus mean, float64 [I] per item), as coco-caption's Cider.compute_score.
    """
    num_sent = len(corpus.encoded.lengths)
    num_refs = num_sent - corpus.num_items
    max_n = len(corpus.ngrams)
    ref_len = float(np.log(float(corpus.num_items))) if df is None else df.log_num_items
    # coco-caption's "length" is the number of bigrams (it counts where n-gram index == 1).
    lengths = np.maximum(corpus.encoded.lengths - 1, 0) if max_n >= 2 else 0 * corpus.encoded.lengths
    val = np.zeros((num_refs, max_n))
    norm_hyp = np.zeros((corpus.num_items, max_n))
    norm_ref = np.zeros((num_refs, max_n))
    for k, counts in enumerate(corpus.ngrams):
        if df is None:
            freq = _corpus_df(corpus, counts)
        else:
            tuples = gram_tuples(corpus.encoded, counts, np.arange(counts.num_grams))
            freq = np.array([df.counts.get(t, 0.0) for t in tuples], dtype=np.float64)
        weight = counts.count * (ref_len - np.log(np.maximum(1.0, freq[counts.gram])))
        norms = np.sqrt(np.bincount(counts.sentence, weights=weight**2, minlength=num_sent))
        norm_hyp[:, k] = norms[: corpus.num_items]
        norm_ref[:, k] = norms[corpus.num_items :]
        hyp, ref = corpus.split_entries(counts)
        width = max(counts.num_grams, 1)
        hyp_key = counts.sentence[hyp] * width + counts.gram[hyp]  # sorted: entries are sorted
        ref_index = counts.sentence[ref] - corpus.num_items
        w_ref = weight[ref]
        w_hyp = lookup(hyp_key, weight[hyp], corpus.ref_owner[ref_index] * width + counts.gram[ref],
                       0.0)
        val[:, k] = np.bincount(ref_index, weights=np.minimum(w_hyp, w_ref) * w_ref,
                                minlength=num_refs)
    owner_norm = norm_hyp[corpus.ref_owner]
    both = (owner_norm != 0) & (norm_ref != 0)
    val = np.where(both, val / np.where(both, owner_norm * norm_ref, 1.0), val)
    delta = (lengths[: corpus.num_items][corpus.ref_owner] - lengths[corpus.num_items :]).astype(
        np.float64
    )
    val *= (np.e ** (-(delta**2) / (2 * sigma**2)))[:, None]
    per_item = np.add.reduceat(val, corpus.ref_start, axis=0)
    per_item = per_item.mean(axis=1) / corpus.refs_per_item * 10.0
    return float(per_item.mean()), per_item
