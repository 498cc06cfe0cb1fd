"""A tiny VRE captioner at Contract 2's full input sizes (K=20, C=2048, N*M=49), exported.

The caption client sends the real feature extractor's output, so the model behind it must take
full-size features; its hidden sizes stay tiny and its weights untrained (a test of the plumbing,
not of caption quality).
"""


def build_contract_sized_model(export_dir: str, seed: int = 0) -> str:
    """Builds and exports the model; returns export_dir.

    Args:
        export_dir: where to write the SavedModel.
        seed: weight seed.
    """
    import keras

    from vre_common import contract
    from vre_keras.config import ModelConfig
    from vre_keras.export import export_saved_model
    from vre_keras.tiny_model import TINY_CAPTIONS
    from vre_keras.vocabulary import Vocabulary
    from vre_keras.vre_captioner import VRECaptioner

    keras.utils.set_random_seed(seed)
    config = ModelConfig.tiny(
        seed=seed,
        num_frames=contract.NUM_FRAMES,
        channels=contract.FEATURE_CHANNELS,
        num_regions=contract.NUM_REGIONS,
    )
    vocabulary = Vocabulary.build(TINY_CAPTIONS, min_count=config.min_word_count)
    model = VRECaptioner(config, vocab_size=len(vocabulary)).build_all()
    model.freeze_key_frame_predictor()
    return export_saved_model(model, vocabulary, export_dir)
