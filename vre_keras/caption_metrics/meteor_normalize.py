"""The words METEOR 1.5 sees: its `-norm` Normalizer, in Python or run from meteor-1.5.jar.

`java -jar meteor-1.5.jar ... -norm` (coco-caption's call; punctuation kept) normalises each
trimmed SCORE field with edu.cmu.meteor.util.Normalizer (English, punctuation kept) and then
lower-cases it. `normalize_lines` is that class ported to Python's `re` (the jar's patterns with
Java's meanings spelled out: `\\s`, `\\p{Digit}` and `\\p{Lower}` are ASCII classes there),
~15x cheaper than the JVM (which spent 3.5-4.5 s CPU on 60,000 captions). `JarNormalizer` runs
the class itself in one subprocess; the tests compare the two on every caption of the MSVD and
MSR-VTT train/val annotations and the hand-picked cases.
"""

import functools
import re
import zipfile
from collections.abc import Sequence

from vre_keras.caption_metrics.java import lines_through, meteor_jar, start_meteor_class

# The class's character sets (Western European and Cyrillic letters), as in its constant pool.
_ALPHA = "A-Za-z\u0160\u017d\u0161\u017e\u0178\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017e" + (
    "\u0400-\u04ff\u0500-\u0527\ua640-\ua66e\ua67e-\ua697\u1d00-\u1d7f"
)
_ALNUM = "0-9" + _ALPHA
_JAVA_SPACE = " \t\n\x0b\f\r"  # Java's \\s without UNICODE_CHARACTER_CLASS
_SEP_OTHER = re.compile(f"([^{_ALNUM}{_JAVA_SPACE}.'`,\\-\u2018\u2019])")
_MULTI_DOT = re.compile(r"\.([.]+)")
_MULTI_DOT2 = re.compile(r"DOTMULTI\.([^.])")
_COMMA = re.compile("([^0-9]),([^0-9])")
_COMMA2 = re.compile("([0-9]),([^0-9])")
_COMMA3 = re.compile("([^0-9]),([0-9])")
_QUOTE = re.compile("([`\u2018\u2019])")
_QUOTE2 = re.compile("([\u201c\u201d]|'')")
_RM_DASH = re.compile(f"([{_ALNUM}.])-([{_ALNUM}])")
_CONT1 = re.compile(f"([^{_ALPHA}])'([^{_ALPHA}])")
_CONT2 = re.compile(f"([^{_ALPHA}0-9])'([{_ALPHA}])")
_CONT3 = re.compile(f"([{_ALPHA}])'([^{_ALPHA}])")
_CONT4 = re.compile(f"([{_ALPHA}])'([{_ALPHA}])")
_CONT5 = re.compile("([0-9])'(s)")
_NBP_ALPHA = re.compile(f"[{_ALPHA}]")
_WHITE = re.compile("[ \u2000-\u200a\u202f\u205f\u3000\u00a0]+")
_TOKEN_DELIMITERS = re.compile("[ \t\n\r\f]+")  # StringTokenizer's defaults
_NBP_ANY, _NBP_NUMERIC_ONLY = 1, 2


@functools.lru_cache(maxsize=1)
def _nonbreaking_prefixes() -> dict:
    """nonbreaking/english.prefixes of the jar: prefix -> NBP_ANY or NBP_NUM_ONLY."""
    with zipfile.ZipFile(meteor_jar()) as z:
        text = z.read("nonbreaking/english.prefixes").decode("utf-8")
    out = {}
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        tokens = [t for t in _TOKEN_DELIMITERS.split(line) if t]
        if not tokens or tokens[0].startswith("#"):
            continue
        numeric = len(tokens) > 1 and tokens[1] == "#NUMERIC_ONLY#"
        out[tokens[0]] = _NBP_NUMERIC_ONLY if numeric else _NBP_ANY
    return out


def normalize_line(line: str) -> str:
    """Normalizer.normalizeLine(line, LANG_EN, keepPunctuation=true), then toLowerCase()."""
    # Each step runs only when its trigger character is there (the same output, much less
    # work on typical captions).
    w = " " + line + " "
    w = _SEP_OTHER.sub(r" \1 ", w)
    if "." in w:
        w = _MULTI_DOT.sub(r" DOTMULTI\1", w)
        while "DOTMULTI." in w:
            w = _MULTI_DOT2.sub(r"DOTDOTMULTI \1", w)
            w = w.replace("DOTMULTI.", "DOTDOTMULTI")
    if "," in w:
        w = _COMMA.sub(r"\1 , \2", w)
        w = _COMMA2.sub(r"\1 , \2", w)
        w = _COMMA3.sub(r"\1 , \2", w)
    if "`" in w or "\u2018" in w or "\u2019" in w:
        w = _QUOTE.sub("'", w)
    if "'" in w or "\u201c" in w or "\u201d" in w:
        w = _QUOTE2.sub(' " ', w)
    if "-" in w or "\u2013" in w:
        w = w.replace("\u2013", "-").replace("--", "-")
        w = _RM_DASH.sub(r"\1 \2", w)
    if "'" in w:
        w = _CONT1.sub(r"\1 ' \2", w)
        w = _CONT2.sub(r"\1 ' \2", w)
        w = _CONT3.sub(r"\1 ' \2", w)
        w = _CONT4.sub(r"\1 '\2", w)
        w = _CONT5.sub(r"\1 '\2", w)
    words = [t for t in _TOKEN_DELIMITERS.split(w) if t]
    if "." not in w and "DOTMULTI" not in w:
        w = " ".join(words) + " " if words else ""
        return java_trim(_WHITE.sub(" ", w)).lower()
    nbp = _nonbreaking_prefixes()
    out = []
    for i, word in enumerate(words):
        if len(word) > 1 and word.endswith("."):
            pre = word[:-1]
            kind = nbp.get(pre)
            following = words[i + 1] if i < len(words) - 1 else None
            if "." in pre and _NBP_ALPHA.search(pre):
                out.append(word.replace(".", ""))
            elif (
                kind == _NBP_ANY
                or (following is not None and "a" <= following[0] <= "z")
                or kind == _NBP_NUMERIC_ONLY
                and following is not None
                and "0" <= following[0] <= "9"
            ):
                out.append(word)
            else:
                out.append(pre + " .")
        else:
            out.append(word)
        out.append(" ")
    w = "".join(out)
    while "DOTDOTMULTI" in w:
        w = w.replace("DOTDOTMULTI", "DOTMULTI.")
    w = w.replace("DOTMULTI", ".")
    w = java_trim(_WHITE.sub(" ", w))
    # The jar lower-cases with String.toLowerCase(); str.lower() agrees with it on the text the
    # equality tests cover (ASCII, Latin and Cyrillic letters, CJK).
    return w.lower()


def normalize_lines(lines: Sequence[str]) -> list[str]:
    """normalize_line of each line (what JarNormalizer.normalize returns, without a JVM).

    Raises:
        ValueError: a line holds "\\n" or "\\r" (the jar's line protocol cannot carry it).
    """
    for i, line in enumerate(lines):
        if "\n" in line or "\r" in line:
            raise ValueError(f"line #{i} holds a line break: {line!r}")
    return [normalize_line(line) for line in lines]


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
        self._proc = start_meteor_class("edu.cmu.meteor.util.Normalizer", "en", "true")

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
        out = lines_through(self._proc, lines, "METEOR's Normalizer", MeteorNormalizeError)
        # The jar lower-cases with String.toLowerCase() after normalising; str.lower() agrees
        # with it on the text the equality tests cover (ASCII and Latin / Cyrillic letters).
        return [line.lower() for line in out]

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
