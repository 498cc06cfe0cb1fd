"""Vectorised n-gram counting for a whole corpus at once (numpy), the engine behind BLEU and CIDEr.

Sentences become int token ids in one flat array; the n-grams of every length are given exact
integer ids by compaction: an n-gram's id is the rank of the pair (id of its first n-1 tokens,
id of its last token) among all such pairs, so ids stay small for any vocabulary and no hashing
(no collisions) is involved. Counting is then sorting and np.unique over int64 keys.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Encoded:
    """Sentences as one flat array of token ids.

    Attributes:
        ids: int64 [total tokens], all sentences concatenated.
        lengths: int64 [S] tokens per sentence.
        starts: int64 [S] offset of each sentence in `ids`.
        vocab: token string per id.
    """

    ids: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray
    vocab: list


def encode(sentences: Sequence[Sequence[str]]) -> Encoded:
    """Maps token lists to one flat int64 array (ids in order of first appearance).

    Args:
        sentences: each sentence as its list of tokens.
    """
    index: dict[str, int] = {}
    flat = [index.setdefault(tok, len(index)) for sent in sentences for tok in sent]
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    starts = np.zeros(len(sentences), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return Encoded(np.asarray(flat, dtype=np.int64), lengths, starts, list(index))


@dataclass
class NgramCounts:
    """Term frequencies of the n-grams of one length n over all sentences.

    Attributes:
        n: the n-gram length.
        sentence: int64 [E] sentence index of each (sentence, n-gram) entry, sorted.
        gram: int64 [E] n-gram id (0 .. num_grams-1) of each entry.
        count: int64 [E] how often the n-gram occurs in the sentence.
        num_grams: number of distinct n-grams of length n in the corpus.
        first_position: int64 [num_grams] a position in Encoded.ids where each n-gram starts.
    """

    n: int
    sentence: np.ndarray
    gram: np.ndarray
    count: np.ndarray
    num_grams: int
    first_position: np.ndarray


def count_ngrams(enc: Encoded, max_n: int) -> list[NgramCounts]:
    """Counts the 1..max_n-grams of every sentence.

    Args:
        enc: the encoded corpus.
        max_n: longest n-gram.

    Returns:
        One NgramCounts per n = 1..max_n.
    """
    total = len(enc.ids)
    sentence_of = np.repeat(np.arange(len(enc.lengths), dtype=np.int64), enc.lengths)
    end_of = np.repeat(enc.starts + enc.lengths, enc.lengths)  # exclusive end, per position
    positions = np.arange(total, dtype=np.int64)
    vocab_size = max(len(enc.vocab), 1)
    gram_at = enc.ids.copy()  # id of the n-gram starting at each position (n=1: the token)
    num_grams = vocab_size
    out = []
    for n in range(1, max_n + 1):
        valid = positions + n <= end_of  # the n-gram starting here stays inside its sentence
        if n > 1:
            # Pair (id of the (n-1)-gram at p, token at p+n-1) -> compact id of the n-gram at p.
            p = positions[valid]
            keys = gram_at[p] * vocab_size + enc.ids[p + n - 1]
            uniq, inverse = np.unique(keys, return_inverse=True)
            gram_at = np.full(total, -1, dtype=np.int64)
            gram_at[p] = inverse
            num_grams = len(uniq)
        p = positions[valid]
        grams = gram_at[p]
        sent = sentence_of[p]
        # One entry per (sentence, n-gram), with its count; np.unique sorts by sentence first.
        key = sent * max(num_grams, 1) + grams
        uniq_key, counts = np.unique(key, return_counts=True)
        first_position = np.zeros(num_grams, dtype=np.int64)
        first_position[grams] = p
        out.append(
            NgramCounts(
                n=n,
                sentence=uniq_key // max(num_grams, 1),
                gram=uniq_key % max(num_grams, 1),
                count=counts.astype(np.int64),
                num_grams=num_grams,
                first_position=first_position,
            )
        )
    return out


def gram_tuples(enc: Encoded, counts: NgramCounts, grams: np.ndarray) -> list[tuple]:
    """The token tuples of the given n-gram ids (for lookups in tables keyed by tuples)."""
    vocab = enc.vocab
    n = counts.n
    pos = counts.first_position[grams]
    return [tuple(vocab[t] for t in enc.ids[p : p + n]) for p in pos.tolist()]


def lookup(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray, default=0):
    """values[i] where sorted_keys[i] == query, else default (vectorised dictionary lookup)."""
    if len(sorted_keys) == 0:
        return np.full(len(query), default, dtype=values.dtype)
    idx = np.searchsorted(sorted_keys, query)
    idx_clipped = np.minimum(idx, len(sorted_keys) - 1)
    found = sorted_keys[idx_clipped] == query
    return np.where(found, values[idx_clipped], default)
