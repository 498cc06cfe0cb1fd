"""coco-caption's tokenization: Stanford PTBTokenizer (lower-cased, one line per caption), then
removal of its punctuation tokens -- the jar's output, mostly without running the jar.

pycocoevalcap runs stanford-corenlp-3.4.1.jar (`-preserveLines -lowerCase`) on a file of one
caption per line. We give the same output lines, taken in this order:

1. Plain captions (ASCII letters, digits, spaces, inner hyphens; nearly all of MSVD and MSR-VTT)
   are tokenized in Python by rules proven on the lexer's grammar (ptb_fast.py, tested against
   the jar on every caption of both datasets).
2. The others are looked up in a file cache of the jar's earlier output (ptb_cache.py).
3. The rest go to the jar, in one JVM per call, with the lines the lexer can look ahead into.
4. If any caption holds "<" (the lexer's SGML tokens may then run over line breaks), the whole
   call goes to the jar as one file, the way pycocoevalcap does it.

What the lexer (PTBLexer.flex at v3.4.1) can see while tokenizing a line: no rule looks behind,
and no token crosses a line break except SGML ones (case 4), so a line's tokens start fresh after
the previous line's break and depend only on the line and what its rules' trailing contexts look
ahead into. Those that reach past the line's end are: one character (ACRO, FILENAME, SMILEY,
REDAUX, TBSPEC2...: the line break, or nothing at the end of the input), and, only after a
"." (ACRONYM, ABBREV1, ABBREV3), spaces and line breaks, then the next word and one character.
So a line whose last non-space character is not "." sees itself and the break after it; one that
ends in "." sees the following lines up to the first one with a non-space character, and the
break after that. That text is the line's cache key and what the jar is given for it.
"""

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vre_keras.caption_metrics import ptb_cache
from vre_keras.caption_metrics.java import (
    FAST_START_JVM_OPTIONS,
    java_executable,
    ptb_tokenizer_jar,
)
from vre_keras.caption_metrics.ptb_fast import plain_tokenize

# coco-caption's list (pycocoevalcap/tokenizer/ptbtokenizer.py): tokens dropped after tokenizing.
PUNCTUATIONS = frozenset(
    [
        "''",
        "'",
        "``",
        "`",
        "-LRB-",
        "-RRB-",
        "-LCB-",
        "-RCB-",
        ".",
        "?",
        "!",
        ",",
        ":",
        "-",
        "--",
        "...",
        ";",
    ]
)


class TokenizerError(RuntimeError):
    """The PTB tokenizer subprocess failed or returned an unexpected number of lines."""


def _one_line(sentence: str) -> str:
    # coco-caption replaces only "\n"; Java also ends lines at "\r" (and unicode separators),
    # which would shift every later caption onto the wrong id, so all line breaks become spaces.
    return " ".join(sentence.splitlines())


def remove_punctuation(tokenized_line: str) -> str:
    """Drops coco-caption's punctuation tokens from one space-separated PTB output line."""
    return " ".join(w for w in tokenized_line.rstrip().split(" ") if w not in PUNCTUATIONS)


# PTBLexer's SPACE class: what its trailing contexts skip before the next line's word.
_LEXER_SPACES = "".join(map(chr, [0x20, 0x09, 0xA0, *range(0x2000, 0x200B), 0x3000]))


def _lookahead_end(lines: list[str], i: int) -> int:
    """The last line the lexer can look into while tokenizing line i (module docstring)."""
    if not lines[i].rstrip(_LEXER_SPACES).endswith("."):
        return i
    j = i
    while j + 1 < len(lines):
        j += 1
        if lines[j].strip(_LEXER_SPACES):
            break
    return j


def _run_jar(text: str) -> list[str]:
    """The jar's output lines for `text` (lines joined by "\n"), punctuation removed."""
    cmd = [
        java_executable(),
        *FAST_START_JVM_OPTIONS,
        "-cp",
        str(ptb_tokenizer_jar()),
        "edu.stanford.nlp.process.PTBTokenizer",
        "-preserveLines",
        "-lowerCase",
    ]
    with tempfile.TemporaryDirectory(prefix="vre-ptb-") as tmp:
        path = Path(tmp) / "captions.txt"
        path.write_text(text, encoding="utf-8")
        proc = subprocess.run(cmd + [str(path)], capture_output=True, check=False)
    if proc.returncode != 0:
        raise TokenizerError(
            f"PTBTokenizer exited with {proc.returncode}: {proc.stderr.decode(errors='replace')}"
        )
    return [remove_punctuation(line) for line in proc.stdout.decode("utf-8").split("\n")]


def _jar_lines(lines: list[str], indices: list[int]) -> dict[int, tuple[str, str]]:
    """Line index -> (cache key, output) for `indices`, from one jar run on those lines and the
    lines they look ahead into (in their order; a final line break unless the input's end is
    included, so that every line is followed by what follows it in `lines`)."""
    spans = {i: _lookahead_end(lines, i) for i in indices}
    sent = sorted({k for i, j in spans.items() for k in range(i, j + 1)})
    text = "\n".join(lines[k] for k in sent)
    if sent[-1] != len(lines) - 1:
        text += "\n"
    out = _run_jar(text)
    if len(out) < len(sent):
        raise TokenizerError(f"PTBTokenizer returned {len(out)} lines for {len(sent)} captions")
    row = {k: n for n, k in enumerate(sent)}
    return {i: (_lookahead_key(lines, i, j), out[row[i]]) for i, j in spans.items()}


def _lookahead_key(lines: list[str], i: int, j: int) -> str:
    """Exactly the text the lexer can see from line i's start (module docstring)."""
    return "\n".join(lines[i : j + 1]) + ("\n" if j + 1 < len(lines) else "")


def tokenize(sentences: Sequence[str]) -> list[str]:
    """Tokenizes captions exactly as coco-caption's PTBTokenizer does.

    Args:
        sentences: raw captions (any unicode text; line breaks inside a caption are spaces).

    Returns:
        One string per caption: lower-cased PTB tokens joined by single spaces, punctuation
        removed; "" for a caption with no tokens left.

    Raises:
        TypeError: a caption is not a str (the message gives its position).
        JavaNotFoundError: no Java runtime, and some caption needs the jar.
        TokenizerError: the tokenizer failed.
    """
    sentences = list(sentences)
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"caption #{i} is {type(s).__name__}, not str: {s!r}")
    if not sentences:
        return []
    lines = [_one_line(s) for s in sentences]
    if any("<" in line for line in lines):
        out = _run_jar("\n".join(lines))
        if len(out) < len(lines):
            raise TokenizerError(
                f"PTBTokenizer returned {len(out)} lines for {len(lines)} captions"
            )
        return out[: len(lines)]
    out = plain_tokenize(lines)
    pending = [i for i, line in enumerate(out) if line is None]
    if not pending:
        return out
    directory = ptb_cache.cache_dir()
    path = None if directory is None else ptb_cache.cache_path(ptb_tokenizer_jar(), directory)
    if path is not None:
        keys = [_lookahead_key(lines, i, _lookahead_end(lines, i)) for i in pending]
        for i, cached in zip(pending, ptb_cache.lookup(path, keys)):
            out[i] = cached
        pending = [i for i in pending if out[i] is None]
    if pending:
        found = _jar_lines(lines, pending)
        for i, (_, line) in found.items():
            out[i] = line
        if path is not None:
            ptb_cache.store(path, dict(found.values()))
    return out


def tokenize_groups(groups: dict[str, Sequence[str]]) -> dict[str, list[str]]:
    """Tokenizes a dict of caption lists (e.g. references per video) in one call (one JVM at most).

    Args:
        groups: id -> captions.

    Returns:
        id -> tokenized captions, same order and lengths.
    """
    keys = list(groups)
    flat = [c for k in keys for c in groups[k]]
    tokens = tokenize(flat)
    out, start = {}, 0
    for k in keys:
        n = len(groups[k])
        out[k] = tokens[start : start + n]
        start += n
    return out
