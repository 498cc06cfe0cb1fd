"""Contract 2: the exported SavedModel runs in a process that imports only TensorFlow and gives
the in-memory model's outputs."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from vre_common import contract
from vre_keras.export import VOCABULARY_ASSET, export_saved_model
from vre_keras.synthetic_data import synthetic_example
from vre_keras.tiny_model import build_tiny_model

pytestmark = pytest.mark.slow

_LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    export_dir, inputs_file, outputs_file = sys.argv[1:]
    loaded = tf.saved_model.load(export_dir)
    x = np.load(inputs_file, allow_pickle=True)  # our own file: examples are bytes objects
    outputs = {}
    for name, fn, kwargs in [
        ("features", loaded.signatures["serving_default"],
         dict(temporal=x["temporal"], spatial=x["spatial"], audio=x["audio"])),
        ("examples", loaded.signatures["serve_tf_examples"], dict(examples=x["examples"])),
    ]:
        for key, value in fn(**{k: tf.constant(v) for k, v in kwargs.items()}).items():
            outputs[f"{name}/{key}"] = value.numpy()
    np.savez(outputs_file, **outputs)
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "vre_keras"))))
    """
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model, vocabulary = build_tiny_model(seed=3)
    export_dir = tmp_path_factory.mktemp("export") / "1"
    export_saved_model(model, vocabulary, export_dir)
    return model, vocabulary, export_dir


def test_fresh_tensorflow_only_process_matches_in_memory_model(exported, tmp_path):
    model, vocabulary, export_dir = exported
    c = model.config
    rng = np.random.default_rng(0)
    examples = [synthetic_example(f"v{i}", ["a man"], c, rng) for i in range(3)]
    parsed = [{k: np.asarray(e.features.feature[k].float_list.value, "float32")
               for k in (contract.TEMPORAL, contract.SPATIAL, contract.AUDIO)} for e in examples]
    temporal = np.stack([p[contract.TEMPORAL] for p in parsed]).reshape(3, c.num_frames, -1)
    spatial = np.stack([p[contract.SPATIAL] for p in parsed]).reshape(3, c.num_regions, -1)
    audio = np.stack([p[contract.AUDIO] for p in parsed])
    np.savez(tmp_path / "in.npz", temporal=temporal, spatial=spatial, audio=audio,
             examples=np.asarray([e.SerializeToString() for e in examples], dtype=object))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # vre_* not importable
    done = subprocess.run(
        [sys.executable, "-c", _LOADER, str(export_dir), str(tmp_path / "in.npz"),
         str(tmp_path / "out.npz")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [m for m in imported if m.startswith("vre_keras")]
    got = np.load(tmp_path / "out.npz", allow_pickle=True)

    expected = model.generate(temporal, spatial, audio)
    captions = [vocabulary.decode(row) for row in expected["tokens"].numpy()]
    for name in ("features", "examples"):
        assert [s.decode() for s in got[f"{name}/{contract.OUT_CAPTION}"]] == captions
        np.testing.assert_array_equal(got[f"{name}/{contract.OUT_TOKENS}"], expected["tokens"])
        np.testing.assert_array_equal(got[f"{name}/{contract.OUT_KEY_FRAME}"],
                                      expected["key_frame"])
        for key, ours in [(contract.OUT_KEY_FRAME_PROBS, "key_frame_probs"),
                          (contract.OUT_TEMPORAL_ATTENTION, "temporal_attention"),
                          (contract.OUT_SPATIAL_ATTENTION, "spatial_attention")]:
            np.testing.assert_allclose(got[f"{name}/{key}"], expected[ours], rtol=1e-5,
                                       atol=1e-6)
    assert set(k.split("/")[1] for k in got.files) == set(contract.SERVING_OUTPUTS)


def test_graph_uses_core_ops_and_carries_its_vocabulary(exported):
    _, vocabulary, export_dir = exported
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((export_dir / "saved_model.pb").read_bytes())
    ops = set()
    for graph in saved.meta_graphs:
        ops.update(n.op for n in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.update(n.op for n in function.node_def)
    assert not {op for op in ops if "PyFunc" in op or op.startswith("Addons")}
    assert {"While", "LookupTableFindV2", "ParseExampleV2"} <= ops
    asset = export_dir / "assets" / VOCABULARY_ASSET
    assert asset.read_text().splitlines() == vocabulary.tokens


def test_export_refuses_bad_arguments(exported, tmp_path):
    model, vocabulary, export_dir = exported
    with pytest.raises(FileExistsError, match="already exists"):
        export_saved_model(model, vocabulary, export_dir)
    from vre_keras.vocabulary import Vocabulary

    with pytest.raises(ValueError, match="vocabulary has 5 tokens"):
        export_saved_model(model, Vocabulary(vocabulary.tokens[:5]), tmp_path / "x")


def test_beam_export_runs(exported, tmp_path):
    model, vocabulary, _ = exported
    path = export_saved_model(model, vocabulary, tmp_path / "beam", method="beam")
    loaded = tf.saved_model.load(path)
    c = model.config
    out = loaded.signatures[contract.SERVING_DEFAULT](
        temporal=tf.zeros([2, c.num_frames, c.channels]),
        spatial=tf.zeros([2, c.num_regions, c.channels]), audio=tf.zeros([2, c.audio_dim]))
    assert out[contract.OUT_TOKENS].shape == (2, c.caption_length)
