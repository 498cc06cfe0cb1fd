"""The PTB tokenizer without a JVM (ptb_fast), its cache of the jar's output (ptb_cache), and the
jar for the rest give exactly the jar's output, as coco-caption runs it on one file."""

import json
import random

import pytest

from tests.caption_metrics import real_captions
from vre_keras.caption_metrics import JavaNotFoundError, ptb_cache, tokenize
from vre_keras.caption_metrics.ptb_fast import plain_tokenize
from vre_keras.caption_metrics.tokenizer import _lookahead_end, _one_line, _run_jar


def jar(captions):
    """The reference: the jar on all captions as one file (pycocoevalcap's way)."""
    return _run_jar("\n".join(_one_line(c) for c in captions))[: len(captions)]


# Captions outside the fast path, several of whose tokens depend on the next line or on being
# the last line (checked below against the jar, so the test shows they really do).
CONTEXT_CASES = [
    "He lives in the U.S.",
    "The man is here",
    "I.",
    "see no.",
    "5 cats",
    "see fig.",
    "",
    "etc.",
    "a smiley :)",
    "cats '90",
    "a.mp3",
    "1.mp3",
    "Canada-U.S",
    "it's ok, isn't it?",
    '"quoted" text (and brackets) -- dashes...',
    "U.S.   ",
    "   ",
    "  He said",
    "x",
    "1/2 cup",
    "555 1234 5678",
    "call 12-345 6789",
    "a file.txt",
    "He cannot.",
    "We're gonna",
    "caf\u00e9 na\u00efve \u201cquotes\u201d",
    "tab\tseparated",
]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    path = tmp_path / "ptb-cache"
    monkeypatch.setenv(ptb_cache.CACHE_ENV, str(path))
    return path


def test_plain_captions_are_tokenized_without_the_jar():
    lines = [
        "A man Cannot ride",
        "GONNA win gotta Lemme gimme wanna",
        "gonna-be wannabe cannotx xcannot gonme",
        "a low-budget t-shirt 12-12-2012 x 555-123-4567 co-op",
        "  runs   of spaces  ",
        "",
        " ",
        "3d x 2nd y 10th a 1 b 2",
        "cannot cannot cannot",
    ]
    out = plain_tokenize(lines)
    assert out == jar(lines)
    assert out == [
        "a man can not ride",
        "gon na win got ta lem me gim me wan na",
        "gonna-be wannabe cannotx xcannot gonme",
        "a low-budget t-shirt 12-12-2012 x 555-123-4567 co-op",
        "runs of spaces",
        "",
        "",
        "3d x 2nd y 10th a 1 b 2",
        "can not can not can not",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "a man.",  # any other character: punctuation...
        "it's",
        "caf\u00e9",  # ... non-ASCII ...
        "a\tb",  # ... other white space
        "a-",  # hyphens not between letters/digits
        "-a",
        "a--b",
        "a - b",
        "12 34",  # two neighbouring words starting with digits (PTBLexer's PHONE spans them)
        "call 555 1234",
        "12-345 6789",
        "x 1 2x",
        "a <b>",
    ],
)
def test_the_fast_path_leaves_what_it_cannot_prove_to_the_jar(line):
    assert plain_tokenize(["a plain one", line, "another"]) == ["a plain one", None, "another"]


def test_lookahead_reaches_past_a_final_period_only():
    lines = ["a.", "", "  ", "The man", "b.", "x", "c", "d. ", "\u3000"]
    assert [_lookahead_end(lines, i) for i in range(len(lines))] == [3, 1, 2, 3, 5, 5, 6, 8, 8]


def test_context_cases_really_depend_on_their_neighbours():
    """Why the cache key holds the lines looked ahead into, and the end of input."""
    assert jar(["I.", "The man"])[0] != jar(["I.", "x"])[0]
    assert jar(["see no.", "5 cats"])[0] != jar(["see no.", "cats"])[0]
    assert jar(["a smiley :)", "x"])[0] != jar(["a smiley :)"])[0]
    assert jar(["cats '90", "x"])[0] != jar(["cats '90"])[0]


def test_equal_to_the_jar_in_any_order_with_the_cache(cache_dir):
    rng = random.Random(0)
    plain = ["a man is cooking", "The dog runs", "two 2 dogs", "a t-shirt"]
    for round_ in range(6):  # the cache fills in the first rounds and is used in the next
        captions = CONTEXT_CASES + plain * 3
        rng.shuffle(captions)
        assert tokenize(captions) == jar(captions), round_
    entries = json.loads(next(cache_dir.iterdir()).read_text())
    assert entries and all(isinstance(v, str) for v in entries.values())
    # What the jar gives for "I." depends on the next line: both are cached under their context.
    for nxt in ("The man", "x"):
        assert tokenize(["I.", nxt]) == jar(["I.", nxt])


def test_a_caption_with_a_less_than_sign_sends_the_call_to_the_jar_as_one_file(cache_dir):
    # PTBLexer's SGML tokens may run over line breaks, so no line is tokenized on its own.
    captions = ["a <b c='x", "y'> d", "e", "a man"]
    assert tokenize(captions) == jar(captions)
    assert not cache_dir.exists()


def test_cache_off_unreadable_or_unwritable(tmp_path, monkeypatch, caplog):
    captions = ["it's a man.", "a dog"]
    expected = jar(captions)
    monkeypatch.setenv(ptb_cache.CACHE_ENV, "off")
    assert tokenize(captions) == expected
    broken = tmp_path / "broken"
    broken.mkdir()
    monkeypatch.setenv(ptb_cache.CACHE_ENV, str(broken))
    (broken / ptb_cache.cache_path(_jar_path(), broken).name).write_text("{not json")
    assert tokenize(captions) == expected
    assert "ignoring the PTB tokenizer cache" in caplog.text
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv(ptb_cache.CACHE_ENV, str(blocked / "cache"))  # cannot be a directory
    assert tokenize(captions) == expected
    assert "could not write the PTB tokenizer cache" in caplog.text


def _jar_path():
    from vre_keras.caption_metrics.java import ptb_tokenizer_jar

    return ptb_tokenizer_jar()


def test_plain_captions_need_no_java(tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `java` on PATH
    assert tokenize(["A man Cannot ride", "a t-shirt"]) == ["a man can not ride", "a t-shirt"]
    with pytest.raises(JavaNotFoundError):
        tokenize(["a man, riding"])


def test_equal_to_the_jar_on_every_msvd_and_msrvtt_caption(cache_dir):
    """All captions of MSVD (train, val, test) and MSR-VTT (train, val) in ../shared/data: the
    fast path alone, and the whole tokenizer (fast path + jar for the rest), against the jar."""
    captions = [c for caps in real_captions.msvd_captions().values() for c in caps]
    test_split = real_captions.DATA / "msvd" / "sents_test_lc_nopunc.txt"
    captions += [line.partition("\t")[2] for line in test_split.read_text().splitlines()]
    captions += [c for caps in real_captions.msrvtt_captions().values() for c in caps]
    assert len(captions) > 200_000
    expected = jar(captions)
    fast = plain_tokenize([_one_line(c) for c in captions])
    covered = [(f, e) for f, e in zip(fast, expected) if f is not None]
    assert len(covered) > 0.99 * len(captions)  # the fast path is what runs
    assert [f for f, _ in covered] == [e for _, e in covered]
    assert tokenize(captions) == expected
