"""Caption metrics equal to coco-caption's (pycocoevalcap): BLEU-1..4, METEOR, ROUGE_L, CIDEr(-D).

score_corpus / evaluate_corpus score a corpus; tokenize is coco-caption's PTB tokenization;
CaptionReward (reward.py) is the per-caption CIDEr-D + ROUGE_L reward for self-critical training.
Pure numpy/Python plus Java subprocesses (the METEOR 1.5 and Stanford PTBTokenizer jars).
"""

from vre_keras.caption_metrics.corpus import (
    CaptionInputError,
    CorpusScores,
    evaluate_corpus,
    score_corpus,
)
from vre_keras.caption_metrics.java import JavaNotFoundError
from vre_keras.caption_metrics.meteor import MeteorError, MeteorScorer, shared_meteor_scorer
from vre_keras.caption_metrics.names import (
    ALL_KEYS,
    BLEU,
    BLEU_1,
    BLEU_2,
    BLEU_3,
    BLEU_4,
    BLEU_KEYS,
    CIDER,
    CIDER_D,
    FAMILIES,
    METEOR,
    ROUGE_L,
)
from vre_keras.caption_metrics.reward import CaptionReward
from vre_keras.caption_metrics.tokenizer import TokenizerError, tokenize, tokenize_groups

__all__ = [
    "ALL_KEYS",
    "BLEU",
    "BLEU_1",
    "BLEU_2",
    "BLEU_3",
    "BLEU_4",
    "BLEU_KEYS",
    "CIDER",
    "CIDER_D",
    "FAMILIES",
    "METEOR",
    "ROUGE_L",
    "CaptionInputError",
    "CaptionReward",
    "CorpusScores",
    "JavaNotFoundError",
    "MeteorError",
    "MeteorScorer",
    "TokenizerError",
    "evaluate_corpus",
    "score_corpus",
    "shared_meteor_scorer",
    "tokenize",
    "tokenize_groups",
]
