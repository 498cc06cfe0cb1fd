"""METEOR's fast paths (the port: the aligner in Python over worker processes; the jar engine: the
jar with a paraphrase table cut to the corpus, several JVMs) give the scores of the jar as
coco-caption runs it (full table, one JVM), per caption and per corpus."""

import gzip

import numpy as np
import pytest

from tests.caption_metrics import real_captions
from vre_keras.caption_metrics import tokenize
from vre_keras.caption_metrics.meteor_fast import FastMeteor, _split
from vre_keras.caption_metrics.meteor_normalize import normalize_lines
from vre_keras.caption_metrics.meteor_normalize import java_trim, meteor_normalize
from vre_keras.caption_metrics.meteor_paraphrase import (
    ParaphraseIndex,
    ParaphraseTableError,
    write_restricted_table,
)

TINY_TABLE = [  # (ignored line, phrase, paraphrase), as in paraphrase-en.gz
    ("0.5", "a man", "a guy"),
    ("0.1", "man", "guy"),
    ("0.2", "is riding", "rides"),
    ("0.3", "bicycle", "bike"),
    ("0.4", "the dog", "a cat"),
    ("0.6", "", "empty phrase"),
    ("0.7", "dog", ""),
]


def _write_table(path, entries):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for line in entries:
            f.write("\n".join(line) + "\n")
    return path


def test_restricted_table_keeps_exactly_the_entries_that_can_match(tmp_path):
    index = ParaphraseIndex.parse(_write_table(tmp_path / "p.gz", TINY_TABLE))
    assert len(index.vocab) == 13
    text, kept = index.restricted_table(["a man is riding a bike"], ["a guy rides a bicycle"])
    # "a man"->"a guy": phrase in the hypothesis, paraphrase in the reference; "is riding"->
    # "rides" too; "bicycle"->"bike" the other way round; "man"->"guy" as well. "the dog" occurs
    # nowhere, nor does "empty phrase".
    assert kept == 4
    assert text == b"0\na man\na guy\n0\nman\nguy\n0\nis riding\nrides\n0\nbicycle\nbike\n"
    # n-grams are consecutive words of one line: "a man" is not in "man a".
    assert index.restricted_table(["man a"], ["a guy"])[0] == b"0\nman\nguy\n"
    # ... and do not cross lines: "the dog" is not in "the" + "dog". The jar matches an empty
    # paraphrase anywhere, so "dog" -> "" is kept wherever "dog" occurs.
    assert index.restricted_table(["the", "dog"], ["a cat"])[0] == b"0\ndog\n\n"
    # The same for lines given as corpus word ids (the port's form), as id tuples; entries with
    # a word the corpus lacks are left out.
    vocab = ["a", "man", "is", "riding", "bike", "guy", "rides", "bicycle", "xyz"]
    ids = {w: i for i, w in enumerate(vocab)}
    entries, kept = index.restricted_entries(
        [tuple(ids[w] for w in "a man is riding a bike".split())],
        [tuple(ids[w] for w in "a guy rides a bicycle xyz".split())],
        vocab,
    )
    assert kept == 4
    assert entries == [
        ((0, 1), (0, 5)),
        ((1,), (5,)),
        ((2, 3), (6,)),
        ((7,), (4,)),
    ]


def test_index_cache_round_trip_and_bad_tables(tmp_path):
    table = _write_table(tmp_path / "p.gz", TINY_TABLE)
    built = ParaphraseIndex.cached(table, cache_dir=tmp_path / "cache")
    loaded = ParaphraseIndex.cached(table, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert loaded.vocab == built.vocab
    np.testing.assert_array_equal(loaded.unique_keys, built.unique_keys)
    out = tmp_path / "r.gz"
    assert write_restricted_table(loaded, ["a man"], ["a guy"], out) == 2
    assert gzip.decompress(out.read_bytes()) == b"0\na man\na guy\n0\nman\nguy\n"
    with gzip.open(tmp_path / "bad.gz", "wt") as f:
        f.write("0.1\nman\n")
    with pytest.raises(ParaphraseTableError, match="three per entry"):
        ParaphraseIndex.parse(tmp_path / "bad.gz")


def test_java_trim_and_split():
    assert java_trim("\x00 a b\t\x1f") == "a b"
    assert java_trim(" \u00a0x\u00a0 ") == "\u00a0x\u00a0"  # trim() keeps non-ASCII spaces
    assert _split(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert _split(2, 4) == [(0, 1), (1, 2)]


def test_meteor_normalize_is_the_jars():
    assert meteor_normalize(
        ['A man, is "talking" the U.S. phone...', "is n't it", "Café 日本"]
    ) == ['a man , is " talking " the us phone ...', "is n 't it", "café 日 本"]
    with pytest.raises(ValueError, match="line break"):
        meteor_normalize(["a\rb"])


@pytest.fixture(scope="module")
def real_corpus():
    """~1,500 hypotheses from real captions: MSVD (lower case, no punctuation) and MSR-VTT, PTB-
    tokenized as vre evaluate does, plus MSR-VTT captions as annotated (case, punctuation) to
    exercise the jar's own normalisation."""
    msvd = real_captions.leave_one_out(
        real_captions.msvd_captions(), videos=150, per_video=4, max_refs=15, stride=8
    )
    msrvtt_captions = real_captions.msrvtt_captions()
    msrvtt = real_captions.leave_one_out(
        msrvtt_captions, videos=100, per_video=6, max_refs=15, stride=70
    )
    raw = real_captions.leave_one_out(
        msrvtt_captions, videos=100, per_video=3, max_refs=10, stride=67
    )
    ids = list(msvd[0]) + list(msrvtt[0])
    hyps = {**msvd[0], **msrvtt[0]}
    refs = {**msvd[1], **msrvtt[1]}
    flat = tokenize([hyps[k] for k in ids] + [r for k in ids for r in refs[k]])
    tok_hyps, rest, tok_refs = flat[: len(ids)], flat[len(ids) :], []
    for k in ids:
        tok_refs.append(rest[: len(refs[k])])
        rest = rest[len(refs[k]) :]
    raw_ids = list(raw[0])
    return (tok_hyps + [raw[0][k] for k in raw_ids], tok_refs + [raw[1][k] for k in raw_ids])


@pytest.fixture(scope="module")
def jar_on_real_corpus(real_corpus, meteor_scorer):
    """The jar's scores of real_corpus as coco-caption runs it (computed once for both engines)."""
    return meteor_scorer.score(*real_corpus)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["port", "jar"])
def test_fast_meteor_equals_the_jar_on_msvd_and_msrvtt(real_corpus, jar_on_real_corpus, engine):
    hyps, refs = real_corpus
    assert len(hyps) >= 1500
    with FastMeteor(workers=2, engine=engine) as fast:
        got_corpus, got_items = fast.score(hyps, refs)
        kept, total = fast.kept_entries, len(fast.paraphrase_index().phrase_uid)
    want_corpus, want_items = jar_on_real_corpus  # coco-caption's command
    differ = [
        (i, got_items[i], want_items[i]) for i in range(len(hyps)) if got_items[i] != want_items[i]
    ]
    assert not differ, f"{len(differ)} captions differ, e.g. {differ[:5]}"
    assert got_corpus == want_corpus
    assert 0 < kept < 0.05 * total  # the table the JVMs load really is cut down


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["port", "jar"])
def test_fast_meteor_equals_the_jar_on_hand_picked_cases(coco_tokenized, meteor_scorer, engine):
    """Unicode, punctuation, "|||", empty captions (the cases test_equality checks against
    pycocoevalcap), over three processes / JVMs so the parts are uneven."""
    gts, res = coco_tokenized
    ids = list(gts)
    hyps, refs = [res[k][0] for k in ids], [gts[k] for k in ids]
    with FastMeteor(workers=3, engine=engine) as fast:
        got = fast.score(hyps, refs)
    assert got == meteor_scorer.score(hyps, refs)


@pytest.mark.slow
def test_python_normalizer_equals_the_jars_on_all_real_captions():
    """Every caption of the MSVD and MSR-VTT train/val annotations (~250,000), raw and PTB-
    tokenized, normalised by the port and by the jar's own Normalizer class."""
    lines = [c for cs in real_captions.msrvtt_captions().values() for c in cs]
    lines += [c for cs in real_captions.msvd_captions().values() for c in cs]
    lines = [java_trim(" ".join(line.split("\n"))).replace("\r", " ") for line in lines]
    lines += tokenize(lines[:50_000])
    got, want = normalize_lines(lines), meteor_normalize(lines)
    differ = [(line, g, w) for line, g, w in zip(lines, got, want) if g != w]
    assert not differ, f"{len(differ)} lines differ, e.g. {differ[:3]}"
