"""The words METEOR 1.5 sees: its own `-norm` Normalizer, run from meteor-1.5.jar.

`java -jar meteor-1.5.jar ... -norm` (coco-caption's call; punctuation kept) normalises each
trimmed SCORE field with edu.cmu.meteor.util.Normalizer and then lower-cases it. We run that same
class on all lines in one subprocess (no paraphrase table to load: about a second) instead of
re-implementing its regular expressions, so the words are the jar's by construction.
"""

import subprocess
from collections.abc import Sequence

from vre_keras.caption_metrics.java import java_executable, meteor_jar


class MeteorNormalizeError(RuntimeError):
    """The jar's Normalizer failed or returned an unexpected number of lines."""


def java_trim(text: str) -> str:
    """String.trim(): drops every character <= U+0020 at both ends (the jar trims SCORE fields)."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


class JarNormalizer:
    """The jar's Normalizer in a subprocess started now (its JVM starts while the caller does
    other work, e.g. PTB tokenization); `normalize` then feeds it all lines at once. One use."""

    def __init__(self):
        cmd = [
            java_executable(),
            "-Dfile.encoding=UTF-8",
            "-Dstdout.encoding=UTF-8",
            "-cp",
            str(meteor_jar()),
            "edu.cmu.meteor.util.Normalizer",
            "en",
            "true",
        ]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def normalize(self, lines: Sequence[str]) -> list[str]:
        """Each line as the jar scores it: Normalizer.normalizeLine(line, en, keep punctuation),
        lower-cased.

        Raises:
            ValueError: a line holds "\\n" or "\\r" (the jar's line protocol cannot carry it).
            MeteorNormalizeError: the subprocess failed.
        """
        for i, line in enumerate(lines):
            if "\n" in line or "\r" in line:
                self.close()
                raise ValueError(f"line #{i} holds a line break: {line!r}")
        text = "".join(line + "\n" for line in lines)
        stdout, stderr = self._proc.communicate(text.encode("utf-8"))
        if self._proc.returncode != 0:
            raise MeteorNormalizeError(
                f"METEOR's Normalizer exited with {self._proc.returncode}: "
                f"{stderr.decode(errors='replace')[-2000:]}"
            )
        out = stdout.decode("utf-8").split("\n")
        if len(out) != len(lines) + 1 or out[-1] != "":
            raise MeteorNormalizeError(
                f"METEOR's Normalizer returned {len(out) - 1} lines for {len(lines)}"
            )
        # The jar lower-cases with String.toLowerCase() after normalising; str.lower() agrees
        # with it on the text the equality tests cover (ASCII and Latin / Cyrillic letters).
        return [line.lower() for line in out[:-1]]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream and not stream.closed:
                stream.close()


def meteor_normalize(lines: Sequence[str]) -> list[str]:
    """JarNormalizer().normalize(lines): the jar's words of each line (see there)."""
    normalizer = JarNormalizer()
    try:
        return normalizer.normalize(lines)
    finally:
        normalizer.close()
