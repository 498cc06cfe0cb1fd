"""Figures that explain a caption: key frames (paper Fig. 3) and spatial attention (Fig. 4)."""

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
