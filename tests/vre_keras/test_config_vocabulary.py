import pytest

from vre_keras.config import ModelConfig, ScheduleConfig
from vre_keras.vocabulary import EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, Vocabulary, tokenize


def test_config_defaults_follow_the_paper():
    c = ModelConfig()
    assert (c.hidden_size, c.embedding_size, c.max_caption_words, c.min_word_count) == (
        512, 512, 15, 3)
    assert (c.dropout, c.beta, c.scheduled_sampling, c.learning_rate) == (0.5, 0.03, 0.25, 3e-4)
    assert (c.num_frames, c.channels, c.num_regions) == (20, 2048, 49)
    assert c.step1_key_frame == 10 and c.caption_length == 16
    assert ScheduleConfig().phase1_epochs == 5


@pytest.mark.parametrize("cls", [ModelConfig, ScheduleConfig])
def test_config_dict_round_trip(cls):
    config = cls.tiny()
    assert cls.from_dict(config.to_dict()) == config


def test_config_rejects_bad_values_with_names():
    with pytest.raises(ValueError, match="hidden_size"):
        ModelConfig(hidden_size=0)
    with pytest.raises(ValueError, match="embedding_size"):
        ModelConfig(embedding_size=256)
    with pytest.raises(ValueError, match="kbigru_implementation"):
        ModelConfig(kbigru_implementation="scan")
    with pytest.raises(ValueError, match="unknown keys.*hiden_size"):
        ModelConfig.from_dict({"hiden_size": 3})
    with pytest.raises(ValueError, match="batch_size"):
        ScheduleConfig(batch_size=0)


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("A Man, riding a BIKE!") == ["a", "man", "riding", "a", "bike"]
    assert tokenize("it's a dog's toy") == ["it", "'s", "a", "dog", "'s", "toy"]
    with pytest.raises(TypeError, match="caption must be str"):
        tokenize(None)


def test_vocabulary_min_count_unk_eos_pad_and_truncation():
    vocab = Vocabulary.build(["a man runs", "a man walks", "a dog runs"], min_count=2)
    assert vocab.tokens[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert set(vocab.tokens[4:]) == {"a", "man", "runs"}
    ids = vocab.encode("A dog runs", max_words=4)
    assert ids.tolist() == [vocab.tokens.index("a"), UNK_ID, vocab.tokens.index("runs"), EOS_ID,
                            PAD_ID]
    long = vocab.encode(" ".join(["man"] * 20), max_words=15)
    assert len(long) == 16 and long[15] == EOS_ID and (long[:15] != EOS_ID).all()
    assert vocab.decode(ids) == "a <UNK> runs"


def test_vocabulary_save_load(tmp_path):
    vocab = Vocabulary.build(["a man runs"] * 3, min_count=3)
    loaded = Vocabulary.load(vocab.save(tmp_path / "v.txt"))
    assert loaded.tokens == vocab.tokens
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        Vocabulary.load(tmp_path / "missing.txt")
    (tmp_path / "bad.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary.load(tmp_path / "bad.txt")
