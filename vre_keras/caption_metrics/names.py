"""The metric names, spelled once, exactly as coco-caption (pycocoevalcap) reports them."""

BLEU_1 = "Bleu_1"
BLEU_2 = "Bleu_2"
BLEU_3 = "Bleu_3"
BLEU_4 = "Bleu_4"
BLEU_KEYS = (BLEU_1, BLEU_2, BLEU_3, BLEU_4)
METEOR = "METEOR"
ROUGE_L = "ROUGE_L"
CIDER = "CIDEr"
CIDER_D = "CIDEr-D"

# The metric families a caller can ask score_corpus for ("Bleu" yields the four Bleu_n keys).
BLEU = "Bleu"
FAMILIES = (BLEU, METEOR, ROUGE_L, CIDER_D, CIDER)
ALL_KEYS = BLEU_KEYS + (METEOR, ROUGE_L, CIDER, CIDER_D)
