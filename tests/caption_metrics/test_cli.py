"""`vre evaluate` through the real CLI entry point, with JSON, JSONL and CSV files."""

import csv
import json

import pytest

from vre_cli.main import main
from vre_common.sample_data import _CAPTIONS_FILE
from vre_keras.caption_metrics import score_corpus

FAST = ["Bleu", "ROUGE_L", "CIDEr", "CIDEr-D"]
PREDICTIONS = {
    "bigbuckbunny": "A rabbit comes out of a hole.",
    "bikes": "a man rides a bike",
    "carphone_pristine": "a man talks on the phone",
    "carphone_distorted": "",
}


def _sample_references():
    return {v["id"]: v["captions"] for v in json.loads(_CAPTIONS_FILE.read_text())["videos"]}


def test_evaluate_json_in_table_and_json_out(tmp_path, capsys):
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(PREDICTIONS))
    out = tmp_path / "report" / "scores.json"
    rc = main(
        [
            "evaluate",
            "--predictions",
            str(pred),
            "--references",
            str(_CAPTIONS_FILE),
            "--metrics",
            *FAST,
            "--output",
            str(out),
            "--per_video",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "CIDEr-D" in printed and "(4 videos)" in printed
    report = json.loads(out.read_text())
    want = score_corpus(PREDICTIONS, _sample_references(), metrics=FAST)
    assert report["scores"] == pytest.approx(want, abs=1e-12)
    assert set(report["per_video"]) == set(PREDICTIONS)
    assert report["per_video"]["carphone_distorted"]["CIDEr"] == 0.0


def test_evaluate_csv_and_jsonl_rows(tmp_path, capsys):
    pred = tmp_path / "pred.csv"
    with pred.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "caption"])
        w.writerows(PREDICTIONS.items())
    refs = tmp_path / "refs.jsonl"
    refs.write_text(
        "".join(
            json.dumps({"video_id": k, "caption": c}) + "\n"
            for k, caps in _sample_references().items()
            for c in caps
        )
    )
    assert (
        main(
            ["evaluate", "--predictions", str(pred), "--references", str(refs), "--metrics", *FAST]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == pytest.approx(
        score_corpus(PREDICTIONS, _sample_references(), metrics=FAST), abs=1e-12
    )


def test_evaluate_only_predicted_subset(tmp_path, capsys):
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"bikes": "a man rides a bike"}))
    args = [
        "evaluate",
        "--predictions",
        str(pred),
        "--references",
        str(_CAPTIONS_FILE),
        "--metrics",
        "CIDEr",
    ]
    assert main(args) == 2
    assert "references but no hypothesis: 'bigbuckbunny'" in capsys.readouterr().err
    assert main(args + ["--only_predicted"]) == 0


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        ('{"bikes": 3}', ".json", "id 'bikes': caption is not a string"),
        ('[{"caption": "x"}]', ".json", "row 1: no id field"),
        ("not json", ".json", "not JSON"),
        (
            '[{"video_id": "bikes", "caption": "a"}, {"video_id": "bikes", "caption": "b"}]',
            ".json",
            "second prediction for id 'bikes'",
        ),
    ],
)
def test_evaluate_bad_prediction_files(tmp_path, capsys, content, suffix, message):
    pred = tmp_path / f"pred{suffix}"
    pred.write_text(content)
    rc = main(
        [
            "evaluate",
            "--predictions",
            str(pred),
            "--references",
            str(_CAPTIONS_FILE),
            "--metrics",
            "CIDEr",
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and str(pred) in err


def test_evaluate_missing_file(tmp_path, capsys):
    assert (
        main(
            [
                "evaluate",
                "--predictions",
                str(tmp_path / "nope.json"),
                "--references",
                str(_CAPTIONS_FILE),
            ]
        )
        == 2
    )
    assert "nope.json: no such file" in capsys.readouterr().err


def test_evaluate_rejects_zero_meteor_workers(tmp_path, capsys):
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(PREDICTIONS))
    assert (
        main(
            [
                "evaluate",
                "--predictions",
                str(pred),
                "--references",
                str(_CAPTIONS_FILE),
                "--meteor_workers",
                "0",
            ]
        )
        == 2
    )
    assert "--meteor_workers must be >= 1, got 0" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_meteor_fast_path_equals_the_full_jar(tmp_path, capsys, meteor_scorer):
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(PREDICTIONS))
    assert (
        main(
            [
                "evaluate",
                "--predictions",
                str(pred),
                "--references",
                str(_CAPTIONS_FILE),
                "--metrics",
                "METEOR",
                "--meteor_workers",
                "3",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    want = score_corpus(
        PREDICTIONS, _sample_references(), metrics=["METEOR"], meteor_scorer=meteor_scorer
    )  # coco-caption's command, full table
    assert printed == want
