"""One hypothesis and its references per item, with the n-gram counts BLEU and CIDEr share."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vre_keras.caption_metrics.ngrams import (
    Encoded,
    NgramCounts,
    NgramVocabulary,
    count_ngrams,
    encode_strings,
)
from vre_keras.caption_metrics.token_keys import KeyedTokens, encode_corpus


@dataclass
class CorpusNgrams:
    """Items 0..I-1: sentence i of `encoded` is item i's hypothesis, then come all references.

    Attributes:
        num_items: I.
        encoded: hypotheses then references, whitespace-split (as coco-caption's BLEU/CIDEr).
        ngrams: counts per n = 1..max_n.
        ref_owner: int64 [R] item of each reference (references are grouped by item, in order).
        ref_start: int64 [I] index of each item's first reference.
        refs_per_item: int64 [I].
        vocabulary: the token and n-gram ids used (frozen ones if given to build()).
    """

    num_items: int
    encoded: Encoded
    ngrams: list[NgramCounts]
    ref_owner: np.ndarray
    ref_start: np.ndarray
    refs_per_item: np.ndarray
    vocabulary: NgramVocabulary

    @classmethod
    def build(
        cls,
        hypotheses: Sequence[str],
        references: Sequence[Sequence[str]],
        max_n=4,
        vocabulary: NgramVocabulary | None = None,
        keyed: KeyedTokens | None = None,
    ):
        """Counts n-grams of tokenized captions.

        Args:
            hypotheses: one tokenized caption per item.
            references: tokenized references per item, at least one each.
            max_n: longest n-gram.
            vocabulary: frozen ids (of a training corpus) to map the n-grams onto.
            keyed: token_keys(hypotheses + all references), if the caller has it.
        """
        refs_per_item = np.array([len(r) for r in references], dtype=np.int64)
        if len(hypotheses) != len(references) or (refs_per_item < 1).any():
            raise ValueError("every item needs one hypothesis and at least one reference")
        sentences = list(hypotheses) + [r for refs in references for r in refs]
        if vocabulary is None:
            encoded, token_ids = encode_corpus(sentences, keyed)
        else:
            encoded, token_ids = encode_strings(sentences, False, vocabulary.token_ids)
        counts, level_keys, sizes = count_ngrams(encoded, max_n, vocabulary)
        ref_start = np.zeros(len(references), dtype=np.int64)
        np.cumsum(refs_per_item[:-1], out=ref_start[1:])
        ref_owner = np.repeat(np.arange(len(references), dtype=np.int64), refs_per_item)
        if vocabulary is None:
            vocabulary = NgramVocabulary(token_ids, level_keys, sizes)
        return cls(
            len(hypotheses), encoded, counts, ref_owner, ref_start, refs_per_item, vocabulary
        )

    @property
    def hyp_lengths(self) -> np.ndarray:
        return self.encoded.lengths[: self.num_items]

    @property
    def ref_lengths(self) -> np.ndarray:
        return self.encoded.lengths[self.num_items :]

    def split_entries(self, counts: NgramCounts):
        """(hypothesis entries, reference entries) of one n, as index arrays into `counts`;
        each keeps the (gram, sentence) order."""
        is_hyp = counts.sentence < self.num_items
        return np.flatnonzero(is_hyp), np.flatnonzero(~is_hyp)
