"""Vectorised n-gram counting for a whole corpus at once (numpy), the engine behind BLEU and CIDEr.

Sentences become int token ids in one flat array; the n-grams of every length get exact integer
ids by compaction: an n-gram's id is the rank of the key (id of its first n-1 tokens) * BASE +
(id of its last token) among all such keys, so ids stay small for any vocabulary and no hashing
(no collisions) is involved. Counting is then sorting over int64 keys.

An NgramVocabulary freezes the ids of one corpus (the training references), so that later
batches map their n-grams onto the same ids (new n-grams get fresh ids after the known ones):
that is how the reward looks up the training corpus's document frequencies without any
per-n-gram Python work.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vre_keras.caption_metrics.key_index import find

# Token ids stay below BASE (16.7M distinct tokens per scoring call), so that a key
# gram_id * BASE + token_id fits int64 for up to 2**39 distinct n-grams.
BASE = 1 << 24


@dataclass
class Encoded:
    """Sentences as one flat array of token ids.

    Attributes:
        ids: int64 [total tokens], all sentences concatenated.
        lengths: int64 [S] tokens per sentence.
        starts: int64 [S] offset of each sentence in `ids`.
    """

    ids: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray


@dataclass
class NgramVocabulary:
    """Frozen token and n-gram ids of a corpus.

    Attributes:
        token_ids: token -> id.
        level_keys: per n = 1..max_n, the sorted keys whose rank is the n-gram id (n = 1: token
            ids; n > 1: (n-1)-gram id * BASE + last token id).
        sizes: per n, the number of n-gram ids.
    """

    token_ids: dict
    level_keys: list
    sizes: list


_SEPARATOR = "\x00"  # joins sentences for one C-level split; captions never hold NUL


def encode_strings(
    sentences: Sequence[str], on_single_space: bool = False, token_ids: dict | None = None
) -> tuple:
    """Splits and maps sentences to one flat int64 array of token ids.

    Args:
        sentences: the sentences as strings.
        on_single_space: split with str.split(" ") (coco-caption's ROUGE_L: "" is one empty
            token) instead of str.split() (its BLEU and CIDEr).
        token_ids: a frozen token -> id map (left unchanged; unknown tokens get new ids above
            its ids), or None to start a new one.

    Returns:
        (Encoded, token -> id map including any new tokens). Ids are < len(map) + tokens.
    """
    sentences = list(sentences)
    joined = f" {_SEPARATOR} ".join(sentences)
    if joined.count(_SEPARATOR) != max(len(sentences) - 1, 0):  # a sentence holds NUL itself
        return encode(
            [s.split(" ") if on_single_space else s.split() for s in sentences], token_ids
        )
    tokens = joined.split(" ") if on_single_space else joined.split()
    index = {} if token_ids is None else dict(token_ids)
    start = 0 if token_ids is None else (max(token_ids.values(), default=-1) + 1)
    if start + len(tokens) >= BASE:
        raise ValueError(f"too many tokens in one scoring call ({start + len(tokens)} >= {BASE})")
    # setdefault through map() runs in C: a token's id is where it first occurs (not compact,
    # which is fine: only id equality and the BASE bound matter).
    ids = np.fromiter(
        map(index.setdefault, tokens, itertools.count(start)), dtype=np.int64, count=len(tokens)
    )
    is_separator = ids == index.get(_SEPARATOR, -1)
    ends = np.concatenate([np.flatnonzero(is_separator), [len(ids)]])
    lengths = ends - np.concatenate([[-1], ends[:-1]]) - 1  # tokens between separators
    index.pop(_SEPARATOR, None)
    starts = np.zeros(len(sentences), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return Encoded(ids[~is_separator], lengths.astype(np.int64), starts), index


def lookup_strings(sentences: Sequence[str], token_ids: dict, on_single_space: bool = False):
    """Splits sentences and maps their tokens through a fixed map, -1 for tokens not in it.

    Args:
        sentences: the sentences as strings.
        token_ids: token -> id (ids >= 0).
        on_single_space: str.split(" ") instead of str.split(), as in encode_strings.

    Returns:
        (int64 [tokens] ids, int64 [S] tokens per sentence).
    """
    sentences = list(sentences)
    joined = f" {_SEPARATOR} ".join(sentences)
    if joined.count(_SEPARATOR) != max(len(sentences) - 1, 0):
        parts = [s.split(" ") if on_single_space else s.split() for s in sentences]
        ids = np.fromiter((token_ids.get(t, -1) for sent in parts for t in sent), dtype=np.int64)
        return ids, np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    tokens = joined.split(" ") if on_single_space else joined.split()
    table = dict(token_ids)
    table[_SEPARATOR] = -2
    ids = np.fromiter(
        map(table.get, tokens, itertools.repeat(-1)), dtype=np.int64, count=len(tokens)
    )
    is_separator = ids == -2
    ends = np.concatenate([np.flatnonzero(is_separator), [len(ids)]])
    lengths = ends - np.concatenate([[-1], ends[:-1]]) - 1
    return ids[~is_separator], lengths.astype(np.int64)


def encode(sentences: Sequence[Sequence[str]], token_ids: dict | None = None) -> tuple:
    """Maps token lists to one flat int64 array (see encode_strings; this takes split tokens).

    Args:
        sentences: each sentence as its list of tokens.
        token_ids: a frozen token -> id map, or None.
    """
    index = {} if token_ids is None else dict(token_ids)
    start = 0 if token_ids is None else (max(token_ids.values(), default=-1) + 1)
    tokens = list(itertools.chain.from_iterable(sentences))
    flat = list(map(index.setdefault, tokens, itertools.count(start)))
    if start + len(tokens) >= BASE:
        raise ValueError(f"too many tokens in one scoring call ({start + len(tokens)} >= {BASE})")
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    starts = np.zeros(len(sentences), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return Encoded(np.asarray(flat, dtype=np.int64), lengths, starts), index


@dataclass
class NgramCounts:
    """Term frequencies of the n-grams of one length n over all sentences.

    Attributes:
        n: the n-gram length.
        sentence: int64 [E] sentence index of each (sentence, n-gram) entry.
        gram: int64 [E] n-gram id (0 .. num_grams-1) of each entry; entries are sorted by
            (gram, sentence).
        count: int64 [E] how often the n-gram occurs in the sentence.
        num_grams: the bound of n-gram ids at this n.
    """

    n: int
    sentence: np.ndarray
    gram: np.ndarray
    count: np.ndarray
    num_grams: int


def _entries(n: int, gram: np.ndarray, sentence: np.ndarray, num_grams: int) -> NgramCounts:
    """Entries from per-position n-gram ids and sentences sorted by (gram, position)."""
    if len(gram) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return NgramCounts(n, empty, empty, empty, num_grams)
    new = np.concatenate([[True], (gram[1:] != gram[:-1]) | (sentence[1:] != sentence[:-1])])
    starts = np.flatnonzero(new)
    count = np.diff(np.concatenate([starts, [len(gram)]]))
    return NgramCounts(n, sentence[starts], gram[starts], count.astype(np.int64), num_grams)


def stable_order(keys: np.ndarray) -> np.ndarray:
    """np.argsort(keys, kind="stable") for int64 keys, ~10x faster where it can be.

    numpy's stable sort of int64 is a merge sort; its default sort is a SIMD one. Sorting
    (key - min) * 2**b + index (b = bits of the largest index) with the latter gives the same
    permutation, since these composites are distinct and order equal keys by index; used when
    they fit int64, else the stable sort itself.
    """
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bits = max((n - 1).bit_length(), 1)
    low = int(keys.min())
    if int(keys.max()) - low >= 1 << (63 - bits):
        return np.argsort(keys, kind="stable")
    composite = ((keys - low) << bits) | np.arange(n, dtype=np.int64)
    composite.sort()
    return composite & ((1 << bits) - 1)


def count_ngrams(enc: Encoded, max_n: int, vocabulary: NgramVocabulary | None = None):
    """Counts the 1..max_n-grams of every sentence.

    One stable sort per n does both jobs: ranking the keys gives the n-gram ids, and since the
    positions of one n-gram stay in order (and sentences are contiguous), its (n-gram, sentence)
    runs are the term frequencies.

    Args:
        enc: the encoded corpus.
        max_n: longest n-gram.
        vocabulary: frozen ids to map onto (from an earlier call), or None.

    Returns:
        (list of NgramCounts for n = 1..max_n, level keys and sizes for an NgramVocabulary; a
        given vocabulary is not changed, new n-grams get ids only for this call).
    """
    total = len(enc.ids)
    sentence_of = np.repeat(np.arange(len(enc.lengths), dtype=np.int64), enc.lengths)
    end_of = np.repeat(enc.starts + enc.lengths, enc.lengths)  # exclusive end, per position
    positions = np.arange(total, dtype=np.int64)
    gram_at = None  # id of the (n-1)-gram starting at each position
    # Sorting by (n-1)-gram id * token_bound + last token orders like the keys (token ids are
    # below token_bound <= BASE) with smaller numbers, which stable_order's fast path needs.
    token_bound = int(enc.ids.max()) + 1 if total else 1
    level_keys, sizes, out = [], [], []
    for n in range(1, max_n + 1):
        p = positions[positions + n <= end_of]  # n-grams that stay inside their sentence
        last = enc.ids[p + n - 1]
        keys = last if n == 1 else gram_at[p] * BASE + last
        if vocabulary is None:
            order = stable_order(last if n == 1 else gram_at[p] * token_bound + last)
            sorted_keys = keys[order]
            new = (
                np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]])
                if len(keys)
                else np.zeros(0, bool)
            )
            ranks = np.cumsum(new) - 1
            ids = np.empty(len(keys), dtype=np.int64)
            ids[order] = ranks
            uniq = sorted_keys[new]
            num_grams = len(uniq)
            sorted_ids = ranks
        else:
            uniq = vocabulary.level_keys[n - 1]
            idx = np.minimum(np.searchsorted(uniq, keys), max(len(uniq) - 1, 0))
            found = uniq[idx] == keys if len(uniq) else np.zeros(len(keys), bool)
            ids = np.where(found, idx, -1)
            new_keys, new_inverse = np.unique(keys[~found], return_inverse=True)
            ids[~found] = vocabulary.sizes[n - 1] + new_inverse
            num_grams = vocabulary.sizes[n - 1] + len(new_keys)
            order = stable_order(ids)
            sorted_ids = ids[order]
        gram_at = np.full(total, -1, dtype=np.int64)
        gram_at[p] = ids
        level_keys.append(uniq)
        sizes.append(num_grams)
        out.append(_entries(n, sorted_ids, sentence_of[p[order]], num_grams))
    return out, level_keys, sizes


def lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray, default=0):
    """values[i] where keys[i] == query, else default (vectorised dictionary lookup; the keys
    are distinct int64)."""
    if len(keys) == 0:
        return np.full(len(query), default, dtype=values.dtype)
    idx = find(keys, query)
    return np.where(idx >= 0, values[np.maximum(idx, 0)], default)
