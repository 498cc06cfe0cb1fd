"""METEOR 1.5 for one corpus with the aligner ported to Python (meteor_aligner.py): no METEOR
JVM aligns anything, and the scores equal the jar's (coco-caption's `-l en -norm`).

    with PortMeteor() as job:          # starts the small JVMs and workers in the background
        ...                            # e.g. PTB tokenization meanwhile
        corpus, per_item = job.score(hyps, refs)

The words are the jar's Normalizer's (ported in meteor_normalize.py, compared with the jar's
class on every caption of the test corpora). What still runs in Java, each a short JVM started
at construction (so they start while the caller tokenizes), because their output must be the
jar's to the bit:

- the jar's Stemmer class over the corpus's distinct words (meteor_resources.JarStemmer);
- EVAL-only METEOR JVMs (no WordNet, no paraphrases: ~0.3 s) that turn statistics into
  scores: the score uses Java's Math.pow, which differs from Python's pow in the last bit for
  ~0.1% of inputs, so the per-caption scores are the jar's answers to SING (computeMetrics, as
  EVAL computes each line) wherever pow can matter, and the corpus score its answer for the
  statistics summed as EVAL sums them. Python ranks a hypothesis's references with
  `approximate_score`; where two references with different statistics come within 1e-12 of
  the best, the jar scores them and decides, so the chosen reference is the jar's.

The alignments run over `workers` processes (contiguous parts, results in order).
"""

import logging
import pickle
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from vre_keras.caption_metrics import meteor_aligner, meteor_worker
from vre_keras.caption_metrics.java import FAST_START_JVM_OPTIONS
from vre_keras.caption_metrics.meteor import MeteorScorer, clean_hypothesis, clean_reference
from vre_keras.caption_metrics.meteor_normalize import java_trim, normalize_lines
from vre_keras.caption_metrics.meteor_paraphrase import ParaphraseIndex
from vre_keras.caption_metrics.meteor_resources import (
    JarStemmer,
    WordTable,
    function_words,
    synonym_dictionary,
)

_log = logging.getLogger(__name__)
_IN_PROCESS = threading.Lock()
# The jar splits its normalised lines into words with StringTokenizer's default delimiters.
_WORD_DELIMITERS = re.compile("[ \t\n\r\f]+")


def _words(line: str) -> list[str]:
    return [w for w in _WORD_DELIMITERS.split(line) if w]


def format_stats(stats: Sequence[int]) -> str:
    """A statistics tuple as a line the jar's EVAL/SING reads (its Scanner parses each count;
    below 10^7 this is also MeteorStats.toString()'s text)."""
    for v in stats:
        if not 0 <= v < 2**53:
            raise ValueError(f"statistic {v} out of range")
    return " ".join(f"{v}.0" for v in stats)


def aggregate_stats(chosen: Sequence[tuple]) -> tuple:
    """MeteorStats.addStats over all lines (EVAL's corpus statistics): every count summed,
    except that a line matching its reference completely in one chunk adds no chunk."""
    total = [0] * 23
    for stats in chosen:
        perfect = (
            sum(stats[4:20:4]) + sum(stats[6:20:4]) == stats[0]
            and sum(stats[5:20:4]) + sum(stats[7:20:4]) == stats[1]
            and stats[20] == 1
        )
        for k, v in enumerate(stats):
            if k != 20 or not perfect:
                total[k] += v
    return tuple(total)


def _unit_line(stats: Sequence[int]) -> tuple | None:
    """Statistics with the fragmentation of `stats` whose F-mean is exactly 1.0, so that the
    jar's score for them is exactly its 1.0 - fragPenalty (a positive factor below 1 here).

    Every test and reference word matched exactly as a content word gives precision and recall
    1.0 (0.75 a / 0.75 a) and F-mean 1 / ((1 - 0.85) / 1 + 0.85 / 1) = 1.0 (1 - 0.85 is exact).
    The fragmentation chunks / ((a + b) / 2) keeps its value with every count doubled (both
    divisions are correctly rounded values of the same fraction), which avoids the one-chunk
    case that computeMetrics treats as a perfect match. None if `stats` has no matches.
    """
    chunks, test_matches, ref_matches = stats[20], stats[21], stats[22]
    if chunks < 1 or test_matches < 1 or ref_matches < 1:
        return None
    k = 2 if chunks == 1 else 1
    a, b = k * test_matches, k * ref_matches
    return (a, b, 0, 0, a, b, 0, 0, *([0] * 12), k * chunks, a, b)


class _PhaseTimer:
    """Wall time per phase, for the debug log (where a run spends its time)."""

    def __init__(self):
        self._last = time.perf_counter()
        self.phases: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = now - self._last
        self._last = now

    def report(self) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in self.phases.items())


class MeteorPortError(RuntimeError):
    """An aligner worker process failed."""


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


class PortMeteor:
    """Scores one corpus with the ported aligner (see the module docstring).

    Args:
        workers: processes aligning at once (1: in this process).
        cache_dir: where the paraphrase index is cached (see meteor_paraphrase.py).
        paraphrase_table_text: a whole paraphrase table (uncompressed text in the jar's
            format) to use instead of the jar's data/paraphrase-en.gz, as the jar's `-a`
            (for tests at tiny scale).
    """

    def __init__(
        self,
        workers: int = 1,
        cache_dir: str | None = None,
        paraphrase_table_text: bytes | None = None,
    ):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.kept_entries = None
        self.jar_decided = 0  # hypotheses whose best reference the jar decided (near ties)
        self.last_statistics = None  # the chosen reference's statistics per hypothesis
        self._used = False
        self._stemmer = None
        self._evaluators: list[MeteorScorer] = []
        self._processes: list[subprocess.Popen] = []
        self._threads = ThreadPoolExecutor(max_workers=3)
        self._table_text = paraphrase_table_text
        self._index: Future | None = None
        if paraphrase_table_text is None:
            self._index = self._threads.submit(
                ParaphraseIndex.cached, ParaphraseIndex.jar_table(), cache_dir
            )
        self._synonyms: Future = self._threads.submit(
            lambda: (synonym_dictionary(), function_words())
        )
        try:
            self._stemmer = JarStemmer()
            # One: it answers a few hundred lines (distinct fragmentations, the corpus, ties).
            self._evaluators = [MeteorScorer(jvm_options=FAST_START_JVM_OPTIONS, eval_only=True)]
            if workers > 1:
                # Plain subprocesses, not multiprocessing: no fork of this (threaded) process
                # and no re-import of the caller's __main__. They start (and import) now,
                # while the caller tokenizes, then each gets its chunk as one pickle.
                self._processes = [
                    subprocess.Popen(
                        [sys.executable, str(Path(meteor_worker.__file__))],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                    )
                    for _ in range(workers)
                ]
        except BaseException:
            self.close()
            raise

    def _align_all(self, items: list, table: WordTable, paraphrases) -> list:
        parts = _split(len(items), max(1, len(self._processes)))
        if len(parts) < 2:
            with _IN_PROCESS:  # the aligner's context is per process
                meteor_aligner.set_context(table, paraphrases)
                return meteor_aligner.score_chunk(items)
        results: list = [None] * len(parts)

        columns = (table.key, table.stem_key, table.synsets, table.function)
        state = paraphrases.__getstate__() if paraphrases is not None else None

        def run(k, proc, start, end):
            data = pickle.dumps((columns, state, items[start:end]), pickle.HIGHEST_PROTOCOL)
            stdout, stderr = proc.communicate(data)
            if proc.returncode != 0:
                raise MeteorPortError(
                    f"METEOR aligner worker exited with {proc.returncode}: "
                    f"{stderr.decode(errors='replace')[-2000:]}"
                )
            results[k] = pickle.loads(stdout)
            _log.debug("worker %d: %s", k, stderr.decode(errors="replace").strip())

        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            futures = [
                pool.submit(run, k, proc, a, b)
                for k, (proc, (a, b)) in enumerate(zip(self._processes, parts))
            ]
            for f in futures:
                f.result()
        return [stats for part in results for stats in part]

    def _scores(self, decided: list) -> tuple[float, list[float]]:
        """(corpus score, per-item scores) as the jar's EVAL gives them for the chosen
        statistics.

        Near ties are decided by the jar's own scores (SING). A per-item score is
        fMean * (1.0 - fragPenalty): the F-mean is Python's (the same IEEE operations), and
        the factor (1.0 - fragPenalty, where Java's Math.pow comes in) depends only on the
        fragmentation, so the jar is asked once per distinct fragmentation, through a line
        whose F-mean is exactly 1.0 (see _unit_line): its score *is* the factor. The corpus
        score is the jar's for the statistics summed as EVAL sums them.
        """
        undecided = [k for k, (stats, _, _) in enumerate(decided) if stats is None]
        self.jar_decided = len(undecided)
        ties = self._jar_scores(sorted({s for k in undecided for s in decided[k][1]}))
        chosen, exact_score = [], []
        for stats, score, exact in decided:
            if stats is None:
                best, best_score = None, -1.0
                for candidate in score:  # the near-tie candidates, in reference order
                    if ties[candidate] > best_score:
                        best, best_score = candidate, ties[candidate]
                stats, score, exact = best, best_score, True
            chosen.append(stats)
            exact_score.append(score if exact else None)
        self.last_statistics = chosen
        # The factor of each distinct fragmentation, from the jar.
        needed = {}
        for stats, known in zip(chosen, exact_score):
            if known is None:
                fmean, frag = meteor_aligner.fmean_and_fragmentation(stats)
                needed.setdefault(frag, _unit_line(stats))
        asked = [line for line in needed.values() if line is not None]
        answers = self._jar_scores(sorted(set(asked) | {aggregate_stats(chosen)}))
        factors = {
            frag: answers[line]
            for frag, line in needed.items()
            if line is not None and answers[line] > 0.0
        }
        # Lines whose fragmentation could not be isolated (none in practice): the jar scores them.
        direct = sorted(
            {
                stats
                for stats, known in zip(chosen, exact_score)
                if known is None and meteor_aligner.fmean_and_fragmentation(stats)[1] not in factors
            }
        )
        answers.update(self._jar_scores(direct))
        per_item = []
        for stats, known in zip(chosen, exact_score):
            if known is not None:
                per_item.append(known)
                continue
            fmean, frag = meteor_aligner.fmean_and_fragmentation(stats)
            if frag in factors:
                per_item.append(meteor_aligner.score_from(fmean, factors[frag]))
            else:
                per_item.append(answers[stats])
        return answers[aggregate_stats(chosen)], per_item

    def _jar_scores(self, lines: list[tuple]) -> dict:
        """statistics -> the jar's score (SING), split over the evaluator JVMs."""
        if not lines:
            return {}
        parts = _split(len(lines), len(self._evaluators))
        results: list = [None] * len(parts)

        def run(k, a, b):
            results[k] = self._evaluators[k].single_scores([format_stats(s) for s in lines[a:b]])

        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            for f in [pool.submit(run, k, a, b) for k, (a, b) in enumerate(parts)]:
                f.result()
        return dict(zip(lines, [x for part in results for x in part]))

    def score(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]
    ) -> tuple[float, list[float]]:
        """(corpus METEOR, per-item METEOR) of tokenized captions, as coco-caption's
        Meteor.compute_score (the same numbers)."""
        if self._used:
            raise RuntimeError("a PortMeteor scores one corpus; make a new one")
        self._used = True
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
        if not hypotheses:
            raise ValueError("METEOR needs at least one hypothesis")
        timer = _PhaseTimer()
        hyp_fields = [java_trim(clean_hypothesis(h)) for h in hypotheses]
        ref_fields = [java_trim(clean_reference(r)) for refs in references for r in refs]
        normalized = normalize_lines(hyp_fields + ref_fields)
        timer("normalizer")
        word_id: dict[str, int] = {}
        lines = []
        for line in normalized:
            lines.append(tuple(word_id.setdefault(w, len(word_id)) for w in _words(line)))
        vocab = list(word_id)
        # The stemmer JVM works while this thread builds the rest of the word table and the
        # paraphrase table.
        stems = self._threads.submit(self._stemmer.stem, vocab)
        self._synonyms.result()
        if self._index is not None:
            index = self._index.result()
            timer("paraphrase index")
            entries, self.kept_entries = index.restricted_entries(
                lines[: len(hyp_fields)], lines[len(hyp_fields) :], vocab
            )
            paraphrases = meteor_aligner.Paraphrases.from_entries(entries)
        else:
            paraphrases = meteor_aligner.Paraphrases.from_table_text(self._table_text, word_id)
        timer("paraphrases")
        table = WordTable.build(vocab, stems)
        timer("word table (and stemmer)")
        items, start = [], len(hyp_fields)
        for k, refs in enumerate(references):
            items.append((lines[k], lines[start : start + len(refs)]))
            start += len(refs)
        decided = self._align_all(items, table, paraphrases)
        timer("alignments")
        result = self._scores(decided)
        timer("scores (jar)")
        _log.debug("PortMeteor phases (s): %s", timer.report())
        return result

    def close(self) -> None:
        if self._stemmer is not None:
            self._stemmer.close()
        for evaluator in self._evaluators:
            evaluator.kill()
        for proc in self._processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream and not stream.closed:
                    stream.close()
        self._threads.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
