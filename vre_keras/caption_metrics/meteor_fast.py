"""METEOR 1.5 for one corpus, fast and equal to coco-caption's: the same jar, given only the
paraphrase entries the corpus can match (so each JVM starts in ~2 s, not 10-40 s), several JVMs
scoring parts of the corpus at once, the corpus score from one EVAL over all their statistics.

    job = FastMeteor()                 # starts loading the paraphrase index in the background
    ...                                # e.g. PTB tokenization meanwhile
    corpus, per_item = job.score(hyps, refs)

Why this equals the single JVM with the full table: each item's SCORE statistics depend only on
that item (the jar keeps no state between requests), the restricted table gives the same matches
(meteor_paraphrase.py), and EVAL receives the same statistics lines in the same order.
"""

import os
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from vre_keras.caption_metrics.java import meteor_jar
from vre_keras.caption_metrics.meteor import MeteorScorer, clean_hypothesis, clean_reference
from vre_keras.caption_metrics.meteor_normalize import java_trim, meteor_normalize
from vre_keras.caption_metrics.meteor_paraphrase import ParaphraseIndex, write_restricted_table

# Each JVM holds the jar's WordNet synonyms (~100 MB); more than this gains nothing on the
# machines we run on and costs start-up CPU.
MAX_WORKERS = 4


def default_workers() -> int:
    """The CPUs this process may use (capped at MAX_WORKERS)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cpus))


def _paraphrase_table() -> Path:
    return meteor_jar().parent / "data" / "paraphrase-en.gz"


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous, near-equal [start, end) ranges covering range(n)."""
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


class FastMeteor:
    """Scores corpora with coco-caption's METEOR 1.5 (see the module docstring).

    Args:
        workers: JVMs scoring at once (default: the usable CPUs, at most MAX_WORKERS).
        cache_dir: where the paraphrase index is cached (default: VRE_METEOR_CACHE or
            ~/.cache/vre/meteor).
    """

    def __init__(self, workers: int | None = None, cache_dir: str | None = None):
        self.workers = workers or default_workers()
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._index: Future = self._pool.submit(
            ParaphraseIndex.cached, _paraphrase_table(), cache_dir
        )
        self.kept_entries = None  # paraphrase entries kept for the last corpus (for reports)

    def score(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]
    ) -> tuple[float, list[float]]:
        """(corpus METEOR, per-item METEOR) of tokenized captions, as coco-caption's
        Meteor.compute_score (the same numbers)."""
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
        if not hypotheses:
            raise ValueError("METEOR needs at least one hypothesis")
        # The fields exactly as the jar will read them (it trims each before normalising).
        hyp_fields = [java_trim(clean_hypothesis(h)) for h in hypotheses]
        ref_fields = [java_trim(clean_reference(r)) for refs in references for r in refs]
        normalized = meteor_normalize(hyp_fields + ref_fields)
        index = self._index.result()
        with tempfile.TemporaryDirectory(prefix="vre-meteor-") as tmp:
            table = Path(tmp) / "paraphrase.gz"
            self.kept_entries = write_restricted_table(
                index, normalized[: len(hyp_fields)], normalized[len(hyp_fields) :], table
            )
            parts = _split(len(hypotheses), self.workers)
            # All JVMs start (and load their tables) at once; each then scores its part.
            scorers = [MeteorScorer(paraphrase_table=str(table)) for _ in parts]
            try:
                stats: list[list[str]] = [[] for _ in parts]
                errors: list[BaseException] = []

                def run(k, start, end):
                    try:
                        stats[k] = scorers[k].stats(hypotheses[start:end], references[start:end])
                    except BaseException as e:  # re-raised below, in the caller's thread
                        errors.append(e)

                threads = [
                    threading.Thread(target=run, args=(k, a, b), daemon=True)
                    for k, (a, b) in enumerate(parts)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                if errors:
                    raise errors[0]
                return scorers[0].evaluate([line for part in stats for line in part])
            finally:
                for s in scorers:
                    s.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
