"""Contract-1 features of decoded videos: ResNet152 temporal/spatial means and VGGish audio.

`VideoFeatureExtractor` is shared by the Beam job (through `KerasFeatureModelHandler` and
RunInference) and by the caption client (`extract`), so training and serving features agree by
construction.

Weights: `cnn_weights` is "imagenet" or a path, `vggish_weights` a path. Without them the
extractor refuses to run unless `allow_random_weights=True`; then every model is initialised
from a FIXED seed (`keras.utils.set_random_seed` just before each build), so every process,
worker and run gets the same random weights and features computed at serving time match the
training features. That is for tests and the demo only, and it is logged as a warning.
"""

import hashlib
import logging

import numpy as np

from beam_jobs import cnn_features, log_mel, vggish
from beam_jobs.job_args import DEFAULT_RANDOM_SEED, DEFAULT_VGGISH_BATCH_SIZE
from vre_common import contract

_LOG = logging.getLogger(__name__)


class MissingWeightsError(ValueError):
    """No weights were given and random weights were not allowed."""


def _fingerprint(model):
    """A short hash of a model's weights, to check that two processes use the same ones."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


class VideoFeatureExtractor:
    """Computes Contract-1 features from `DecodedVideo`s.

    Args:
      cnn_weights: "imagenet" or a path to ResNet152 (no top) weights; None = random (see below).
      vggish_weights: path to VGGish weights (`*.weights.h5` or the TF-Slim `vggish_model.ckpt`);
        None = random (see below).
      allow_random_weights: allow None weights; the models are then built from `random_seed`.
      pca_params: optional path to VGGish's `vggish_pca_params.npz`; when given, embeddings get
        the published PCA / clip / quantise post-processing before the clip average.
      use_audio: False skips VGGish entirely (audio = zeros, has_audio = 0), e.g. for MSVD whose
        clips are muted (paper §4.2); no VGGish weights are needed then.
      random_seed: the seed of the random weights.
      num_frames: K, frames per video.
      vggish_batch_size: log-mel examples (0.96 s each) per VGGish call; the waveform is turned
        into examples one batch at a time, so memory does not grow with the clip's length.

    Example:
      >>> extractor = VideoFeatureExtractor(allow_random_weights=True)
      >>> features = extractor.extract(decode_video("clip.mp4"))
      >>> features["temporal"].shape, features["spatial"].shape
      ((20, 2048), (49, 2048))
    """

    def __init__(
        self,
        cnn_weights=None,
        vggish_weights=None,
        allow_random_weights=False,
        pca_params=None,
        use_audio=True,
        random_seed=DEFAULT_RANDOM_SEED,
        num_frames=contract.NUM_FRAMES,
        vggish_batch_size=DEFAULT_VGGISH_BATCH_SIZE,
    ):
        if vggish_batch_size < 1:
            raise ValueError(f"vggish_batch_size must be >= 1, got {vggish_batch_size}")
        missing = []
        if cnn_weights is None:
            missing.append("CNN (cnn_weights='imagenet' or a path)")
        if use_audio and vggish_weights is None:
            missing.append("VGGish (vggish_weights=PATH)")
        if missing and not allow_random_weights:
            raise MissingWeightsError(
                "no weights for " + " and ".join(missing) + ": features from random weights "
                "are useless for real captioning; pass the weights, or allow_random_weights=True "
                "(--allow_random_weights) for tests and demos"
            )
        self.cnn_weights = cnn_weights
        self.vggish_weights = vggish_weights
        self.allow_random_weights = allow_random_weights
        self.pca_params = pca_params
        self.use_audio = use_audio
        self.random_seed = int(random_seed)
        self.num_frames = int(num_frames)
        self.vggish_batch_size = int(vggish_batch_size)
        self._build()

    def _build(self):
        import keras

        if self.cnn_weights is None:
            _LOG.warning(
                "USING RANDOM CNN WEIGHTS (seed=%d): features are for tests and demos only",
                self.random_seed,
            )
            keras.utils.set_random_seed(self.random_seed)
        self.cnn = cnn_features.build_resnet152(self.cnn_weights)
        self._cnn_forward = cnn_features.make_pooled_forward(self.cnn, self.num_frames)
        self.vggish = None
        self._postprocess = None
        if self.use_audio:
            if self.vggish_weights is None:
                _LOG.warning(
                    "USING RANDOM VGGISH WEIGHTS (seed=%d): features are for tests and demos only",
                    self.random_seed + 1,
                )
                keras.utils.set_random_seed(self.random_seed + 1)
            self.vggish = vggish.build_vggish()
            if self.vggish_weights is not None:
                vggish.load_vggish_weights(self.vggish, self.vggish_weights)
            if self.pca_params is not None:
                self._postprocess = vggish.PcaPostprocessor(self.pca_params)

    def describe_weights(self):
        """What weights are in use, for metadata.json and logs (fingerprints included)."""

        def name(weights, offset):
            if weights is None:
                return f"random(seed={self.random_seed + offset})"
            return str(weights)

        info = {
            "cnn": "ResNet152 (keras.applications, include_top=False)",
            "cnn_weights": name(self.cnn_weights, 0),
            "cnn_fingerprint": _fingerprint(self.cnn),
            "audio": "VGGish" if self.use_audio else "disabled",
        }
        if self.use_audio:
            info["vggish_weights"] = name(self.vggish_weights, 1)
            info["vggish_fingerprint"] = _fingerprint(self.vggish)
            info["vggish_pca_params"] = str(self.pca_params) if self.pca_params else None
        return info

    def _check(self, decoded):
        expected = (self.num_frames, contract.FRAME_SIZE, contract.FRAME_SIZE, 3)
        if decoded.frames.shape != expected or decoded.frames.dtype != np.uint8:
            raise ValueError(
                f"decoded frames of {decoded.path} are {decoded.frames.dtype} "
                f"{decoded.frames.shape}, expected uint8 {expected}"
            )

    def _audio_embedding(self, decoded):
        """VGGish embeddings of each 0.96 s window, averaged over the clip: (audio, has_audio).

        The windows go through VGGish `vggish_batch_size` at a time (log-mel computed per batch
        from its slice of the waveform), so memory is bounded whatever the clip's length.
        """
        if not self.use_audio or not decoded.has_audio:
            return np.zeros([contract.AUDIO_DIM], np.float32), 0
        waveform = decoded.audio
        if not np.all(np.isfinite(waveform)):
            raise ValueError(f"the audio of {decoded.path} has NaN or infinite samples")
        total = np.zeros([vggish.EMBEDDING_SIZE], np.float64)
        count = 0
        for chunk in log_mel.example_chunks(waveform, self.vggish_batch_size):
            examples = log_mel.log_mel_examples(chunk, decoded.audio_sample_rate)
            embeddings = np.asarray(self.vggish.predict_on_batch(examples), dtype=np.float32)
            if self._postprocess is not None:
                embeddings = self._postprocess(embeddings)
            total += embeddings.sum(axis=0, dtype=np.float64)
            count += len(embeddings)
        return (total / count).astype(np.float32), 1

    def extract_batch(self, decoded_videos):
        """Features of several videos, the CNN run once on all their frames.

        Args:
          decoded_videos: a list of `DecodedVideo`.

        Returns:
          A list of dicts, one per video, with `temporal` float32 [K, C], `spatial` float32
          [N*M, C], `audio` float32 [128] and `has_audio` int (0 or 1).
        """
        if not decoded_videos:
            return []
        for decoded in decoded_videos:
            self._check(decoded)
        frames = np.stack([d.frames for d in decoded_videos])  # (B, K, 224, 224, 3) uint8
        temporal, spatial = self._cnn_forward(frames)  # (B, K, C), (B, N*M, C)
        temporal, spatial = temporal.numpy(), spatial.numpy()
        results = []
        for i, decoded in enumerate(decoded_videos):
            audio, has_audio = self._audio_embedding(decoded)
            results.append(
                {
                    contract.TEMPORAL: temporal[i],
                    contract.SPATIAL: spatial[i],
                    contract.AUDIO: audio,
                    contract.HAS_AUDIO: has_audio,
                }
            )
        return results

    def extract(self, decoded):
        """Features of one `DecodedVideo` (see `extract_batch`)."""
        return self.extract_batch([decoded])[0]
