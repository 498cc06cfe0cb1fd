"""METEOR 1.5 through a long-lived Java subprocess, speaking the jar's `-stdio` protocol exactly
as coco-caption does, so the scores are the reference's to the last digit.

Requests are pipelined (a thread writes every SCORE line while the caller reads the answers), not
one round trip per caption as in coco-caption; the jar answers them in order, one line each.
"""

import atexit
import subprocess
import threading
from collections.abc import Sequence

from vre_keras.caption_metrics.java import java_executable, meteor_jar


# EVAL computes scores with the module weights of `-l en` (1.0 0.6 0.8 0.6), one per module:
# four modules that load nothing (stem is Snowball, compiled in) keep all four weights while
# skipping the WordNet and paraphrase loading; `-m exact` alone would drop three weights and
# change the scores. The tests compare EVAL answers with a full JVM's.
EVAL_ONLY_OPTIONS = ["-m", "exact stem stem stem", "-w", "1.0 0.6 0.8 0.6"]


class MeteorError(RuntimeError):
    """The METEOR subprocess died or answered something that is not a score."""


def clean_hypothesis(sentence: str) -> str:
    """The hypothesis field as sent: coco-caption's cleaning ("|||" separates fields)."""
    # "\r" too: Java's readLine would end the request there (coco-caption would break).
    return sentence.replace("\n", " ").replace("\r", " ").replace("|||", "").replace("  ", " ")


def clean_reference(sentence: str) -> str:
    """A reference field as sent."""
    # coco-caption sends references as they are, so one holding "|||" or a line break would
    # break its request; we drop those (a no-op on every reference coco-caption can score).
    return sentence.replace("\n", " ").replace("\r", " ").replace("|||", "")


class MeteorScorer:
    """A running `java -jar meteor-1.5.jar - - -stdio -l en -norm` (coco-caption's command).

    Use as a context manager, or call close(); thread-safe (one request at a time).

    Args:
        max_heap: the JVM's -Xmx (coco-caption uses 2G).
        paraphrase_table: a gzip paraphrase table to use instead of the jar's
            data/paraphrase-en.gz (the jar's `-a`; see meteor_paraphrase.py).
        jvm_options: extra options for `java` (e.g. java.FAST_START_JVM_OPTIONS).
        eval_only: a JVM for EVAL / SING only (statistics -> scores), ready in ~0.3 s: it
            loads no synonyms or paraphrases (see EVAL_ONLY_OPTIONS); SCORE would be wrong.
    """

    def __init__(
        self,
        max_heap: str = "2G",
        paraphrase_table: str | None = None,
        jvm_options: Sequence[str] = (),
        eval_only: bool = False,
    ):
        jar = meteor_jar()
        cmd = [
            java_executable(),
            *jvm_options,
            "-jar",
            f"-Xmx{max_heap}",
            str(jar),
            "-",
            "-",
            "-stdio",
            "-l",
            "en",
            "-norm",
        ]
        if paraphrase_table is not None:
            cmd += ["-a", str(paraphrase_table)]
        if eval_only:
            cmd += EVAL_ONLY_OPTIONS
        # cwd: the jar finds data/paraphrase-en.gz relative to itself.
        self._proc = subprocess.Popen(
            cmd,
            cwd=str(jar.parent),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._lock = threading.Lock()

    def _request(self, line: str) -> None:
        try:
            self._proc.stdin.write((line + "\n").encode("utf-8"))
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise MeteorError(f"METEOR subprocess is not running: {self._stderr()}") from e

    def _read_line(self) -> str:
        raw = self._proc.stdout.readline()
        if not raw:
            raise MeteorError(f"METEOR subprocess exited: {self._stderr()}")
        return raw.decode("utf-8").strip()

    def _read_float(self) -> float:
        text = self._read_line()
        try:
            return float(text)
        except ValueError as e:
            raise MeteorError(f"METEOR answered {text!r} where a score was expected") from e

    def _stderr(self) -> str:
        if self._proc.poll() is None:
            return "(still running)"
        return self._proc.stderr.read().decode(errors="replace")[-2000:]

    def stats(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[str]:
        """The jar's sufficient statistics line of each item (its answer to SCORE)."""
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
        lines = [
            " ||| ".join(["SCORE"] + [clean_reference(r) for r in refs] + [clean_hypothesis(h)])
            for h, refs in zip(hypotheses, references)
        ]
        return self._pipelined(lines, self._read_line)

    def single_scores(self, stats: Sequence[str]) -> list[float]:
        """The jar's score of each statistics line on its own (SING: computeMetrics)."""
        return self._pipelined([f"SING ||| {line}" for line in stats], self._read_float)

    def _pipelined(self, requests: Sequence[str], read_answer) -> list:
        """Sends every request line and reads one answer per line with `read_answer`."""
        with self._lock:
            failure = []

            def write_all():
                try:
                    self._proc.stdin.write("".join(r + "\n" for r in requests).encode("utf-8"))
                    self._proc.stdin.flush()
                except (BrokenPipeError, ValueError, OSError) as e:
                    failure.append(e)

            # The jar answers while we still write: writing from another thread keeps both pipes
            # flowing (writing everything first could fill its output pipe and stall both).
            writer = threading.Thread(target=write_all, daemon=True)
            writer.start()
            try:
                return [read_answer() for _ in requests]
            finally:
                writer.join()
                if failure:
                    raise MeteorError(
                        f"METEOR subprocess is not running: {self._stderr()}"
                    ) from failure[0]

    def evaluate(self, stats: Sequence[str]) -> tuple[float, list[float]]:
        """(corpus METEOR, per-item METEOR) from statistics lines, as coco-caption's EVAL."""
        if not stats:
            raise ValueError("METEOR needs at least one hypothesis")
        with self._lock:
            self._request("EVAL ||| " + " ||| ".join(stats))
            per_item = [self._read_float() for _ in stats]
            return self._read_float(), per_item

    def score(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]):
        """Scores tokenized captions.

        Args:
            hypotheses: one tokenized hypothesis per item.
            references: the tokenized references of each item (at least one each).

        Returns:
            (corpus METEOR, list of per-item METEOR), as coco-caption's Meteor.compute_score.
        """
        if not hypotheses:
            raise ValueError("METEOR needs at least one hypothesis")
        return self.evaluate(self.stats(hypotheses, references))

    def is_running(self) -> bool:
        return self._proc.poll() is None

    def kill(self) -> None:
        """Ends the subprocess now (e.g. one still loading that will not be needed)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self.close()

    def close(self) -> None:
        """Ends the subprocess: closing its stdin lets the jar exit; kill if it lingers."""
        proc = self._proc
        if proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream and not stream.closed:
                stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_proc", None) is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


_shared = None
_shared_lock = threading.Lock()


def shared_meteor_scorer() -> MeteorScorer:
    """One MeteorScorer per process, started on first use and closed at exit.

    The jar takes seconds to load its paraphrase table, so long-lived callers (the TFMA combiner,
    which extracts one result per slice) share a single JVM instead of starting one per call.
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared._proc.poll() is not None:
            _shared = MeteorScorer()
            atexit.register(_shared.close)
        return _shared
