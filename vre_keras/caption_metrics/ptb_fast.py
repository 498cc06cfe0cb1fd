"""The PTB tokenizer's output, without a JVM, for the captions where it is provably the jar's.

coco-caption runs `edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase` of
stanford-corenlp-3.4.1 (a JFlex lexer, PTBLexer.flex at tag v3.4.1 of stanfordnlp/CoreNLP) on
one caption per line. For a caption made only of ASCII letters, digits, spaces and hyphens
between letters/digits (`plain words`, e.g. "a man cannot ride a low-budget bike") that output is:
the words lower-cased, joined by single spaces, with "cannot" split as "can not" and
"gonna" / "gotta" / "lemme" / "gimme" / "wanna" as "gon na", "got ta", ... (case-insensitive,
only as whole words) -- unless two neighbouring words both start with a digit.

Why (the lexer as the jar runs it: options ",tokenizeNLs" only, so `americanize` is off and
`splitAssimilations` on; one lexical state; the longest match wins, ties go to the earlier
rule; no rule looks behind):
- A plain word is matched whole by THING ([:letter:]|[:digit:])+ joined by hyphens, and every
  rule that can also match it whole (WORD, NUMBER, DATE, HTHING, PHONE inside the word, ...)
  returns its text unchanged (soft hyphens and americanize do not apply). A longer match must
  cross the following space: ABBREV4/{SPACE} and ACRO/{SPACENL} (trailing context only, the
  token is still the whole word), FRAC (needs "/"), LDOTS (needs "."), and PHONE, whose digit
  groups may be separated by a space -- hence the digit rule above (a PHONE across a space
  starts a word with a digit and continues the next one with a digit).
- The only rules that change a plain word are `cannot` (yypushback(3)) and
  `gonna|gotta|lemme|gimme|wanna` (yypushback(2)), caseless literals that win over WORD only
  at equal length, i.e. when they are the whole word ("wannabe", "gonna-be" stay whole).
- Such a line ends with a letter or digit, so no trailing context reaches into the next line
  (those need the line to end in "." or to hold "<"): its tokens do not depend on the other
  captions, and it does not change theirs.
- `-lowerCase` is Java's toLowerCase(Locale.ENGLISH), str.lower() on ASCII; none of the tokens
  is in coco-caption's punctuation list.

tests/caption_metrics/test_ptb_fast.py checks this against the jar on every caption of MSVD and
MSR-VTT in ../shared/data; every other caption goes to the jar.
"""

import numpy as np

_ALNUM = np.zeros(256, dtype=bool)
_ALNUM[[ord(c) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"]] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[[ord(c) for c in "0123456789"]] = True
_ALLOWED = _ALNUM.copy()  # what a plain line may hold (its line break aside)
_ALLOWED[[ord(" "), ord("-"), ord("\n")]] = True
_SPACE, _HYPHEN, _NEWLINE = ord(" "), ord("-"), ord("\n")

# The assimilations PTBLexer splits (rule `cannot`: yypushback(3); the others yypushback(2)).
ASSIMILATIONS = {
    "cannot": "can not",
    "gonna": "gon na",
    "gotta": "got ta",
    "lemme": "lem me",
    "gimme": "gim me",
    "wanna": "wan na",
}


def plain_tokenize(lines: list[str]) -> list[str | None]:
    """The jar's output line (after coco-caption's punctuation removal) for each plain line,
    None for the others (they need the jar).

    Args:
        lines: captions without line breaks.

    Returns:
        For a plain line: lower case, "cannot"/"gonna"/... split, single spaces, no leading or
        trailing space. All lines are classified at once on their bytes (numpy), without a
        Python call per character or word.
    """
    if not lines:
        return []
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if not raw:
        return [""] * len(lines)
    c = np.frombuffer(raw, dtype=np.uint8)
    n = len(c)
    newlines = np.flatnonzero(c == _NEWLINE)

    def line_of(positions):  # line index of byte positions
        return np.searchsorted(newlines, positions)

    prev = np.empty(n, dtype=np.uint8)
    prev[0], prev[1:] = _NEWLINE, c[:-1]
    nxt = np.empty(n, dtype=np.uint8)
    nxt[-1], nxt[:-1] = _NEWLINE, c[1:]
    # Any other byte (non-ASCII bytes included), or a hyphen not between letters/digits.
    bad = ~_ALLOWED[c]
    hyphens = np.flatnonzero(c == _HYPHEN)
    bad_hyphens = hyphens[~(_ALNUM[prev[hyphens]] & _ALNUM[nxt[hyphens]])]
    # Two neighbouring words of a line that both start with a digit.
    gap = (prev == _SPACE) | (prev == _NEWLINE)
    starts = np.flatnonzero(gap & (c != _SPACE) & (c != _NEWLINE))
    both = _DIGIT[c[starts[:-1]]] & _DIGIT[c[starts[1:]]]
    pairs = starts[:-1][both]
    pairs = pairs[line_of(pairs) == line_of(starts[1:][both])]
    is_plain = np.ones(len(lines), dtype=bool)
    is_plain[line_of(np.flatnonzero(bad))] = False
    is_plain[line_of(bad_hyphens)] = False
    is_plain[line_of(pairs)] = False
    # Lines needing more than lower-casing: runs of spaces or a leading / trailing space.
    spaced = (c == _SPACE) & ((prev == _SPACE) | (prev == _NEWLINE) | (nxt == _NEWLINE))
    rework = np.zeros(len(lines), dtype=bool)
    rework[line_of(np.flatnonzero(spaced))] = True
    low = raw.lower()  # ASCII letters only, as Java's toLowerCase(Locale.ENGLISH) on them
    for word in ASSIMILATIONS:  # a few substring searches; lines holding one are reworked
        found = low.find(word.encode())
        while found >= 0:
            rework[line_of(found)] = True
            found = low.find(word.encode(), found + 1)
    out = low.decode("utf-8", "surrogatepass").split("\n")
    for i in np.flatnonzero(rework & is_plain).tolist():
        out[i] = " ".join(ASSIMILATIONS.get(w, w) for w in out[i].split())
    for i in np.flatnonzero(~is_plain).tolist():
        out[i] = None
    return out
