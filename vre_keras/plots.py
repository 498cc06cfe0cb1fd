"""Figures that explain a caption: key frames (paper Fig. 3), the decoder's temporal attention per
word over the frame strip, and spatial attention (Fig. 4).

The two temporal signals are different things: the key frame is the refocus module's pick (argmax
alpha, Eq. 11) that step 2 re-encodes the video from; the temporal attention is the decoder's
weight on each frame while it emits each word (Eq. 15). docs/model.md says which of them localizes
the event on the localization benchmark.
"""

import io

import numpy as np

from vre_common import storage

DEFAULT_COLOR = "gold"  # the paper's yellow border: step 1's default key frame
PREDICTED_COLOR = "red"  # the refocused key frame of step 2


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save_png(plt, fig, path) -> str:
    """Writes the figure as PNG to `path`, which may be remote (gs://): rendered in memory first."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return storage.write_bytes(path, buffer.getvalue())


def key_frame_figure(frames, default_key_frame, key_frame, step1_caption, step2_caption, path,
                     key_frame_probs=None, references=()):
    """Writes a strip of the K frames with the default and predicted key frames outlined.

    Args:
        frames: uint8 [K, H, W, 3] sampled frames.
        default_key_frame: step 1's key frame (K // 2).
        key_frame: the refocused key frame.
        step1_caption, step2_caption: the captions of the two steps.
        path: PNG to write.
        key_frame_probs: optional α [K], drawn as bars under the strip.
        references: optional ground-truth captions to print.

    Returns:
        the path.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [K, H, W, 3], got shape {frames.shape}")
    k = len(frames)
    for name, value in (("default_key_frame", default_key_frame), ("key_frame", key_frame)):
        if not 0 <= int(value) < k:
            raise ValueError(f"{name} {value} is outside the {k} frames")
    plt = _pyplot()
    rows = 2 if key_frame_probs is not None else 1
    fig, axes = plt.subplots(rows, k, figsize=(1.2 * k, 1.6 * rows + 1.2), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1][:rows]})
    for i in range(k):
        ax = axes[0, i]
        ax.imshow(frames[i])
        ax.set_xticks([])
        ax.set_yticks([])
        color = PREDICTED_COLOR if i == int(key_frame) else (
            DEFAULT_COLOR if i == int(default_key_frame) else None)
        for spine in ax.spines.values():
            spine.set_visible(color is not None)
            if color:
                spine.set_edgecolor(color)
                spine.set_linewidth(4)
        ax.set_title(str(i), fontsize=7)
        if key_frame_probs is not None:
            bar = axes[1, i]
            bar.bar([0], [float(key_frame_probs[i])], color=color or "grey")
            bar.set_ylim(0, max(float(np.max(key_frame_probs)), 1e-6))
            bar.axis("off")
    text = [f"STEP1 (frame {int(default_key_frame)}): {step1_caption}",
            f"STEP2 (frame {int(key_frame)}): {step2_caption}"]
    text += [f"GT: {r}" for r in references[:2]]
    fig.suptitle("\n".join(text), fontsize=9, x=0.01, ha="left")
    return _save_png(plt, fig, path)


def spatial_attention_figure(frame, spatial_attention, words, grid, path):
    """Writes one panel per word: the frame with that step's N x M spatial attention over it.

    Args:
        frame: uint8 [H, W, 3] frame to draw on (e.g. the key frame).
        spatial_attention: float [L, N*M] weights per decoding step.
        words: the caption's words (one panel each, at most L).
        grid: (N, M) of the feature map.
        path: PNG to write.

    Returns:
        the path.
    """
    n, m = grid
    attention = np.asarray(spatial_attention, np.float32)
    if attention.ndim != 2 or attention.shape[1] != n * m:
        raise ValueError(f"spatial_attention must be [L, {n * m}], got {attention.shape}")
    words = list(words)[: len(attention)] or ["<EOS>"]
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(words), figsize=(2.2 * len(words), 2.6), squeeze=False)
    height, width = np.asarray(frame).shape[:2]
    for t, word in enumerate(words):
        ax = axes[0, t]
        ax.imshow(frame)
        # The N x M weights stretched over the whole frame, smoothed as in the paper's Fig. 4.
        ax.imshow(attention[t].reshape(n, m), cmap="jet", alpha=0.45,
                  extent=(0, width, height, 0), interpolation="bilinear")
        ax.set_title(word, fontsize=10)
        ax.axis("off")
    return _save_png(plt, fig, path)


def temporal_attention_figure(frames, temporal_attention, words, path, key_frame=None):
    """Writes the frame strip with the decoder's temporal attention under it, one row per word.

    Column i of the heat map lies under frame i, so a bright cell says "while emitting this word
    the decoder looked at this frame" (AttTSoft, Eq. 15); the refocus module's key frame, if
    given, is outlined on the strip for comparison.

    Args:
        frames: uint8 [K, H, W, 3] sampled frames (all of one size).
        temporal_attention: float [L, K] weights per decoding step.
        words: the caption's words, one row each (at most L; <EOS> may be the last).
        path: PNG to write.
        key_frame: optional refocused key frame to outline.

    Returns:
        the path.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [K, H, W, 3], got shape {frames.shape}")
    k = len(frames)
    attention = np.asarray(temporal_attention, np.float32)
    if attention.ndim != 2 or attention.shape[1] != k:
        raise ValueError(f"temporal_attention must be [L, {k}] for {k} frames, "
                         f"got {attention.shape}")
    words = list(words)[: len(attention)]
    if not words:
        raise ValueError("words is empty: nothing to draw a row for")
    if key_frame is not None and not 0 <= int(key_frame) < k:
        raise ValueError(f"key_frame {key_frame} is outside the {k} frames")
    attention = attention[: len(words)]
    plt = _pyplot()
    height = frames.shape[1] / frames.shape[2]  # one frame's height in frame widths
    strip_inches, map_inches = 0.6 * height, 0.3 * len(words) + 0.2  # each frame 0.6" wide
    fig, (top, bottom) = plt.subplots(
        2, 1, sharex=True, figsize=(0.6 * k + 1.5, strip_inches + map_inches + 0.9),
        gridspec_kw={"height_ratios": [strip_inches, map_inches]})
    # The strip is one image whose x axis counts frames, so column i of the map sits under it.
    top.imshow(np.concatenate(list(frames), axis=1), extent=(0, k, height, 0), aspect="equal")
    top.set_yticks([])
    if key_frame is not None:
        top.add_patch(plt.Rectangle((int(key_frame), 0), 1, height, fill=False,
                                    edgecolor=PREDICTED_COLOR, linewidth=3))
        top.set_title(f"red: refocused key frame {int(key_frame)}; rows: the decoder's "
                      "temporal attention per word", fontsize=9)
    image = bottom.imshow(attention, extent=(0, k, len(words), 0), aspect="auto", cmap="viridis",
                          vmin=0.0, interpolation="nearest")
    bottom.set_yticks(np.arange(len(words)) + 0.5, labels=words, fontsize=8)
    bottom.set_xticks(np.arange(k) + 0.5, labels=[str(i) for i in range(k)], fontsize=7)
    bottom.set_xlabel("frame")
    fig.colorbar(image, ax=[top, bottom], fraction=0.02, pad=0.01, label="attention")
    return _save_png(plt, fig, path)
