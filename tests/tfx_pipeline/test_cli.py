"""`vre pipeline` and `vre demo`: the commands parse, list their actions and reject bad input."""

import pytest

from vre_cli.main import build_parser, main


def test_pipeline_actions_include_run_and_kubeflow_actions(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pipeline", "--help"])
    text = capsys.readouterr().out
    assert "run" in text
    # kubeflow/cli_actions.py contributes its actions when present.
    import importlib.util

    if importlib.util.find_spec("kubeflow.cli_actions") is not None:
        for action in ("compile", "submit", "schedule"):
            assert action in text


def test_pipeline_run_needs_a_config():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pipeline", "run"])


def test_pipeline_run_names_a_missing_config(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main(["pipeline", "run", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err


def test_pipeline_run_names_a_bad_key(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("trainer: {model_preset: tiny, epochs: 3}\n")
    assert main(["pipeline", "run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) epochs" in err and str(config) in err


def test_pipeline_run_without_data_says_how_to_make_it(tmp_path, capsys):
    config = tmp_path / "empty.yaml"
    config.write_text(f"root: {tmp_path}\ntrainer: {{model_preset: tiny}}\n")
    assert main(["pipeline", "run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "holds no span-<N>/<split>/ folders" in err


def test_demo_parses_its_root():
    args = build_parser().parse_args(["demo", "--root", "/tmp/x"])
    assert args.root == "/tmp/x"
