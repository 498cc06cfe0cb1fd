"""The Contract-1 schema and the checks of the validation gate, on TFDV statistics of real
records (TFDV and TF, no TFX): each bad case on its own, named by split, feature and problem."""

import pathlib

import numpy as np
import pytest

from tfx_pipeline import contract_schema, data_checks
from vre_common import contract

ROOT = pathlib.Path(__file__).resolve().parents[2]
SIZES = {"num_frames": 6, "channels": 16, "num_regions": 4}


def test_checked_in_schema_is_what_the_generator_writes():
    checked_in = (ROOT / contract_schema.CHECKED_IN_SCHEMA).read_text()
    assert checked_in == contract_schema.schema_text(), (
        "regenerate it: python -m tfx_pipeline.contract_schema "
        f"--output {contract_schema.CHECKED_IN_SCHEMA}"
    )


def test_schema_follows_the_contract():
    schema = contract_schema.contract_schema(**SIZES)
    features = {f.name: f for f in schema.feature}
    assert features[contract.TEMPORAL].shape.dim[0].size == 6 * 16
    assert features[contract.SPATIAL].shape.dim[0].size == 4 * 16
    assert features[contract.AUDIO].shape.dim[0].size == contract.AUDIO_DIM
    assert list(features[contract.SPLIT].string_domain.value) == list(contract.SPLITS)
    assert features[contract.CAPTIONS].value_count.min == 1
    assert all(f.presence.min_fraction == 1.0 for f in schema.feature)
    # Every Contract-1 feature the parser reads is in the schema, and nothing else.
    import tensorflow as tf  # noqa: F401  (feature_spec needs it)

    assert set(features) == set(contract.feature_spec(6, 16, 4))
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1"):
        contract_schema.contract_schema(num_frames=0)


def _problems(folder, damages):
    """Problems of 3 clean examples plus one example per damage, through TFDV's statistics."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    from vre_keras.config import ModelConfig
    from vre_keras.synthetic_data import synthetic_example

    rng = np.random.default_rng(0)
    sizes = ModelConfig.tiny(**SIZES)
    examples = [synthetic_example(f"v{i}", ["a cat"], sizes, rng) for i in range(3)]
    for damage in damages:
        example = synthetic_example(damage.__name__, ["a dog"], sizes, rng)
        damage(example.features.feature)
        examples.append(example)
    path = str(folder / "records.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    statistics_list = tfdv.generate_statistics_from_tfrecord(path)
    schema = contract_schema.contract_schema(**SIZES)
    anomalies = tfdv.validate_statistics(statistics_list, schema)
    statistics = statistics_list.datasets[0]
    return data_checks.problems_from_anomalies(
        anomalies, "train", 7, statistics, schema
    ) + data_checks.problems_from_statistics(statistics, "train", 7)


def _shorten_temporal(f):
    del f[contract.TEMPORAL].float_list.value[-16:]


def _nan_spatial(f):
    f[contract.SPATIAL].float_list.value[3] = float("nan")


def _inf_audio(f):
    f[contract.AUDIO].float_list.value[0] = float("-inf")


def _no_captions(f):
    del f[contract.CAPTIONS].bytes_list.value[:]


def _bad_split(f):
    f[contract.SPLIT].bytes_list.value[0] = b"training"


def _no_audio_flag(f):
    del f[contract.HAS_AUDIO]


CASES = [
    (_shorten_temporal, contract.TEMPORAL,
     "expected 96 value(s) per example; values per example: 80..96"),
    (_nan_spatial, contract.SPATIAL, "1 NaN value(s)"),
    (_inf_audio, contract.AUDIO, "infinite value(s) (-inf)"),
    (_no_captions, contract.CAPTIONS, "fewer values than expected"),
    (_bad_split, contract.SPLIT, "training"),
    (_no_audio_flag, contract.HAS_AUDIO, "examples without the feature: 1"),
]


@pytest.fixture(scope="module")
def damaged_problems(tmp_path_factory):
    # One TFDV statistics run for all cases (each damages a different feature of its own
    # example): a Beam run per case would cost seconds each for nothing more.
    return _problems(tmp_path_factory.mktemp("damaged"), [c[0] for c in CASES])


@pytest.mark.parametrize("damage, feature, words", CASES, ids=[c[0].__name__ for c in CASES])
def test_each_problem_is_named(damaged_problems, damage, feature, words):
    problems = [p for p in damaged_problems if p.feature == feature]
    assert [(p.span, p.split) for p in problems] == [(7, "train")], damaged_problems
    assert words in problems[0].problem
    report = data_checks.format_report(problems)
    assert f"span 7, split train, feature {feature}: " in report
    assert "The Trainer did not run" in report


def test_only_the_damaged_features_are_named(damaged_problems, tmp_path):
    assert sorted(p.feature for p in damaged_problems) == sorted(c[1] for c in CASES)
    assert _problems(tmp_path, []) == []
