"""The self-critical training reward: CIDEr-D + ROUGE_L of each sampled caption.

The document frequencies of the training references are counted once (CIDEr-D's idf needs the
whole corpus); each call then scores a batch against the references of its videos only, with the
vectorised scorers of this package, so the exact coco-caption formulas are used per caption.
"""

from collections.abc import Mapping, Sequence

import numpy as np

from vre_keras.caption_metrics.cider import cider_d, document_frequency_table
from vre_keras.caption_metrics.corpus import CaptionInputError, validate
from vre_keras.caption_metrics.corpus_ngrams import CorpusNgrams
from vre_keras.caption_metrics.rouge import rouge_l
from vre_keras.caption_metrics.tokenizer import PUNCTUATIONS, tokenize


def normalize_generated(caption) -> str:
    """Cheap stand-in for PTB tokenization of a model's caption: the model emits space-separated
    words of a vocabulary built from tokenized text, so lower-casing and dropping coco-caption's
    punctuation tokens suffices (running the Java tokenizer per batch would cost ~0.5 s).

    Args:
        caption: str, or UTF-8 bytes as tf.numpy_function passes strings.
    """
    if isinstance(caption, bytes):
        caption = caption.decode("utf-8")
    if not isinstance(caption, str):
        raise TypeError(f"caption must be str or bytes, got {type(caption).__name__}")
    return " ".join(w for w in caption.lower().split() if w not in PUNCTUATIONS)


class CaptionReward:
    """Per-caption CIDEr-D + ROUGE_L against the training references.

    Args:
        references: video id -> reference captions (raw text, PTB-tokenized here once).
        tokenized: True when `references` are already PTB-tokenized.
        cider_weight: weight of CIDEr-D in the sum.
        rouge_weight: weight of ROUGE_L in the sum.

    Example:
        reward = CaptionReward({"video1": ["a man rides a bike", ...], ...})
        reward(["video1"], ["a man is riding a bicycle"])  # float32 [1]
    """

    def __init__(
        self,
        references: Mapping[str, Sequence[str]],
        tokenized: bool = False,
        cider_weight: float = 1.0,
        rouge_weight: float = 1.0,
    ):
        if not isinstance(references, Mapping) or not references:
            raise CaptionInputError("CaptionReward needs a non-empty dict video id -> references")
        ids = validate({k: "" for k in references}, references)
        refs = [list(references[k]) for k in ids]
        if not tokenized:
            flat = tokenize([r for rs in refs for r in rs])
            start, tok = 0, []
            for rs in refs:
                tok.append(flat[start : start + len(rs)])
                start += len(rs)
            refs = tok
        self.references = dict(zip(ids, refs))
        self.cider_weight = float(cider_weight)
        self.rouge_weight = float(rouge_weight)
        counted = CorpusNgrams.build([""] * len(refs), refs, max_n=4)
        self.document_frequency = document_frequency_table(counted)

    def components(self, video_ids: Sequence, captions: Sequence) -> tuple[np.ndarray, np.ndarray]:
        """(CIDEr-D [B], ROUGE_L [B]) of each caption, float64.

        Args:
            video_ids: the video of each caption (str or bytes); repeats are allowed.
            captions: the sampled captions (str or bytes).
        """
        ids = [
            v.decode("utf-8") if isinstance(v, bytes) else v
            for v in np.asarray(video_ids).ravel().tolist()
        ]
        caps = [normalize_generated(c) for c in np.asarray(captions, dtype=object).ravel()]
        if len(ids) != len(caps):
            raise CaptionInputError(f"{len(ids)} video ids but {len(caps)} captions")
        unknown = [v for v in ids if v not in self.references]
        if unknown:
            raise CaptionInputError(f"no training references for video ids: {unknown[:10]}")
        if not ids:
            return np.zeros(0), np.zeros(0)
        refs = [self.references[v] for v in ids]
        counted = CorpusNgrams.build(
            caps, refs, max_n=4, vocabulary=self.document_frequency.vocabulary
        )
        cider = cider_d(counted, df=self.document_frequency)[1]
        rouge = rouge_l(caps, refs)[1]
        return cider, rouge

    def __call__(self, video_ids: Sequence, captions: Sequence) -> np.ndarray:
        """float32 [B]: cider_weight * CIDEr-D + rouge_weight * ROUGE_L per caption."""
        cider, rouge = self.components(video_ids, captions)
        return (self.cider_weight * cider + self.rouge_weight * rouge).astype(np.float32)
