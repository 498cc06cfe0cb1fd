"""Tokenizer and vocabulary (§4.2): lower-case NLTK words, rare words -> <UNK>, <EOS>, <PAD>.

The vocabulary is saved as a text file, one token per line, line number = token id; the exported
SavedModel carries that file as an asset and maps ids back to words in-graph.
"""

import collections

import numpy as np

from vre_common import storage

PAD = "<PAD>"
BOS = "<BOS>"
EOS = "<EOS>"
UNK = "<UNK>"
# Ids fixed here, once. <BOS> is reserved but never fed: the decoder's input at t = 0 is the video
# representation o_i (Alg. 2), not a start token.
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(len(SPECIAL_TOKENS))


def _tokenizer():
    # The Treebank tokenizer is pure regular expressions: it needs no downloaded NLTK data
    # (unlike word_tokenize, which loads punkt).
    from nltk.tokenize import TreebankWordTokenizer

    return TreebankWordTokenizer()


def tokenize(caption: str) -> list[str]:
    """Lower-cases and splits a caption into words, dropping punctuation-only tokens.

    Args:
        caption: raw caption text.
    """
    if not isinstance(caption, str):
        raise TypeError(f"a caption must be str, got {type(caption).__name__}: {caption!r}")
    words = _tokenizer().tokenize(caption.lower())
    return [w for w in words if any(ch.isalnum() for ch in w)]


class Vocabulary:
    """Word <-> id mapping with the special tokens at fixed ids.

    Args:
        tokens: all tokens in id order; must start with SPECIAL_TOKENS.
    """

    def __init__(self, tokens):
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {SPECIAL_TOKENS}, got {tokens[:4]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary must not repeat tokens")
        for token in tokens:
            if not token or any(ch.isspace() for ch in token):
                raise ValueError(f"vocabulary token {token!r} is empty or has whitespace")
        self.tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}

    def __len__(self):
        return len(self.tokens)

    @classmethod
    def build(cls, captions, min_count: int = 3) -> "Vocabulary":
        """Counts words over `captions`; words seen fewer than `min_count` times are left out.

        Args:
            captions: iterable of raw caption strings.
            min_count: minimum number of occurrences of a kept word.
        """
        counts = collections.Counter()
        for caption in captions:
            counts.update(tokenize(caption))
        if not counts:
            raise ValueError("cannot build a vocabulary from no words")
        # Most frequent first, ties alphabetical, so the same corpus always gives the same ids.
        kept = sorted((w for w, n in counts.items() if n >= min_count),
                      key=lambda w: (-counts[w], w))
        return cls(list(SPECIAL_TOKENS) + [w for w in kept if w not in SPECIAL_TOKENS])

    def encode(self, caption: str, max_words: int) -> np.ndarray:
        """Token ids of a caption: at most `max_words` words, <EOS>, then <PAD> to max_words + 1.

        Args:
            caption: raw caption text.
            max_words: words kept (the paper keeps 15 and drops the rest).
        """
        words = tokenize(caption)[:max_words]
        ids = [self._ids.get(w, UNK_ID) for w in words] + [EOS_ID]
        ids += [PAD_ID] * (max_words + 1 - len(ids))
        return np.asarray(ids, dtype=np.int32)

    def decode(self, ids) -> str:
        """Words of `ids` up to the first <EOS> (or <PAD>), joined by spaces."""
        words = []
        for i in ids:
            i = int(i)
            if i in (EOS_ID, PAD_ID):
                break
            words.append(self.tokens[i] if 0 <= i < len(self.tokens) else UNK)
        return " ".join(words)

    def save(self, path) -> str:
        """Writes one token per line (line number = id); `path` may be remote (gs://)."""
        return storage.write_text(path, "\n".join(self.tokens) + "\n")

    @classmethod
    def load(cls, path) -> "Vocabulary":
        """Reads a file written by `save`; `path` may be remote (gs://)."""
        if not storage.isfile(path):
            raise FileNotFoundError(f"vocabulary file not found: {path}")
        return cls(storage.read_text(path).splitlines())
