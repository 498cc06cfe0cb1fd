"""score_corpus: every coco-caption metric for a corpus of (id, hypothesis, references)."""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from vre_keras.caption_metrics import names
from vre_keras.caption_metrics.bleu import bleu
from vre_keras.caption_metrics.cider import cider_d
from vre_keras.caption_metrics.corpus_ngrams import CorpusNgrams
from vre_keras.caption_metrics.meteor import MeteorScorer
from vre_keras.caption_metrics.meteor_fast import ENGINES, FastMeteor
from vre_keras.caption_metrics.rouge import rouge_l
from vre_keras.caption_metrics.token_keys import splits_agree, token_keys
from vre_keras.caption_metrics.tokenizer import tokenize

DEFAULT_METRICS = (names.BLEU, names.METEOR, names.ROUGE_L, names.CIDER_D, names.CIDER)
_MAX_IDS_IN_MESSAGE = 10


class CaptionInputError(ValueError):
    """The hypotheses or references cannot be scored; the message names the offending ids."""


def _some(ids: Iterable) -> str:
    ids = list(ids)
    shown = ", ".join(repr(i) for i in ids[:_MAX_IDS_IN_MESSAGE])
    more = f" and {len(ids) - _MAX_IDS_IN_MESSAGE} more" if len(ids) > _MAX_IDS_IN_MESSAGE else ""
    return shown + more


def validate(hypotheses: Mapping, references: Mapping) -> list:
    """Checks the input as coco-caption's asserts would, with messages naming the ids.

    Args:
        hypotheses: id -> one caption (str).
        references: id -> list of reference captions (str), at least one.

    Returns:
        The ids, in the order of `hypotheses`.

    Raises:
        CaptionInputError: naming the ids that are on one side only, have no references, or hold
            something that is not text.
    """
    if not isinstance(hypotheses, Mapping) or not isinstance(references, Mapping):
        raise CaptionInputError(
            "hypotheses must be a dict id -> caption and references a dict id -> list of captions"
            f" (got {type(hypotheses).__name__} and {type(references).__name__})"
        )
    if not hypotheses:
        raise CaptionInputError("no hypotheses to score (the corpus is empty)")
    only_hyp = [k for k in hypotheses if k not in references]
    only_ref = [k for k in references if k not in hypotheses]
    if only_hyp or only_ref:
        parts = []
        if only_hyp:
            parts.append(f"ids with a hypothesis but no references: {_some(only_hyp)}")
        if only_ref:
            parts.append(f"ids with references but no hypothesis: {_some(only_ref)}")
        raise CaptionInputError(
            "hypotheses and references must have the same ids; " + "; ".join(parts)
        )
    bad_hyp = [k for k, v in hypotheses.items() if not isinstance(v, str)]
    if bad_hyp:
        raise CaptionInputError(f"hypothesis is not a string for ids: {_some(bad_hyp)}")
    not_list = [
        k
        for k, v in references.items()
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence)
    ]
    if not_list:
        raise CaptionInputError(
            f"references must be a list of strings, not a single string, for ids: {_some(not_list)}"
        )
    empty = [k for k, v in references.items() if len(v) == 0]
    if empty:
        raise CaptionInputError(f"no reference captions for ids: {_some(empty)}")
    bad_ref = [k for k, v in references.items() if not all(isinstance(r, str) for r in v)]
    if bad_ref:
        raise CaptionInputError(f"a reference caption is not a string for ids: {_some(bad_ref)}")
    return list(hypotheses)


@dataclass
class CorpusScores:
    """Scores of a corpus.

    Attributes:
        corpus: metric name -> corpus score (coco-caption's `eval`).
        per_item: id -> metric name -> that item's score (coco-caption's `imgToEval`; BLEU per
            item is coco-caption's per-sentence BLEU).
        tokenized_hypotheses: id -> the hypothesis after PTB tokenization.
    """

    corpus: dict = field(default_factory=dict)
    per_item: dict = field(default_factory=dict)
    tokenized_hypotheses: dict = field(default_factory=dict)


def _check_metrics(metrics: Sequence[str]) -> list[str]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    unknown = [m for m in metrics if m not in names.FAMILIES]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {list(names.FAMILIES)}")
    return list(metrics)


def evaluate_corpus(
    hypotheses: Mapping[Hashable, str],
    references: Mapping[Hashable, Sequence[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    tokenized: bool = False,
    meteor_scorer: MeteorScorer | str | None = None,
    meteor_workers: int | None = None,
    show_progress: bool = False,
) -> CorpusScores:
    """Scores a corpus with coco-caption's metrics, corpus-level and per item.

    Args:
        hypotheses: id -> generated caption.
        references: id -> reference captions (at least one; the same ids as `hypotheses`).
        metrics: families from names.FAMILIES: "Bleu" (Bleu_1..4), "METEOR", "ROUGE_L",
            "CIDEr-D", "CIDEr".
        tokenized: True when the captions are already PTB-tokenized (skips the tokenizer).
        meteor_scorer: None or "port" (the fast path: FastMeteor with the jar's aligner ported
            to Python, over worker processes), "jar" (FastMeteor's jar engine: the jar with
            only the paraphrase entries this corpus can match, several JVMs), or a running
            MeteorScorer to reuse (coco-caption's exact command). The fast paths run in the
            background while the other metrics are computed; all give the same scores.
        meteor_workers: FastMeteor's processes or JVMs (default: the usable CPUs, at most 4).
        show_progress: show each finished stage (tokenizer, metric families) with the elapsed
            time (vre_common.progress: a bar on a terminal, log lines elsewhere).

    Returns:
        CorpusScores.
    """
    metrics = _check_metrics(metrics)
    ids = validate(hypotheses, references)
    hyps = [hypotheses[k] for k in ids]
    refs = [list(references[k]) for k in ids]
    # Started before tokenizing: loading the paraphrase index overlaps the PTB tokenizer's JVM.
    if isinstance(meteor_scorer, str) and meteor_scorer not in ENGINES:
        raise ValueError(f"unknown meteor_scorer {meteor_scorer!r}; choose from {list(ENGINES)}")
    fast_meteor = None
    if names.METEOR in metrics and (meteor_scorer is None or isinstance(meteor_scorer, str)):
        fast_meteor = FastMeteor(workers=meteor_workers, engine=meteor_scorer or "port")
    from vre_common.progress import ProgressReporter

    stages = (0 if tokenized else 1) + len({_family(m) for m in metrics})
    progress = ProgressReporter(
        f"[vre evaluate] {len(ids)} captions",
        total=stages,
        unit="stage",
        interval_s=0.0,
        enabled=show_progress,
    )
    try:
        return _score(ids, hyps, refs, metrics, tokenized, meteor_scorer, fast_meteor, progress)
    finally:
        progress.close()
        if fast_meteor is not None:
            fast_meteor.close()


def _wants(metrics, family) -> bool:
    return family in metrics or (family == names.CIDER_D and names.CIDER in metrics)


def _family(metric):
    """CIDEr and CIDEr-D are one computation (see _score)."""
    return names.CIDER_D if metric == names.CIDER else metric


def _score(
    ids, hyps, refs, metrics, tokenized, meteor_scorer, fast_meteor, progress
) -> CorpusScores:
    if not tokenized:
        flat = tokenize(hyps + [r for rs in refs for r in rs])
        hyps, rest = flat[: len(hyps)], flat[len(hyps) :]
        start, tok_refs = 0, []
        for rs in refs:
            tok_refs.append(rest[start : start + len(rs)])
            start += len(rs)
        refs = tok_refs
        progress.update(1, done="PTB tokenizer")
    result = CorpusScores(per_item={k: {} for k in ids}, tokenized_hypotheses=dict(zip(ids, hyps)))

    def record(name, score, per_item):
        result.corpus[name] = float(score)
        for k, s in zip(ids, np.asarray(per_item).tolist()):
            result.per_item[k][name] = s

    # BLEU and CIDEr split on white space, ROUGE_L on single spaces: one pass over the text
    # serves all of them (ROUGE_L when the two rules agree on this text).
    families = [m for m in (names.BLEU, names.ROUGE_L, names.CIDER_D) if _wants(metrics, m)]
    keyed = token_keys(hyps + [r for rs in refs for r in rs]) if len(families) > 1 else None
    rouge_keyed = keyed if keyed is not None and splits_agree(keyed) else None

    meteor = None
    if fast_meteor is not None:
        # METEOR's JVMs run in the background while this thread computes the other metrics.
        meteor = ThreadPoolExecutor(max_workers=1)
        meteor_result = meteor.submit(fast_meteor.score, hyps, refs)
        meteor.shutdown(wait=False)
    elif names.METEOR in metrics:
        record(names.METEOR, *meteor_scorer.score(hyps, refs))
        progress.update(1, done=names.METEOR)
    if names.BLEU in metrics:
        scores, per_item = bleu(hyps, refs, keyed=keyed)
        for k, name in enumerate(names.BLEU_KEYS):
            record(name, scores[k], per_item[:, k])
        progress.update(1, done=names.BLEU)
    if names.ROUGE_L in metrics:
        record(names.ROUGE_L, *rouge_l(hyps, refs, keyed=rouge_keyed))
        progress.update(1, done=names.ROUGE_L)
    if names.CIDER in metrics or names.CIDER_D in metrics:
        # One computation: coco-caption's "CIDEr" is the CIDEr-D formula with corpus document
        # frequencies, so both names carry the same value here (see docs/caption_metrics.md).
        score, per_item = cider_d(CorpusNgrams.build(hyps, refs, max_n=4, keyed=keyed))
        for name in (names.CIDER, names.CIDER_D):
            if name in metrics:
                record(name, score, per_item)
        progress.update(1, done=names.CIDER_D)
    if meteor is not None:
        record(names.METEOR, *meteor_result.result())
        progress.update(1, done=names.METEOR)
    return result


def score_corpus(
    hypotheses: dict[str, str],
    references: dict[str, list[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    tokenized: bool = False,
    meteor_scorer: MeteorScorer | str | None = None,
    meteor_workers: int | None = None,
) -> dict[str, float]:
    """Corpus scores keyed by coco-caption's names ("Bleu_1".."Bleu_4", "METEOR", "ROUGE_L",
    "CIDEr", "CIDEr-D"); the arguments are those of evaluate_corpus."""
    return evaluate_corpus(
        hypotheses, references, metrics, tokenized, meteor_scorer, meteor_workers
    ).corpus
