"""METEOR 1.5 for one corpus, fast and equal to coco-caption's.

    with FastMeteor() as job:          # starts what it needs in the background
        ...                            # e.g. PTB tokenization meanwhile
        corpus, per_item = job.score(hyps, refs)

Two engines give the same numbers:

- "port" (default, meteor_port.py): the jar's aligner ported to Python, over worker processes;
  small JVMs only for the stemmer and for turning statistics into scores (Java's Math.pow).
- "jar" (`JarFastMeteor`, below): the jar itself, given only the paraphrase entries the corpus
  can match (so each JVM starts in ~2 s, not 10-40 s), several JVMs scoring parts of the corpus
  at once, the corpus score from one EVAL over all their statistics. Why this equals the single
  JVM with the full table: each item's SCORE statistics depend only on that item (the jar keeps
  no state between requests), the restricted table gives the same matches
  (meteor_paraphrase.py), and EVAL receives the same statistics lines in the same order.
"""

import errno
import gzip
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from vre_keras.caption_metrics.java import FAST_START_JVM_OPTIONS, meteor_jar
from vre_keras.caption_metrics.meteor import MeteorScorer, clean_hypothesis, clean_reference
from vre_keras.caption_metrics.meteor_normalize import JarNormalizer, java_trim
from vre_keras.caption_metrics.meteor_paraphrase import ParaphraseIndex
from vre_keras.caption_metrics.meteor_port import PortMeteor
from vre_keras.caption_metrics.meteor_resources import UnstemmableWordError

_log = logging.getLogger(__name__)
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


def _feed(fifo: Path, data: bytes, scorer: MeteorScorer, stop: threading.Event) -> None:
    """Writes `data` into the named pipe `fifo` once `scorer`'s JVM opens it for reading; gives
    up when that JVM exits or `stop` is set (so no thread waits forever)."""
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until a reader opened it
            break
        except OSError as e:
            if e.errno != errno.ENXIO or stop.is_set() or not scorer.is_running():
                return
            time.sleep(0.005)
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:  # the JVM died mid-read; its scorer reports that
        pass
    finally:
        os.close(fd)


ENGINES = ("port", "jar")


class FastMeteor:
    """Scores one corpus with coco-caption's METEOR 1.5 by either engine (module docstring).

    Args:
        workers: processes (port) or JVMs (jar) at once (default: the usable CPUs, at most
            MAX_WORKERS).
        cache_dir: where the paraphrase index is cached (default: VRE_METEOR_CACHE or
            ~/.cache/vre/meteor).
        engine: "port" or "jar".
    """

    def __init__(
        self, workers: int | None = None, cache_dir: str | None = None, engine: str = "port"
    ):
        if engine not in ENGINES:
            raise ValueError(f"unknown METEOR engine {engine!r}; choose from {list(ENGINES)}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.engine = engine
        self._workers = workers or default_workers()
        self._cache_dir = cache_dir
        if engine == "port":
            self._impl = PortMeteor(workers=self._workers, cache_dir=cache_dir)
        else:
            self._impl = JarFastMeteor(workers=self._workers, cache_dir=cache_dir)

    @property
    def kept_entries(self):
        """Paraphrase entries kept for the corpus (after score(); for reports and tests)."""
        return self._impl.kept_entries

    def paraphrase_index(self) -> ParaphraseIndex:
        return self._impl._index.result()

    def score(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]
    ) -> tuple[float, list[float]]:
        """(corpus METEOR, per-item METEOR) of tokenized captions, as coco-caption's
        Meteor.compute_score (the same numbers)."""
        try:
            return self._impl.score(hypotheses, references)
        except UnstemmableWordError as e:
            # A word with a control character at an end: only the jar itself can stem it.
            _log.warning("METEOR falls back to the jar engine: %s", e)
            self._impl.close()
            self.engine = "jar"
            self._impl = JarFastMeteor(workers=self._workers, cache_dir=self._cache_dir)
            return self._impl.score(hypotheses, references)

    def close(self) -> None:
        self._impl.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class JarFastMeteor:
    """Scores one corpus with coco-caption's METEOR 1.5 jar (see the module docstring).

    Everything that does not need the corpus starts at construction, so it runs while the
    caller tokenizes: loading the paraphrase index (a thread), the jar's Normalizer JVM, and
    the METEOR JVMs, which load their WordNet data and then wait on a named pipe for their
    paraphrase table. One FastMeteor scores one corpus; close() (or `with`) ends what is left.

    Args:
        workers: JVMs scoring at once (default: the usable CPUs, at most MAX_WORKERS).
        cache_dir: where the paraphrase index is cached (default: VRE_METEOR_CACHE or
            ~/.cache/vre/meteor).
    """

    def __init__(self, workers: int | None = None, cache_dir: str | None = None):
        self.workers = workers or default_workers()
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.kept_entries = None  # paraphrase entries given to the jar (for reports and tests)
        self._used = False
        self._stop = threading.Event()
        self._scorers: list[MeteorScorer] = []
        self._normalizer = None
        self._tmp = tempfile.TemporaryDirectory(prefix="vre-meteor-")
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._index: Future = self._pool.submit(
            ParaphraseIndex.cached, _paraphrase_table(), cache_dir
        )
        try:
            self._normalizer = JarNormalizer()
            self._fifos = [Path(self._tmp.name) / f"paraphrase-{k}.gz" for k in range(self.workers)]
            for fifo in self._fifos:
                os.mkfifo(fifo)
                self._scorers.append(
                    MeteorScorer(paraphrase_table=str(fifo), jvm_options=FAST_START_JVM_OPTIONS)
                )
        except BaseException:
            self.close()
            raise

    def score(
        self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]
    ) -> tuple[float, list[float]]:
        """(corpus METEOR, per-item METEOR) of tokenized captions, as coco-caption's
        Meteor.compute_score (the same numbers)."""
        if self._used:
            raise RuntimeError("a FastMeteor scores one corpus; make a new one")
        self._used = True
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
        if not hypotheses:
            raise ValueError("METEOR needs at least one hypothesis")
        # The fields exactly as the jar will read them (it trims each before normalising).
        hyp_fields = [java_trim(clean_hypothesis(h)) for h in hypotheses]
        ref_fields = [java_trim(clean_reference(r)) for refs in references for r in refs]
        normalized = self._normalizer.normalize(hyp_fields + ref_fields)
        text, self.kept_entries = self._index.result().restricted_table(
            normalized[: len(hyp_fields)], normalized[len(hyp_fields) :]
        )
        table = gzip.compress(text, compresslevel=1)
        parts = _split(len(hypotheses), self.workers)
        for surplus in self._scorers[len(parts) :]:
            surplus.kill()
        scorers = self._scorers[: len(parts)]
        for fifo, scorer in zip(self._fifos, scorers):
            threading.Thread(
                target=_feed, args=(fifo, table, scorer, self._stop), daemon=True
            ).start()
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

    def close(self) -> None:
        """Ends the JVMs and threads that are left and removes the named pipes."""
        self._stop.set()
        for scorer in self._scorers:
            # Killed, not asked to exit: one may still wait on its pipe (a failed score()), and
            # once the answers are read there is nothing left to flush.
            scorer.kill()
        if self._normalizer is not None:
            self._normalizer.close()
        self._pool.shutdown(wait=True)
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
