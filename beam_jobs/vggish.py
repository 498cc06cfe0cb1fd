"""VGGish (Hershey et al., ICASSP 2017) as a Keras model, its weights and its PCA post-processing.

The architecture is the published one (AudioSet's `vggish_slim.py`): on a [96, 64, 1] log-mel
patch, 3x3 SAME ReLU convolutions 64 | pool | 128 | pool | 256, 256 | pool | 512, 512 | pool,
flatten, two ReLU dense layers of 4096 and a linear 128-d embedding; max-pools are 2x2 stride 2.

Weights come from a path: a Keras weights file (`*.weights.h5`) of this model, or the published
TF-Slim checkpoint (`vggish_model.ckpt`), whose variables are mapped onto the layers by name.
There is no download: TF Hub does not import under TF 2.21.
"""

import io
import os

import numpy as np

EMBEDDING_SIZE = 128
INIT_STDDEV = 0.01  # the published initialiser, used for seeded random weights

# (Keras layer name, checkpoint scope) in network order; the checkpoint holds
# `<scope>/weights` and `<scope>/biases` for each.
_LAYERS = [
    ("conv1", "vggish/conv1"),
    ("conv2", "vggish/conv2"),
    ("conv3_1", "vggish/conv3/conv3_1"),
    ("conv3_2", "vggish/conv3/conv3_2"),
    ("conv4_1", "vggish/conv4/conv4_1"),
    ("conv4_2", "vggish/conv4/conv4_2"),
    ("fc1_1", "vggish/fc1/fc1_1"),
    ("fc1_2", "vggish/fc1/fc1_2"),
    ("fc2", "vggish/fc2"),
]

# The published post-processing (AudioSet's `vggish_postprocess.py` / `vggish_params.py`).
PCA_EIGEN_VECTORS = "pca_eigen_vectors"
PCA_MEANS = "pca_means"
QUANTIZE_MIN = -2.0
QUANTIZE_MAX = 2.0


def build_vggish(name="vggish"):
    """The VGGish network: float [B, 96, 64] log-mel patches -> [B, 128] embeddings."""
    import keras

    init = keras.initializers.TruncatedNormal(stddev=INIT_STDDEV)

    def conv(filters, layer_name):
        return keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            kernel_initializer=init,
            name=layer_name,
        )

    def pool(layer_name):
        return keras.layers.MaxPooling2D(2, strides=2, padding="same", name=layer_name)

    inputs = keras.Input(shape=(96, 64), name="log_mel")
    x = keras.layers.Reshape((96, 64, 1), name="add_channel")(inputs)
    x = conv(64, "conv1")(x)
    x = pool("pool1")(x)
    x = conv(128, "conv2")(x)
    x = pool("pool2")(x)
    x = conv(256, "conv3_1")(x)
    x = conv(256, "conv3_2")(x)
    x = pool("pool3")(x)
    x = conv(512, "conv4_1")(x)
    x = conv(512, "conv4_2")(x)
    x = pool("pool4")(x)
    x = keras.layers.Flatten(name="flatten")(x)  # (B, 6*4*512), HWC order as in TF-Slim
    x = keras.layers.Dense(4096, activation="relu", kernel_initializer=init, name="fc1_1")(x)
    x = keras.layers.Dense(4096, activation="relu", kernel_initializer=init, name="fc1_2")(x)
    outputs = keras.layers.Dense(EMBEDDING_SIZE, kernel_initializer=init, name="fc2")(x)
    return keras.Model(inputs, outputs, name=name)


def load_vggish_weights(model, path):
    """Loads VGGish weights from a Keras weights file or the published TF-Slim checkpoint.

    Args:
      model: a model from `build_vggish`.
      path: `*.weights.h5` (Keras) or a TF checkpoint prefix such as `vggish_model.ckpt`.

    Raises:
      ValueError: the file is missing, or a checkpoint lacks a VGGish variable or has a
        different shape; the message names the path and the variable.
    """
    from beam_jobs.local_copy import local_checkpoint, local_copy

    path = str(path)
    # Remote files (gs://...) are copied to a local temp file first: Keras opens .h5 weights
    # with h5py, which reads local files only.
    if path.endswith((".h5", ".keras")):
        try:
            with local_copy(path, prefix="vre-weights-") as local:
                if not os.path.exists(local):
                    raise FileNotFoundError(local)
                model.load_weights(local)
        except FileNotFoundError as e:
            raise ValueError(f"VGGish weights file does not exist: {path} ({e})") from e
        return model
    try:
        with local_checkpoint(path) as local:
            return _load_checkpoint(model, local, path)
    except FileNotFoundError as e:
        raise ValueError(f"cannot read VGGish weights {path}: {e}") from e


def _load_checkpoint(model, local, path):
    """Maps the TF-Slim checkpoint at the local prefix `local` (read from `path`) onto `model`."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(local)
    except Exception as e:
        raise ValueError(
            f"cannot read VGGish weights {path}: expected a Keras '*.weights.h5' file or the "
            f"TF-Slim checkpoint 'vggish_model.ckpt' ({e})"
        ) from e
    available = reader.get_variable_to_shape_map()
    for layer_name, scope in _LAYERS:
        layer = model.get_layer(layer_name)
        values = []
        for suffix, variable in (("weights", layer.kernel), ("biases", layer.bias)):
            key = f"{scope}/{suffix}"
            if key not in available:
                raise ValueError(f"VGGish checkpoint {path} has no variable {key!r}")
            value = reader.get_tensor(key)
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"VGGish checkpoint {path}: {key} has shape {value.shape}, "
                    f"the model expects {tuple(variable.shape)}"
                )
            values.append(value)
        layer.set_weights(values)
    return model


class PcaPostprocessor:
    """The published embedding post-processing: PCA (whitening), clipping, 8-bit quantisation.

    The quantised values (0..255 in AudioSet's release) are returned scaled to [0, 1] floats,
    since Contract 1 stores floats.

    Args:
      path: an `.npz` with `pca_eigen_vectors` [128, 128] and `pca_means` [128, 1]
        (AudioSet's `vggish_pca_params.npz`).
    """

    def __init__(self, path):
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        self.path = str(path)
        try:
            # Read whole through Beam's filesystems (np.load seeks; the file is 65 KB).
            with FileSystems.open(self.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                data = f.read()
            params = np.load(io.BytesIO(data))
            self.eigen_vectors = np.asarray(params[PCA_EIGEN_VECTORS], dtype=np.float64)
            self.means = np.asarray(params[PCA_MEANS], dtype=np.float64).reshape(-1, 1)
        except Exception as e:  # Beam wraps filesystem errors; numpy raises several types
            raise ValueError(
                f"cannot read VGGish PCA parameters from {self.path}: need an .npz with "
                f"{PCA_EIGEN_VECTORS!r} [128, 128] and {PCA_MEANS!r} [128, 1] ({e})"
            ) from e
        if self.eigen_vectors.shape != (EMBEDDING_SIZE, EMBEDDING_SIZE) or self.means.shape != (
            EMBEDDING_SIZE,
            1,
        ):
            raise ValueError(
                f"VGGish PCA parameters in {self.path} have shapes {self.eigen_vectors.shape} "
                f"and {self.means.shape}, expected (128, 128) and (128, 1)"
            )

    def __call__(self, embeddings):
        """[E, 128] raw embeddings -> [E, 128] post-processed floats in [0, 1]."""
        pca = (self.eigen_vectors @ (np.asarray(embeddings, np.float64).T - self.means)).T
        clipped = np.clip(pca, QUANTIZE_MIN, QUANTIZE_MAX)
        quantized = np.round((clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN)))
        return (quantized / 255.0).astype(np.float32)
