"""`vre pipeline compile` refuses bad input with one line naming it, before TFX is imported."""

import pytest

from vre_cli.main import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--image", "Registry/VRE image", "--output", "p.yaml"], "is not a container image"),
        (["--image", "r.example.com/vre:1", "--output", "p.txt"], "must end with one of .yaml"),
        (
            ["--image", "r.example.com/vre:1", "--output", "p.yaml", "--config", "nope.yaml"],
            "nope.yaml does not exist",
        ),
    ],
)
def test_bad_compile_input(argv, message, tmp_path, capsys):
    argv = [str(tmp_path / a) if a.startswith(("p.", "nope")) else a for a in argv]
    assert main(["pipeline", "compile", "--target", "kubeflow", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_unset_bucket_variable_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VRE_BUCKET", raising=False)
    argv = ["--image", "r.example.com/vre:1", "--output", str(tmp_path / "p.yaml")]
    assert main(["pipeline", "compile", *argv]) == 2
    assert "environment variable VRE_BUCKET" in capsys.readouterr().err


def test_only_kubeflow_is_a_target(capsys):
    with pytest.raises(SystemExit):
        main(
            ["pipeline", "compile", "--target", "airflow", "--image", "x/y:1", "--output", "p.yaml"]
        )
    assert "invalid choice: 'airflow'" in capsys.readouterr().err


def test_multi_span_training_is_refused_at_compile_time(tmp_path, capsys):
    """KFP v2 cannot run the SpanRangeStrategy Resolver: refused, naming the way out."""
    config = tmp_path / "multi.yaml"
    config.write_text(f"root: {tmp_path}\ndata: {{train_num_spans: 3}}\n")
    output = tmp_path / "p.yaml"
    argv = ["--image", "r.example.com/vre:1", "--output", str(output), "--config", str(config)]
    assert main(["pipeline", "compile", "--target", "kubeflow", *argv]) == 2
    err = capsys.readouterr().err
    assert "train_num_spans=3 cannot run on Kubeflow" in err
    assert "vre spans build" in err
    assert not output.exists()
