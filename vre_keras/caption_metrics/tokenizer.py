"""coco-caption's tokenization: Stanford PTBTokenizer (lower-cased, one line per caption), then
removal of its punctuation tokens.

We run the same stanford-corenlp-3.4.1.jar as pycocoevalcap, in one batch subprocess per call,
rather than re-implementing the PTB lexer: its rules (quotes, brackets, contractions, unicode
dashes, abbreviations) are many, and only the jar itself is exact by construction.
"""

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vre_keras.caption_metrics.java import (
    FAST_START_JVM_OPTIONS,
    java_executable,
    ptb_tokenizer_jar,
)

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


def tokenize(sentences: Sequence[str]) -> list[str]:
    """Tokenizes captions exactly as coco-caption's PTBTokenizer does.

    Args:
        sentences: raw captions (any unicode text; line breaks inside a caption are spaces).

    Returns:
        One string per caption: lower-cased PTB tokens joined by single spaces, punctuation
        removed; "" for a caption with no tokens left.

    Raises:
        TypeError: a caption is not a str (the message gives its position).
        JavaNotFoundError: no Java runtime.
        TokenizerError: the tokenizer failed.
    """
    sentences = list(sentences)
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"caption #{i} is {type(s).__name__}, not str: {s!r}")
    if not sentences:
        return []
    text = "\n".join(_one_line(s) for s in sentences)
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
    lines = proc.stdout.decode("utf-8").split("\n")
    if len(lines) < len(sentences):
        raise TokenizerError(
            f"PTBTokenizer returned {len(lines)} lines for {len(sentences)} captions"
        )
    return [remove_punctuation(line) for line in lines[: len(sentences)]]


def tokenize_groups(groups: dict[str, Sequence[str]]) -> dict[str, list[str]]:
    """Tokenizes a dict of caption lists (e.g. references per video) in one subprocess call.

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
