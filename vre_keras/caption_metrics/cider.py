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
from vre_keras.caption_metrics.ngrams import NgramVocabulary, lookup

SIGMA = 6.0


@dataclass
class DocumentFrequency:
    """Fixed document frequencies (e.g. of the training references).

    Attributes:
        vocabulary: the n-gram ids the frequencies are indexed by; build the scored corpus with
            it (CorpusNgrams.build(..., vocabulary=...)) so its n-grams map onto these ids.
        per_level: per n, float64 [ids] number of items whose references contain the n-gram.
        log_num_items: log of the number of items counted over (coco-caption's ref_len).
    """

    vocabulary: NgramVocabulary
    per_level: list
    log_num_items: float


def document_frequency_table(corpus: CorpusNgrams) -> DocumentFrequency:
    """Counts the document frequencies of a corpus's references once."""
    return DocumentFrequency(
        corpus.vocabulary,
        [_corpus_df(corpus, c) for c in corpus.ngrams],
        float(np.log(float(corpus.num_items))),
    )


def _corpus_df(corpus: CorpusNgrams, counts) -> np.ndarray:
    """Per n-gram id: the number of items whose references contain it."""
    _, ref = corpus.split_entries(counts)
    gram = counts.gram[ref]
    owner = corpus.ref_owner[counts.sentence[ref] - corpus.num_items]
    # Entries are sorted by (gram, sentence) and references are grouped by item, so each
    # (gram, item) pair is one run.
    first = (
        np.concatenate([[True], (gram[1:] != gram[:-1]) | (owner[1:] != owner[:-1])])
        if len(gram)
        else np.zeros(0, bool)
    )
    return np.bincount(gram[first], minlength=counts.num_grams).astype(np.float64)


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
    lengths = np.maximum(corpus.encoded.lengths - 1, 0)
    if max_n < 2:
        lengths = 0 * lengths
    val = np.zeros((num_refs, max_n))
    norm_hyp = np.zeros((corpus.num_items, max_n))
    norm_ref = np.zeros((num_refs, max_n))
    for k, counts in enumerate(corpus.ngrams):
        if df is None:
            freq = _corpus_df(corpus, counts)
        else:
            if corpus.vocabulary is not df.vocabulary:
                raise ValueError("build the corpus with the document frequencies' vocabulary")
            known = df.per_level[k]
            freq = np.zeros(counts.num_grams)  # n-grams new to the table: frequency 0
            freq[: len(known)] = known
        weight = counts.count * (ref_len - np.log(np.maximum(1.0, freq[counts.gram])))
        norms = np.sqrt(np.bincount(counts.sentence, weights=weight**2, minlength=num_sent))
        norm_hyp[:, k] = norms[: corpus.num_items]
        norm_ref[:, k] = norms[corpus.num_items :]
        hyp, ref = corpus.split_entries(counts)
        items = corpus.num_items
        hyp_key = counts.gram[hyp] * items + counts.sentence[hyp]  # sorted: (gram, sentence)
        ref_index = counts.sentence[ref] - items
        w_ref = weight[ref]
        w_hyp = lookup(
            hyp_key, weight[hyp], counts.gram[ref] * items + corpus.ref_owner[ref_index], 0.0
        )
        val[:, k] = np.bincount(
            ref_index, weights=np.minimum(w_hyp, w_ref) * w_ref, minlength=num_refs
        )
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
