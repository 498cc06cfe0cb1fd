"""The whole system on the real sample videos (what `make demo` runs), with a tiny model.

One real run of `tfx_pipeline.demo.run_demo`: the Beam feature job on the four sample videos
(random CNN weights), the TFX pipeline with LocalDagRunner and SQLite ML Metadata, the Pusher's
SavedModel served by the local TF Serving-protocol server and captioned through gRPC. Then the
pushed SavedModel is loaded in a process that imports only TensorFlow, and a second run with
unchanged input is checked to be served from the cache.
"""

import json
import os
import subprocess
import sys

import pytest

from tfx_pipeline import pipeline as P

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

FOUR_METRICS = ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr")

# Loads the pushed model with nothing but TensorFlow (stock TF Serving's situation) and captions
# every serialized example given on stdin (one JSON list of base64 strings).
_TF_ONLY_SCRIPT = r"""
import base64, json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
records = [base64.b64decode(r) for r in json.load(sys.stdin)]
out = model.signatures["serve_tf_examples"](examples=tf.constant(records))
ours = sorted(m for m in sys.modules if m.split(".")[0] in
              ("vre_keras", "vre_common", "keras_hub", "tfx", "serving", "beam_jobs"))
print(json.dumps({"captions": [c.decode() for c in out["caption"].numpy()],
                  "key_frames": out["key_frame"].numpy().tolist(), "project_modules": ours}))
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from tfx_pipeline.demo import DEMO_CONFIG, run_demo

    tmp = tmp_path_factory.mktemp("demo")
    # The demo's own config, schedule included: what `make demo` shows is what is tested.
    config_path = tmp / "demo-test.yaml"
    config_path.write_text(DEMO_CONFIG.read_text())
    root = tmp / "root"
    result = run_demo(str(root), config_path=config_path)
    print("demo timings (s):", {k: round(v) for k, v in result.timings_s.items()})
    return result, root, config_path


def test_first_run_trains_evaluates_pushes_and_serves(demo):
    result, root, _ = demo
    assert all(state == "COMPLETE" for state in result.run.states().values()), result.run.states()
    assert set(result.run.nodes) >= {P.EXAMPLE_GEN, P.STATISTICS_GEN, P.SCHEMA_GEN,
                                     P.EXAMPLE_VALIDATOR, P.TRAINER, P.EVALUATOR, P.PUSHER}

    # The Evaluator's artifact holds the four caption metrics; the first model is blessed.
    for name in FOUR_METRICS:
        assert name in result.report.metrics, result.report.table()
    assert result.report.blessed, result.report.table()

    # Pushed to <serving base>/<model name>/<integer version>/ with warmup requests inside.
    pushed = result.pushed_dir
    assert pushed is not None
    assert os.path.dirname(pushed.rstrip("/")) == str(root / "serving" / "vre")
    assert os.path.basename(pushed.rstrip("/")).isdigit()
    assert os.path.isfile(os.path.join(pushed, "saved_model.pb"))
    assert os.path.isfile(os.path.join(pushed, "assets.extra", "tf_serving_warmup_requests"))

    # Every sample video captioned through gRPC by the pushed version, with a saved key frame.
    version = int(os.path.basename(pushed.rstrip("/")))
    assert [c.video_id for c in result.captions] == [
        "bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted"]
    for c in result.captions:
        # A string per video; a barely trained tiny model may say little (even nothing).
        assert isinstance(c.caption, str), c
        assert 0 <= c.key_frame < 20
        assert c.model_version == version
        assert os.path.getsize(c.key_frame_png) > 0
        # The key-frame strip and the temporal-attention heat map, drawn from the served outputs.
        assert [os.path.basename(f) for f in c.figures] == [
            f"{c.video_id}_key_frames.png", f"{c.video_id}_temporal_attention.png"]
        assert all(open(f, "rb").read(8) == b"\x89PNG\r\n\x1a\n" for f in c.figures)


def test_demo_captions_each_training_video_with_one_of_its_references(demo):
    """What a newcomer checks first: the model learnt the two videos it was trained on."""
    from tfx_pipeline.demo import format_demo
    from vre_common.sample_data import sample_videos

    result, _, _ = demo
    references = {v["id"]: v["captions"] for v in sample_videos()}
    trained = [c for c in result.captions if c.split == "train"]
    assert [c.video_id for c in trained] == ["bigbuckbunny", "bikes"]
    for c in trained:
        assert c.caption in references[c.video_id], (c.video_id, c.caption)
        assert c.is_reference
    assert "(a reference caption)" in format_demo(result)


def test_pushed_model_runs_in_a_tensorflow_only_process(demo):
    import base64
    import glob

    import tensorflow as tf

    result, root, _ = demo
    records = []
    for path in sorted(glob.glob(str(root / "data" / "span-1" / "*" / "*.tfrecord.gz"))):
        records += [r.numpy() for r in tf.data.TFRecordDataset(path, compression_type="GZIP")]
    assert len(records) == 4
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    answer = subprocess.run(
        [sys.executable, "-c", _TF_ONLY_SCRIPT, result.pushed_dir],
        input=json.dumps([base64.b64encode(r).decode() for r in records]),
        capture_output=True, text=True, env=env, cwd="/", timeout=300, check=True,
    )
    out = json.loads(answer.stdout.strip().splitlines()[-1])
    assert len(out["captions"]) == 4 and all(isinstance(c, str) for c in out["captions"])
    assert out["captions"] == [c.caption for c in _in_record_order(result, records)]
    assert out["project_modules"] == []


def _in_record_order(result, records):
    import tensorflow as tf

    by_id = {c.video_id: c for c in result.captions}
    ids = [tf.train.Example.FromString(r).features.feature["video_id"].bytes_list.value[0]
           for r in records]
    return [by_id[i.decode()] for i in ids]


def test_unchanged_second_run_is_served_from_cache(demo):
    from tfx_pipeline.demo import demo_config
    from tfx_pipeline.local_runner import run_local

    result, root, config_path = demo
    second = run_local(demo_config(str(root), config_path))
    assert second.run_id != result.run.run_id
    states = second.states()
    print("second run:", states)
    for node in (P.EXAMPLE_GEN, P.STATISTICS_GEN, P.SCHEMA_GEN, P.EXAMPLE_VALIDATOR, P.TRAINER):
        assert states[node] == "CACHED", states
    # Same model, same data: the same artifacts as the first run.
    assert (second.node(P.TRAINER).output("model").uri
            == result.run.node(P.TRAINER).output("model").uri)
