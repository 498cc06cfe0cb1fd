"""A RunInference model handler for `VideoFeatureExtractor` (ResNet152 + VGGish, Keras).

Beam's own `TFModelHandlerTensor` cannot be used: `apache_beam.ml.inference.tensorflow_inference`
imports tensorflow_hub, which fails to import under TF 2.21. This handler builds the Keras
models once per worker process (`load_model`, shared by RunInference across bundles) and runs a
batch of decoded videos through the CNN in one call.
"""

import json
import typing

from apache_beam.ml.inference.base import ModelHandler, PredictionResult


class InferenceFailure(typing.NamedTuple):
    """The inference of a video that failed when retried alone: the error, for its dead letter."""

    error: str


class KerasFeatureModelHandler(ModelHandler):
    """Decoded videos in, Contract-1 feature dicts out.

    Args:
      extractor_kwargs: keyword arguments of `VideoFeatureExtractor` (weights, seed, audio).
      min_batch_size: fewest videos per CNN call.
      max_batch_size: most videos per CNN call (K frames each).
    """

    def __init__(self, extractor_kwargs, min_batch_size=1, max_batch_size=2):
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self.extractor_kwargs = dict(extractor_kwargs)
        self._description = None

    def load_model(self):
        # Imported here: the driver builds the pipeline without loading TF models.
        from beam_jobs.feature_extractor import VideoFeatureExtractor

        extractor = VideoFeatureExtractor(**self.extractor_kwargs)
        extractor.description_json = json.dumps(extractor.describe_weights(), sort_keys=True)
        return extractor

    def run_inference(self, batch, model, inference_args=None):
        """One PredictionResult per video; model_id carries the weights' description.

        When the batch fails, its videos are retried one by one, so that one bad video does not
        sink the others: a video that fails alone gets an `InferenceFailure` as its inference,
        which the job turns into its dead letter. (RunInference's own exception handling fails
        the whole batch; a second RunInference at batch size 1 for the retries would load a
        second copy of the models on every worker.)
        """
        batch = list(batch)
        try:
            features = model.extract_batch(batch)
        except Exception:
            if len(batch) == 1:
                raise
            features = []
            for decoded in batch:
                try:
                    (one,) = model.extract_batch([decoded])
                except Exception as e:
                    one = InferenceFailure(f"{type(e).__name__}: {e}")
                features.append(one)
        return [
            PredictionResult(example=decoded, inference=f, model_id=model.description_json)
            for decoded, f in zip(batch, features)
        ]

    def get_num_bytes(self, batch):
        # The frames dominate; pickling whole DecodedVideos just to measure them is wasteful.
        return sum(decoded.frames.nbytes for decoded in batch)

    def get_metrics_namespace(self):
        return "vre_features"
