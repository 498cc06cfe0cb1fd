"""METEOR 1.5's paraphrase table cut down to what one corpus can match, so its JVM starts in ~2 s.

meteor-1.5.jar reads all 5.3 million entries of data/paraphrase-en.gz (272 MB of text) into a
transducer at start-up: 10-40 s on a shared 2-core machine, more than the scoring of a whole
MSR-VTT test split. An entry (phrase -> paraphrase) only ever produces a match when its phrase
occurs as consecutive words of one line of a pair and its paraphrase as consecutive words of the
other (ParaphraseMatcher.java, both directions), where the words are the jar's own normalised,
lower-cased words (looked up by exact string equality). So the jar, given (with its `-a` option)
only the entries whose phrase is an n-gram of some hypothesis and whose paraphrase an n-gram of
some reference, or the other way round, in their original order, finds exactly the same matches
in the same order and gives the same scores. The n-grams are hashed; a collision only keeps an
extra entry, never drops one. The words come from the jar's own Normalizer class
(`meteor_normalize.py`), so they are the jar's by construction.

Reading the gzip file in Python costs ~30-70 s, so it is indexed once into a cache
(`VRE_METEOR_CACHE`, default ~/.cache/vre/meteor; keyed by the table's size and mtime). No
library does this: it is specific to the jar's file format (ParaphraseTransducer.java).
"""

import array
import gzip
import itertools
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_FORMAT = 4
_PRIME = np.uint64(1_000_000_007)  # n-gram hash: h = h * P + (word id + 1), modulo 2**64
_FILTER_BITS = 26
_FILTER_MASK = np.uint64((1 << _FILTER_BITS) - 1)
_log = logging.getLogger(__name__)
# The jar splits normalised lines into words with java.util.StringTokenizer's default delimiters.
_JAVA_WORD_DELIMITERS = re.compile("[ \t\n\r\f]+")


class ParaphraseTableError(RuntimeError):
    """The paraphrase table is not in the layout the jar reads (three lines per entry)."""


def _hash_rows(ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The hash of each run ids[start : start + length] (uint64, wrapping)."""
    keys = np.zeros(len(starts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(int(lengths.max(initial=0))):
            rows = np.flatnonzero(lengths > j)
            keys[rows] = keys[rows] * _PRIME + (ids[starts[rows] + j].astype(np.uint64) + 1)
    return keys


class ParaphraseIndex:
    """Every entry of paraphrase-en.gz as the hashes of its phrase and its paraphrase.

    Attributes:
        vocab: the distinct words (UTF-8 bytes), in order of first appearance.
        word_ids: all entries' words, phrase then paraphrase, concatenated (uint16 or uint32).
        phrase_lengths / paraphrase_lengths: words per entry on each side (uint8).
        unique_keys: the sorted distinct n-gram hashes of all phrases and paraphrases (uint64).
        phrase_uid / paraphrase_uid: each entry's sides as indices into unique_keys.
    """

    def __init__(
        self,
        vocab,
        word_ids,
        phrase_lengths,
        paraphrase_lengths,
        unique_keys=None,
        phrase_uid=None,
        paraphrase_uid=None,
        starts=None,
        filter_bits=None,
    ):
        self.vocab = vocab
        self.word_ids = word_ids
        self.phrase_lengths = phrase_lengths
        self.paraphrase_lengths = paraphrase_lengths
        lengths = phrase_lengths.astype(np.int64) + paraphrase_lengths
        if starts is None:
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.starts = starts
        if unique_keys is None:
            keys = np.concatenate(
                [
                    _hash_rows(word_ids, self.starts, phrase_lengths),
                    _hash_rows(word_ids, self.starts + phrase_lengths, paraphrase_lengths),
                ]
            )
            unique_keys, inverse = np.unique(keys, return_inverse=True)
            phrase_uid = inverse[: len(lengths)].astype(np.uint32)
            paraphrase_uid = inverse[len(lengths) :].astype(np.uint32)
        # Sorted distinct side hashes, and each entry's phrase / paraphrase as an index into
        # them: a corpus's few n-grams are then looked up in them, not 10 million keys in those.
        self.unique_keys = unique_keys
        self.phrase_uid = phrase_uid
        self.paraphrase_uid = paraphrase_uid
        self._word_id = None
        self._filter_bits = filter_bits

    @classmethod
    def parse(cls, table: Path) -> "ParaphraseIndex":
        """Reads the gzip file as ParaphraseTransducer does (a line it ignores, then the phrase,
        then the paraphrase; words split at " \\t\\n\\r\\f")."""
        data = gzip.decompress(table.read_bytes())
        # Java's readLine also ends lines at "\r"; bytes.split() also splits at "\x0b", which
        # StringTokenizer does not. Neither occurs in the shipped table; refuse rather than guess.
        if b"\r" in data or b"\x0b" in data:
            raise ParaphraseTableError(f"{table}: holds \\r or \\x0b; not indexed")
        lines = data.split(b"\n")
        del data
        if lines and lines[-1] == b"":
            lines.pop()
        if len(lines) % 3:
            raise ParaphraseTableError(
                f"{table}: {len(lines)} lines, not three per entry as the jar reads them"
            )
        vocab: dict[bytes, int] = {}
        get = vocab.setdefault
        ids = array.array("I")  # 32 million words: a list of ints would need ~1 GB
        phrase_lengths, paraphrase_lengths = array.array("B"), array.array("B")
        for phrase, paraphrase in zip(lines[1::3], lines[2::3]):
            left, right = phrase.split(), paraphrase.split()
            if len(left) > 255 or len(right) > 255:
                raise ParaphraseTableError(f"{table}: a phrase of more than 255 words")
            ids.extend(get(w, len(vocab)) for w in left)
            ids.extend(get(w, len(vocab)) for w in right)
            phrase_lengths.append(len(left))
            paraphrase_lengths.append(len(right))
        word_ids = np.frombuffer(ids, dtype=np.uint32)
        if len(vocab) <= np.iinfo(np.uint16).max:  # 43,139 words in the shipped table
            word_ids = word_ids.astype(np.uint16)
        return cls(
            list(vocab),
            word_ids,
            np.frombuffer(phrase_lengths, dtype=np.uint8),
            np.frombuffer(paraphrase_lengths, dtype=np.uint8),
        )

    _ARRAYS = (
        "word_ids",
        "phrase_lengths",
        "paraphrase_lengths",
        "unique_keys",
        "phrase_uid",
        "paraphrase_uid",
        "starts",
        "filter_bits",
    )

    def save(self, path: Path) -> None:
        """A folder of .npy files (memory-mapped by `load`: a run reads only the pages it
        needs, not ~150 MB), written beside `path` and renamed into place atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, suffix=".tmp"))
        try:
            (tmp / "vocab.bin").write_bytes(b"\n".join(self.vocab))
            arrays = {name: getattr(self, name) for name in self._ARRAYS[:-1]}
            arrays["filter_bits"] = self.filter_bits()
            for name, array in arrays.items():
                np.save(tmp / f"{name}.npy", array)
            try:
                os.rename(tmp, path)  # atomic: a reader sees no folder or a complete one
            except OSError:
                if not path.is_dir():  # else another process cached it first
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, path: Path) -> "ParaphraseIndex":
        # Plain ndarray views of the maps (no copy; pages are still read on demand): slicing a
        # np.memmap goes through its Python-level __getitem__, ~3 us per slice.
        arrays = {
            name: np.asarray(np.load(path / f"{name}.npy", mmap_mode="r")) for name in cls._ARRAYS
        }
        return cls((path / "vocab.bin").read_bytes().split(b"\n"), **arrays)

    @staticmethod
    def jar_table() -> Path:
        """The table meteor-1.5.jar reads by default (data/paraphrase-en.gz beside it)."""
        from vre_keras.caption_metrics.java import meteor_jar

        return meteor_jar().parent / "data" / "paraphrase-en.gz"

    @classmethod
    def cached(cls, table: Path, cache_dir: Path | None = None) -> "ParaphraseIndex":
        """The index of `table` from the cache, built (30-70 s, once) when missing or stale."""
        cache_dir = Path(
            cache_dir
            or os.environ.get("VRE_METEOR_CACHE")
            or Path.home() / ".cache" / "vre" / "meteor"
        )
        stat = table.stat()
        path = cache_dir / f"{table.stem}-{stat.st_size}-{stat.st_mtime_ns}-v{_FORMAT}"
        if path.is_dir():
            try:
                return cls.load(path)
            except (OSError, ValueError, KeyError) as e:
                _log.warning("rebuilding unreadable paraphrase index %s: %s", path, e)
                shutil.rmtree(path, ignore_errors=True)
        _log.warning("indexing METEOR's paraphrase table %s once (30-70 s) into %s", table, path)
        index = cls.parse(table)
        try:
            index.save(path)
        except OSError as e:  # a read-only home still scores, just without the cache
            _log.warning("could not cache the paraphrase index at %s: %s", path, e)
        return index

    def _word_ids(self) -> dict:
        if self._word_id is None:
            self._word_id = {w.decode("utf-8"): i for i, w in enumerate(self.vocab)}
        return self._word_id

    def ngram_keys(self, lines: Sequence[str]) -> np.ndarray:
        """The hashes of every n-gram (n up to the longest phrase) of the jar's lower-cased,
        normalised `lines` whose words all occur in the table (others can match nothing)."""
        get = self._word_ids().get
        # "\x00" between lines: no word of the table, so n-grams do not cross lines (were it
        # one, the extra n-grams would only keep extra entries).
        words = _JAVA_WORD_DELIMITERS.split(" \x00 ".join(lines))
        return self._keys_of(np.array([get(w, -1) for w in words if w], dtype=np.int64))

    def _keys_of(self, ids: np.ndarray) -> np.ndarray:
        """ngram_keys of table word ids, -1 for a word the table lacks or a line break."""
        longest = int(
            max(self.phrase_lengths.max(initial=0), self.paraphrase_lengths.max(initial=0))
        )
        keys, out = np.zeros(len(ids), dtype=np.uint64), []
        valid = np.ones(len(ids), dtype=bool)
        with np.errstate(over="ignore"):
            for n in range(1, longest + 1):
                # keys[i] is the hash of ids[i : i + n]; valid[i] if none of them is unknown.
                tail = ids[n - 1 :]
                keys = keys[: len(tail)] * _PRIME + (tail.astype(np.uint64) + 1)
                valid = valid[: len(tail)] & (tail >= 0)
                if not valid.any():
                    break
                out.append(keys[valid])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.uint64)

    def restricted_entries(
        self,
        hypothesis_lines: Sequence[Sequence[int]],
        reference_lines: Sequence[Sequence[int]],
        vocab: Sequence[str],
    ) -> tuple[list, int]:
        """restricted_table for lines given as ids into `vocab` (the corpus's words): the kept
        entries as (phrase, paraphrase) tuples of corpus word ids, in table order, without
        those holding a word the corpus lacks (they can match nothing), and the number kept."""
        get = self._word_ids().get
        to_table = np.array([get(w, -1) for w in vocab] + [-1], dtype=np.int64)
        line_break = len(vocab)  # maps to -1, as "\x00" does in ngram_keys

        def keys(lines):
            flat = np.fromiter(
                itertools.chain.from_iterable((*line, line_break) for line in lines),
                dtype=np.int64,
            )
            return self._keys_of(to_table[flat])

        in_hyp = self._occurs(keys(hypothesis_lines))
        in_ref = self._occurs(keys(reference_lines))
        keep = (in_hyp[self.phrase_uid] & in_ref[self.paraphrase_uid]) | (
            in_ref[self.phrase_uid] & in_hyp[self.paraphrase_uid]
        )
        kept = np.flatnonzero(keep)
        to_corpus = np.full(len(self.vocab), -1, dtype=np.int64)
        known = to_table[:-1] >= 0
        to_corpus[to_table[:-1][known]] = np.flatnonzero(known)
        # All kept entries' words in one gather: positions start .. start + length of each.
        lengths = self.phrase_lengths[kept].astype(np.int64) + self.paraphrase_lengths[kept]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        positions = np.repeat(self.starts[kept] - offsets[:-1], lengths) + np.arange(offsets[-1])
        words = to_corpus[self.word_ids[positions]].tolist()
        entries = []
        for begin, split, end in zip(
            offsets[:-1].tolist(),
            (offsets[:-1] + self.phrase_lengths[kept]).tolist(),
            offsets[1:].tolist(),
        ):
            span = words[begin:end]
            if -1 not in span:
                entries.append((tuple(span[: split - begin]), tuple(span[split - begin :])))
        return entries, len(kept)

    def filter_bits(self) -> np.ndarray:
        """Bit table (little-endian bits, uint8) of which low _FILTER_BITS bits of a key occur
        among unique_keys."""
        if self._filter_bits is None:
            table = np.zeros(1 << _FILTER_BITS, dtype=bool)
            table[self.unique_keys & _FILTER_MASK] = True
            self._filter_bits = np.packbits(table, bitorder="little")
        return self._filter_bits

    def _occurs(self, keys: np.ndarray) -> np.ndarray:
        """Mask over unique_keys: which of them are among `keys`."""
        # Most of a corpus's n-grams are in no entry: a bit table of the keys' low bits drops
        # them before the (cache-missing) binary search.
        bits = self.filter_bits()
        low = keys & _FILTER_MASK
        keys = keys[(bits[low >> np.uint64(3)] >> (low & np.uint64(7)).astype(np.uint8)) & 1 == 1]
        mask = np.zeros(len(self.unique_keys), dtype=bool)
        pos = np.searchsorted(self.unique_keys, keys)
        inside = pos < len(self.unique_keys)
        pos, keys = pos[inside], keys[inside]
        mask[pos[self.unique_keys[pos] == keys]] = True
        # An empty side (hash 0) "occurs" everywhere: the jar matches an empty paraphrase at
        # every position of a non-empty line (an empty phrase never matches; keeping it is safe).
        if len(self.unique_keys) and self.unique_keys[0] == 0:
            mask[0] = True
        return mask

    def restricted_table(
        self, hypothesis_lines: Sequence[str], reference_lines: Sequence[str]
    ) -> tuple[bytes, int]:
        """The table's text (uncompressed) holding only the entries that can match between a
        hypothesis and a reference (jar-normalised, lower-cased lines), in their original order,
        and the number of entries kept; the line the jar ignores is written as "0"."""
        in_hyp = self._occurs(self.ngram_keys(hypothesis_lines))
        in_ref = self._occurs(self.ngram_keys(reference_lines))
        keep = (in_hyp[self.phrase_uid] & in_ref[self.paraphrase_uid]) | (
            in_ref[self.phrase_uid] & in_hyp[self.paraphrase_uid]
        )
        vocab, ids, out = self.vocab, self.word_ids, []
        kept = np.flatnonzero(keep)
        for e, start, split, end in zip(
            kept.tolist(),
            self.starts[kept].tolist(),
            (self.starts[kept] + self.phrase_lengths[kept]).tolist(),
            (
                self.starts[kept] + self.phrase_lengths[kept] + self.paraphrase_lengths[kept]
            ).tolist(),
        ):
            out.append(
                b"0\n%s\n%s\n"
                % (
                    b" ".join(vocab[i] for i in ids[start:split].tolist()),
                    b" ".join(vocab[i] for i in ids[split:end].tolist()),
                )
            )
        return b"".join(out), len(kept)


def write_restricted_table(
    index: ParaphraseIndex,
    hypothesis_lines: Sequence[str],
    reference_lines: Sequence[str],
    path: Path,
) -> int:
    """Writes the gzip table the jar needs for these (jar-normalised, lower-cased) lines to
    `path`; returns the number of entries kept."""
    text, kept = index.restricted_table(hypothesis_lines, reference_lines)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(text)
    return kept
