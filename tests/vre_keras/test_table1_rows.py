"""The paper's Table-1 rows as named configs: each builds, trains a step of every phase, exports
Contract 2 and serves from a process that imports only TensorFlow."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tests.vre_keras.conftest import CAPTIONS
from vre_common import contract
from vre_keras.caption_metrics.reward import CaptionReward
from vre_keras.config import DEFAULT_ROW, TABLE1_ROWS, ModelConfig, table1_row
from vre_keras.export import export_saved_model
from vre_keras.vre_captioner import VRECaptioner

pytestmark = pytest.mark.slow

_SERVE_ALL = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    out = {}
    for name, path in json.loads(sys.argv[1]).items():
        serve = tf.saved_model.load(path).signatures["serving_default"]
        x = dict(np.load(sys.argv[2]))
        result = serve(**{k: tf.constant(v) for k, v in x.items()})
        out[name] = {k: v.numpy().tolist() for k, v in result.items()
                     if v.dtype != tf.string}
        out[name]["caption"] = [c.decode() for c in result["caption"].numpy()]
    print(json.dumps(out))
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "vre_keras"))))
    """
)


def test_rows_are_named_and_validated():
    assert set(TABLE1_ROWS) == {"Vf+vs", "KBiGRU(Vf)", "KBiGRU(Vf)+vs+va", "VRE(Vf,vs,va)"}
    assert ModelConfig().table1_row == DEFAULT_ROW == "VRE(Vf,vs,va)"  # the paper's full model
    for name in TABLE1_ROWS:
        config = ModelConfig.named(name, tiny=True)
        assert config.table1_row == name and config.hidden_size == 8
        assert ModelConfig.from_dict(config.to_dict()) == config
    assert ModelConfig.named("VRE(Vf,vs,va)", use_audio=False).table1_row is None  # VRE(Vf,vs)
    with pytest.raises(ValueError, match="unknown Table-1 row"):
        table1_row("VRE")
    with pytest.raises(ValueError, match="refocus needs encoder"):
        ModelConfig(encoder="none", refocus=True)


def _train_every_phase(model, batch, vocabulary):
    """One train_step of each phase; returns the losses."""
    losses = {}
    for phase in (1, 2, 3, 4):
        if phase == 4:
            model.set_reward(CaptionReward(CAPTIONS), vocabulary)
        model.set_phase(phase)
        before = [w.numpy().copy() for w in model.decoder.trainable_weights]
        logs = model.train_step(batch)
        losses[phase] = float(logs["loss"])
        assert np.isfinite(losses[phase]), (phase, logs)
        if phase < 4:  # (a sampled caption may score as the greedy one: no phase-4 step then)
            after = model.decoder.trainable_weights
            assert any(np.any(a.numpy() != b) for a, b in zip(after, before)), phase
        if phase == 2:
            model.end_reward_epoch()
    return losses


def test_every_row_trains_exports_and_serves(tmp_path, tiny_vocabulary, tiny_batch):
    exports = {}
    in_memory = {}
    for name in TABLE1_ROWS:
        keras.utils.set_random_seed(0)
        config = ModelConfig.named(name, tiny=True)
        model = VRECaptioner(config, vocab_size=len(tiny_vocabulary), num_videos=4).build_all()
        model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
        names = {w.path.split("/")[1] for w in model.weights if "/" in w.path}
        assert ("encoder" in names) == (config.encoder == "kbigru"), names
        assert ("key_frame_predictor" in names) == config.refocus, names
        if config.encoder == "kbigru":
            has_refocus = any("refocus" in w.path for w in model.encoder.weights)
            assert has_refocus == config.refocus
        has_spatial = any("spatial_attention" in w.path for w in model.decoder.weights)
        assert has_spatial == config.use_spatial
        _train_every_phase(model, tiny_batch, tiny_vocabulary)
        model.freeze_key_frame_predictor()
        exports[name] = export_saved_model(model, tiny_vocabulary, tmp_path / f"row{len(exports)}")
        in_memory[name] = model.generate(
            tiny_batch["temporal"], tiny_batch["spatial"], tiny_batch["audio"]
        )

    np.savez(
        tmp_path / "in.npz",
        temporal=tiny_batch["temporal"],
        spatial=tiny_batch["spatial"],
        audio=tiny_batch["audio"],
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # vre_* not importable
    done = subprocess.run(  # noqa: PLW1510 (the return code is asserted)
        [sys.executable, "-c", _SERVE_ALL, json.dumps(exports), str(tmp_path / "in.npz")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    served = json.loads(lines[-2])
    assert not [m for m in json.loads(lines[-1]) if m.startswith("vre_keras")]
    num_frames = ModelConfig.tiny().num_frames
    for name, out in served.items():
        config = ModelConfig.named(name, tiny=True)
        assert set(out) | {"caption"} == set(contract.SERVING_OUTPUTS)
        np.testing.assert_array_equal(out[contract.OUT_TOKENS], in_memory[name]["tokens"])
        probs = np.asarray(out[contract.OUT_KEY_FRAME_PROBS])
        assert probs.shape == (4, num_frames)
        if config.refocus:
            assert all(0 <= k < num_frames for k in out[contract.OUT_KEY_FRAME])
            np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
        else:  # no key frame is predicted
            assert out[contract.OUT_KEY_FRAME] == [-1] * 4
            assert not probs.any()
        spatial = np.asarray(out[contract.OUT_SPATIAL_ATTENTION])
        assert spatial.any() == config.use_spatial
        temporal = np.asarray(out[contract.OUT_TEMPORAL_ATTENTION])
        np.testing.assert_allclose(temporal[:, 0].sum(-1), 1.0, rtol=1e-5)
