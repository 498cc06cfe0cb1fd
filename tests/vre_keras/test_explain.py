"""Key-frame and spatial-attention figures, and `vre explain` on a real sample video."""

import numpy as np
import pytest
from PIL import Image

from vre_keras import plots


def test_figures_are_written_and_bad_inputs_named(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(6, 32, 32, 3), dtype=np.uint8)
    strip = plots.key_frame_figure(frames, 3, 1, "a man", "a man rides", tmp_path / "k.png",
                                   key_frame_probs=rng.dirichlet(np.ones(6)))
    overlay = plots.spatial_attention_figure(frames[1], rng.dirichlet(np.ones(4), size=3),
                                             ["a", "man", "rides"], (2, 2), tmp_path / "s.png")
    assert Image.open(strip).size[0] > Image.open(strip).size[1] > 50
    assert Image.open(overlay).size[0] > 3 * 50
    with pytest.raises(ValueError, match="key_frame 9 is outside the 6 frames"):
        plots.key_frame_figure(frames, 3, 9, "", "", tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"spatial_attention must be \[L, 4\]"):
        plots.spatial_attention_figure(frames[0], np.ones((2, 5)), ["a"], (2, 2), tmp_path / "y")


def test_temporal_attention_heat_map_lies_under_the_frame_strip(tmp_path):
    frames = np.zeros((6, 24, 32, 3), np.uint8)
    frames[..., 2] = 255  # blue frames: the strip is found by colour
    attention = np.zeros((3, 6), np.float32)
    attention[:, 4] = 1.0  # every word looks at frame 4 only
    path = plots.temporal_attention_figure(frames, attention, ["a", "man", "<EOS>"],
                                           tmp_path / "t.png", key_frame=1)
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    red, green, blue = image[:, :, 0], image[:, :, 1], image[:, :, 2]
    strip = np.flatnonzero(((blue > 200) & (red < 60) & (green < 60)).any(axis=0))
    left, right = strip.min(), strip.max()
    assert right - left > 6 * 20
    # The heat map's hottest cells (viridis' yellow) sit under frame 4 of the strip, i.e. in the
    # 5th sixth of the strip's width (the colour bar right of the strip is left out).
    yellow = (red > 200) & (green > 200) & (blue < 80)
    columns = np.flatnonzero(yellow[:, left : right + 1].any(axis=0)) + left
    sixth = (right - left) / 6
    assert len(columns) > sixth / 2
    assert left + 4 * sixth - 2 <= columns.min() and columns.max() <= left + 5 * sixth + 2
    with pytest.raises(ValueError, match=r"temporal_attention must be \[L, 6\] for 6 frames"):
        plots.temporal_attention_figure(frames, np.ones((2, 5)), ["a"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="words is empty"):
        plots.temporal_attention_figure(frames, attention, [], tmp_path / "x.png")


@pytest.mark.slow
@pytest.mark.e2e
def test_vre_explain_on_a_sample_video(tmp_path, capsys):
    from vre_cli.main import main
    from vre_common.sample_data import sample_videos
    from vre_keras.config import ModelConfig, ScheduleConfig
    from vre_keras.synthetic_data import write_synthetic_records
    from vre_keras.training import run_schedule

    video = next(v for v in sample_videos() if v["id"] == "bikes")
    config = ModelConfig.tiny()
    records = write_synthetic_records(tmp_path / "r.tfrecord.gz", {"bikes": video["captions"]},
                                      config)
    schedule = ScheduleConfig.tiny(phase2_epochs=1, phase3_epochs=0, phase4_epochs=0,
                                   steps_per_epoch=1)
    run_schedule(str(records), None, config, schedule, tmp_path / "work", tmp_path / "serve",
                 tmp_path / "logs")
    code = main(["explain", "--working_dir", str(tmp_path / "work"), "--video", video["path"],
                 "--records", str(records), "--video_id", "bikes", "--output_dir",
                 str(tmp_path / "png")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "STEP1 (frame 3)" in printed and "STEP2 (frame" in printed
    assert "the refocus module's pick" in printed and "decoder attention peaks at frame" in printed
    for name in ("bikes_key_frames.png", "bikes_spatial_attention.png",
                 "bikes_temporal_attention.png"):
        assert Image.open(tmp_path / "png" / name).size[0] > 100
