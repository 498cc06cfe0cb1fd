import numpy as np
import pytest

from beam_jobs import vggish

pytestmark = pytest.mark.slow  # builds the 72M-parameter VGGish


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(7)
    return vggish.build_vggish()


def _write_slim_checkpoint(model, prefix):
    """Writes `model`'s weights under the published TF-Slim variable names (SaveV2 op)."""
    import tensorflow as tf

    names, tensors = [], []
    for layer_name, scope in vggish._LAYERS:
        kernel, bias = model.get_layer(layer_name).get_weights()
        names += [f"{scope}/weights", f"{scope}/biases"]
        tensors += [tf.constant(kernel), tf.constant(bias)]
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=tensors,
    )
    return str(prefix)


def test_published_architecture(model):
    assert model.output_shape == (None, vggish.EMBEDDING_SIZE)
    # The published VGGish has 72,141,184 parameters (conv 4.5M + fc 67.6M).
    assert model.count_params() == 72141184
    assert model.get_layer("fc2").get_config()["activation"] == "linear"


def test_slim_checkpoint_and_keras_weights_load(model, tmp_path):
    import keras

    x = np.random.default_rng(0).normal(size=(2, 96, 64)).astype(np.float32)
    expected = model.predict_on_batch(x)
    keras.utils.set_random_seed(8)  # another model, other weights
    other = vggish.build_vggish()
    other_expected = other.predict_on_batch(x)
    assert not np.allclose(other_expected, expected)
    keras_file = tmp_path / "other.weights.h5"
    other.save_weights(keras_file)

    prefix = _write_slim_checkpoint(model, tmp_path / "vggish_model.ckpt")
    vggish.load_vggish_weights(other, prefix)
    np.testing.assert_allclose(other.predict_on_batch(x), expected, rtol=1e-5, atol=1e-6)
    vggish.load_vggish_weights(other, keras_file)
    np.testing.assert_allclose(other.predict_on_batch(x), other_expected, rtol=1e-5, atol=1e-6)


def test_bad_weight_files_are_named(tmp_path, model):
    import tensorflow as tf

    with pytest.raises(ValueError, match="does not exist: .*nothing.weights.h5"):
        vggish.load_vggish_weights(model, tmp_path / "nothing.weights.h5")
    with pytest.raises(ValueError, match="cannot read VGGish weights"):
        vggish.load_vggish_weights(model, tmp_path / "nothing.ckpt")
    prefix = str(tmp_path / "partial.ckpt")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=["vggish/conv1/weights"],
        shape_and_slices=[""],
        tensors=[tf.zeros([3, 3, 1, 64])],
    )
    with pytest.raises(ValueError, match="no variable 'vggish/conv1/biases'"):
        vggish.load_vggish_weights(model, prefix)


def test_pca_postprocessing(tmp_path):
    path = tmp_path / "pca.npz"
    np.savez(path, pca_eigen_vectors=np.eye(128) * 2.0, pca_means=np.ones((128, 1)))
    post = vggish.PcaPostprocessor(path)
    emb = np.zeros((3, 128), np.float32)
    emb[:, 0] = [1.0, 3.0, -5.0]  # -> PCA 0, 4 (clipped to 2), -12 (clipped to -2)
    out = post(emb)
    np.testing.assert_allclose(out[:, 0], [np.round(127.5) / 255, 1.0, 0.0])
    np.savez(tmp_path / "bad.npz", pca_eigen_vectors=np.eye(3), pca_means=np.ones((3, 1)))
    with pytest.raises(ValueError, match="expected \\(128, 128\\)"):
        vggish.PcaPostprocessor(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="cannot read VGGish PCA"):
        vggish.PcaPostprocessor(tmp_path / "absent.npz")
