"""The METEOR 1.5 port (meteor_aligner, meteor_resources, meteor_normalize, meteor_port) gives the
jar's numbers: small cases that hit the aligner's quirks, against the jar run with the same tiny
paraphrase table (its `-a`, so the JVM starts in a second), and the parts on their own. The
corpus-scale comparisons with the jar as coco-caption runs it are in test_meteor_fast.py."""

import gzip

import pytest

from tests.caption_metrics import cases
from vre_keras.caption_metrics.java import FAST_START_JVM_OPTIONS
from vre_keras.caption_metrics.meteor import MeteorScorer, clean_hypothesis
from vre_keras.caption_metrics.meteor_aligner import approximate_score
from vre_keras.caption_metrics.meteor_fast import FastMeteor
from vre_keras.caption_metrics.meteor_normalize import java_trim, meteor_normalize, normalize_lines
from vre_keras.caption_metrics.meteor_port import PortMeteor, format_stats
from vre_keras.caption_metrics.meteor_resources import (
    JarStemmer,
    java_string_hash,
    synonym_dictionary,
)

# (ignored line, phrase, paraphrase) entries; "quick" -> "fast" twice (the jar keeps both).
TINY_TABLE = b"".join(
    b"0\n%s\n%s\n" % (phrase, para)
    for phrase, para in [
        (b"a man", b"a guy"),
        (b"man", b"guy"),
        (b"is riding", b"rides"),
        (b"bicycle", b"bike"),
        (b"the dog", b"a cat"),
        (b"quick", b"fast"),
        (b"quick", b"fast"),
        (b"on top of", b"atop"),
    ]
)

QUIRKS = {
    # identical sentences: exact module only
    "identical": ("a man is riding a bike", ["a man is riding a bike", "a guy rides a bicycle"]),
    # repeated words: several candidate matches per word, the beam search decides
    "repeats": ("a man and a woman and a dog", ["a dog and a man and a woman", "a a a"]),
    "long_repeats": (" ".join(["a man"] * 12), ["the man is a man a man", "a a man man"]),
    # stems, synonyms (WordNet with exceptions and morphology), paraphrases of several words
    "stems": ("the dogs were running quickly", ["a dog runs quick", "dog running"]),
    "synonyms": ("a man rides a bicycle", ["a guy is riding a bike", "someone cycles"]),
    "morphology": ("the wolves ate mice", ["a wolf eats a mouse", "handful of geese"]),
    "paraphrases": ("a man is riding on top of it", ["a guy rides atop it", "the dog"]),
    "duplicate_entry": ("a quick fox", ["a fast fox", "fast quick"]),
    # "aā" and "bâ" have the same String.hashCode(): the jar matches them as exact
    "hash_collision": ("aā is here", ["bâ is here", "nothing"]),
    "empty_hypothesis": ("", ["a dog", "a cat"]),
    "punctuation_case": ('A man, "running"... the U.S. DOG!', ["a man runs .", "the us dog"]),
    "no_match": ("xyz", ["abc def"]),
}


@pytest.fixture(scope="module")
def tiny_jar(tmp_path_factory):
    """The jar as coco-caption runs it, but with TINY_TABLE as its paraphrase table."""
    table = tmp_path_factory.mktemp("meteor") / "tiny.gz"
    table.write_bytes(gzip.compress(TINY_TABLE))
    with MeteorScorer(paraphrase_table=str(table), jvm_options=FAST_START_JVM_OPTIONS) as jar:
        yield jar


def _port(hyps, refs, workers=1):
    with PortMeteor(workers=workers, paraphrase_table_text=TINY_TABLE) as port:
        return port.score(hyps, refs)


def test_port_equals_the_jar_on_the_aligners_quirks(tiny_jar):
    hyps = [h for h, _ in QUIRKS.values()]
    refs = [r for _, r in QUIRKS.values()]
    got_corpus, got_items = _port(hyps, refs)
    want_corpus, want_items = tiny_jar.score(hyps, refs)
    for name, got, want in zip(QUIRKS, got_items, want_items):
        assert got == want, name
    assert got_corpus == want_corpus
    # Each case against its first reference alone: the jar's statistics line itself.
    want_stats = tiny_jar.stats(hyps, [r[:1] for r in refs])
    with PortMeteor(workers=1, paraphrase_table_text=TINY_TABLE) as port:
        port.score(hyps, [r[:1] for r in refs])
        got_stats = [format_stats(s) for s in port.last_statistics]
    assert dict(zip(QUIRKS, got_stats)) == dict(zip(QUIRKS, want_stats))


def test_port_with_worker_processes_equals_the_jar(tiny_jar, coco_tokenized):
    """The 313 generated and hand-picked cases, over two worker processes."""
    gts, res = coco_tokenized
    ids = list(gts)
    hyps, refs = [res[k][0] for k in ids], [gts[k] for k in ids]
    assert _port(hyps, refs, workers=2) == tiny_jar.score(hyps, refs)


def test_java_string_hash():
    # Values printed by Java 21's String.hashCode().
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)
    assert java_string_hash("a man is riding a bike") == 1110758138
    assert java_string_hash("日本") == 835047
    assert java_string_hash("😀x") == 54959989  # UTF-16 code units, as Java counts
    assert java_string_hash("aā") == java_string_hash("bâ") == 3264
    assert java_string_hash("") == 0


def test_synonyms_and_stems_are_the_jars():
    syn = synonym_dictionary()
    assert syn.synsets_of("dogs") >= syn.synsets_of("dog") > frozenset()
    assert syn.synsets_of("mice") >= syn.synsets_of("mouse")  # from english.exceptions
    assert not syn.synsets_of("xyzzy")
    stemmer = JarStemmer()
    try:
        assert stemmer.stem(["running", "dogs", "3.5", "généralement", "quickly"]) == [
            "run",
            "dog",
            "3.5",
            "généralement",
            "quick",
        ]
    finally:
        stemmer.close()


def test_approximate_score_is_computemetrics():
    # A statistics line and the score the jar's EVAL printed for it.
    stats = [15, 14, 4, 3, 6, 6, 2, 2, 1, 1, 0, 0, 1, 1, 0, 0, 2, 2, 1, 1, 3, 15, 14]
    score, exact = approximate_score(stats)
    assert abs(score - 0.4416523237824746) < 1e-15 and not exact
    assert approximate_score([3, 5, 1, 2] + [0] * 16 + [0, 0, 0]) == (0.0, True)
    assert format_stats(stats).startswith("15.0 14.0 4.0")


def test_python_normalizer_equals_the_jars_class():
    hyps, refs = cases.all_cases(300)
    lines = [java_trim(clean_hypothesis(x)) for x in list(hyps.values())]
    lines += [java_trim(clean_hypothesis(x)) for v in refs.values() for x in v]
    lines += [
        "Mr. Smith went to Washington. He was 3.5 ft -- tall",
        "No. 5 and no. 6, 1,000 people; a...b....c DOTMULTI",
        "the 1990's rock'n'roll “quoted” ‘single’ –dash— `tick`",
        "Привет, мир! Ёж's l'homme e.g. U.S.-based Inc. and",
    ]
    assert normalize_lines(lines) == meteor_normalize(lines)
    with pytest.raises(ValueError, match="line break"):
        normalize_lines(["a\rb"])


@pytest.mark.slow
def test_a_word_the_stemmer_protocol_cannot_carry_falls_back_to_the_jar(meteor_scorer):
    # "\x0b" is no delimiter for the jar's tokenizer, so "dog\x0b" is a word; the Stemmer
    # class would print it trimmed. FastMeteor then scores with the jar engine instead.
    hyps, refs = ["a dog\x0b runs", "a cat"], [["a dog runs", "dog\x0b"], ["the cat"]]
    with FastMeteor(workers=1) as fast:
        got = fast.score(hyps, refs)
        assert fast.engine == "jar"
    assert got == meteor_scorer.score(hyps, refs)
