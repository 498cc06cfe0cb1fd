"""A tiny real VRE model, exported: what the serving and pipeline tests load."""

import numpy as np

from vre_keras.config import ModelConfig
from vre_keras.vocabulary import Vocabulary

TINY_CAPTIONS = (
    "a man is riding a bike",
    "a man is talking on a phone",
    "a rabbit is walking on the grass",
    "a man is riding a bike in traffic",
    "a man talks on the phone in a car",
    "a cartoon rabbit walks on the grass",
)


def build_tiny_model(seed=0, train_steps=2):
    """Builds ModelConfig.tiny() with a vocabulary of TINY_CAPTIONS and trains a few steps.

    Args:
        seed: seed of the weights and of the random features it trains on.
        train_steps: phase-1 steps on random features (0 leaves the initial weights).

    Returns:
        (model, vocabulary).
    """
    import keras
    import tensorflow as tf

    from vre_keras.vre_captioner import PHASE_STEP1_XE, VRECaptioner

    keras.utils.set_random_seed(seed)
    config = ModelConfig.tiny(seed=seed)
    vocabulary = Vocabulary.build(TINY_CAPTIONS, min_count=config.min_word_count)
    model = VRECaptioner(config, vocab_size=len(vocabulary)).build_all()
    if train_steps:
        rng = np.random.default_rng(seed)
        n = len(TINY_CAPTIONS)
        data = {
            "temporal": rng.normal(size=(n, config.num_frames, config.channels)).astype("float32"),
            "spatial": rng.normal(size=(n, config.num_regions, config.channels)).astype("float32"),
            "audio": rng.normal(size=(n, config.audio_dim)).astype("float32"),
            "tokens": np.stack([vocabulary.encode(c, config.max_caption_words)
                                for c in TINY_CAPTIONS]),
        }
        model.set_phase(PHASE_STEP1_XE)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=False)
        batch = {k: tf.constant(v) for k, v in data.items()}
        for _ in range(train_steps):
            model.train_step(batch)  # eager: a few steps cost less than tracing fit's function
    model.freeze_key_frame_predictor()
    return model, vocabulary


def build_tiny_exported_model(export_dir, seed=0) -> str:
    """Builds the tiny model (see build_tiny_model) and exports it as a SavedModel (Contract 2).

    Args:
        export_dir: where to write the SavedModel (e.g. <serving base>/<name>/1).
        seed: weight and data seed.

    Returns:
        export_dir as a string.
    """
    from vre_keras.export import export_saved_model

    model, vocabulary = build_tiny_model(seed=seed)
    return export_saved_model(model, vocabulary, export_dir)
