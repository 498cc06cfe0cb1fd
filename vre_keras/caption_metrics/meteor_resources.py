"""The word-level facts METEOR 1.5 aligns with, read from meteor-1.5.jar itself, per corpus word.

For each distinct word of a corpus (the jar's normalised, lower-cased words) we need what the
jar's aligner looks at: the word's `String.hashCode()` (the jar compares words by hash, so a
hash collision is an "exact" match there too), the hash of its Snowball stem, its WordNet synset
ids (its own and those of its base forms: SynonymDictionary.getSynSets + getStemSynSets), and
whether it is a function word. The stems come from the jar's own `Stemmer` class run once over
the corpus's words in one JVM (~0.2 s), so they are the jar's by construction; the synonym and
function-word files are read from the jar's resources. No library reads these files.
"""

import functools
import zipfile
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from vre_keras.caption_metrics.java import lines_through, meteor_jar, start_meteor_class


class MeteorResourceError(RuntimeError):
    """A resource of the jar is missing or the jar's Stemmer failed."""


class UnstemmableWordError(ValueError):
    """A word the jar's Stemmer class cannot take through its line protocol (see JarStemmer)."""


def java_string_hash(word: str) -> int:
    """java.lang.String.hashCode(): s[0]*31^(n-1) + ... over UTF-16 code units, as a signed int32."""
    h = 0
    if word.isascii():
        for ch in word:
            h = (31 * h + ord(ch)) & 0xFFFFFFFF
    else:
        data = word.encode("utf-16-le", "surrogatepass")
        for k in range(0, len(data), 2):
            h = (31 * h + (data[k] | data[k + 1] << 8)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def _utf16_length(word: str) -> int:
    return len(word) if word.isascii() else len(word.encode("utf-16-le", "surrogatepass")) // 2


def _java_lines(data: bytes) -> list[str]:
    """BufferedReader.readLine over UTF-8 bytes: lines end at \\n, \\r or \\r\\n."""
    text = data.decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1] if text else []


# WordNet 3's morphology suffixes as SynonymDictionary.morph uses them (nouns, verbs, adjectives).
_SUFFIXES = (
    ("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
    ("men", "man"), ("ies", "y"),
    ("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
    ("ing", ""),
    ("er", ""), ("est", ""), ("er", "e"), ("est", "e"),
)  # fmt: skip


class SynonymDictionary:
    """The jar's synonym/english.synsets and english.exceptions (SynonymDictionary.java)."""

    def __init__(self, synsets: dict[str, frozenset], bases: dict[str, list[str]]):
        self._synsets = synsets
        self._bases = bases

    @classmethod
    def from_jar(cls) -> "SynonymDictionary":
        with zipfile.ZipFile(meteor_jar()) as z:
            try:
                exceptions = _java_lines(z.read("synonym/english.exceptions"))
                synset_lines = _java_lines(z.read("synonym/english.synsets"))
            except KeyError as e:
                raise MeteorResourceError(f"meteor-1.5.jar lacks {e}") from e
        bases: dict[str, list[str]] = {}
        for base, forms in zip(exceptions[0::2], exceptions[1::2]):
            for form in forms.split():
                bases.setdefault(form, []).append(base)
        # A word listed twice keeps its last line (Hashtable.put).
        synsets = {
            word: frozenset(int(x) for x in ids.split())
            for word, ids in zip(synset_lines[0::2], synset_lines[1::2])
        }
        return cls(synsets, bases)

    def _morph(self, word: str) -> str:
        # Kept as the jar has it: "ful" is remembered and appended to whatever base is found,
        # though the suffix search itself runs on the whole word.
        end = "ful" if word.endswith("ful") else ""
        if word.endswith("ss") or _utf16_length(word) <= 2:
            return word
        for suffix, replacement in _SUFFIXES:
            if word.endswith(suffix):
                candidate = word[: len(word) - len(suffix)] + replacement
                if candidate in self._synsets:
                    return candidate + end
        return ""

    def synsets_of(self, word: str) -> frozenset:
        """getSynSets(word) | getStemSynSets(word): what SynonymMatcher compares."""
        empty = frozenset()
        own = self._synsets.get(word, empty)
        bases = self._bases.get(word)
        if bases is not None:
            stem_sets = frozenset().union(*(self._synsets.get(b, empty) for b in bases))
        else:
            stem_sets = self._synsets.get(self._morph(word), empty)
        return own | stem_sets


@functools.lru_cache(maxsize=1)
def synonym_dictionary() -> SynonymDictionary:
    """The jar's synonym dictionary, read once per process (~1 s)."""
    return SynonymDictionary.from_jar()


@functools.lru_cache(maxsize=1)
def function_words() -> frozenset:
    """function/english.words of the jar (the aligner's function-word list)."""
    with zipfile.ZipFile(meteor_jar()) as z:
        return frozenset(_java_lines(z.read("function/english.words")))


class JarStemmer:
    """The jar's `Stemmer en` (its Snowball English stemmer) in a JVM started now; `stem` then
    sends all words at once. One use.

    The class skips tokens made only of digits, ',', '.' and '-' (`isNumber`); the aligner stems
    them, but Snowball English leaves such tokens unchanged (no letters), so the result is the
    same. It prints trimmed lines, so a word with a character <= U+0020 at an end could come back
    changed: such words are refused (`stem` raises UnstemmableWordError) rather than guessed.
    """

    def __init__(self):
        self._proc = start_meteor_class("Stemmer", "en")

    def stem(self, words: Sequence[str]) -> list[str]:
        for w in words:
            if not w or w[0] <= " " or w[-1] <= " " or any(c in w for c in " \t\n\r\f"):
                self.close()
                raise UnstemmableWordError(
                    f"cannot stem {w!r} through the jar's Stemmer line protocol"
                )
        return lines_through(self._proc, words, "METEOR's Stemmer", MeteorResourceError)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream and not stream.closed:
                stream.close()


@dataclass
class WordTable:
    """Per distinct word (by id): what the aligner compares. Lists indexed by word id.

    Attributes:
        words: the words.
        key: String.hashCode() of the word (exact matching compares these).
        stem_key: String.hashCode() of its stem.
        synsets: its synset ids (frozenset; empty for most punctuation).
        function: whether it is a function word.
    """

    words: list
    key: list
    stem_key: list
    synsets: list
    function: list

    @classmethod
    def build(cls, words: Sequence[str], stems: Future) -> "WordTable":
        """The table of `words`; `stems` (a future of their stems, e.g. from JarStemmer in a
        thread) is waited for last, after everything that does not need it."""
        synonyms = synonym_dictionary()
        func = function_words()
        key = [java_string_hash(w) for w in words]
        synsets = [synonyms.synsets_of(w) for w in words]
        # The aligner checks word.toLowerCase(); the words are lower case already.
        function = [w in func for w in words]
        stem_key = [java_string_hash(s) for s in stems.result()]
        return cls(list(words), key, stem_key, synsets, function)
