"""Typed configuration of the model and of the training schedule (paper §4.2 defaults).

Both dataclasses round-trip through plain dicts (`to_dict` / `from_dict`) so the TFX Trainer's
`custom_config` can carry them, and the resolved config is written next to the trained model.
"""

import dataclasses

from vre_common import contract

_DECODING_METHODS = ("greedy", "beam")
_KBIGRU_IMPLEMENTATIONS = ("while_loop", "vectorized")
ENCODERS = ("kbigru", "none")
REWARD_PASSES = ("deterministic", "training")
REWARD_NORMALIZATIONS = ("sum", "per_token")
REFOCUS_LOSSES = ("lr_plus", "decoder_attention")


# The model rows of the paper's Table 1 (its ablation), as ModelConfig fields. Every row is
# trained by the same schedule and exported with the same Contract-2 signatures.
TABLE1_ROWS = {
    # Soft attention over the frames and regions only: no RNN encoder, the decoder starts from
    # o = 0 (its first step's attention, queried by zeros, reads the mean frame and region).
    "Vf+vs": dict(encoder="none", refocus=False, use_spatial=True, use_audio=False),
    # One KBiGRU pass from the default key frame; temporal attention only.
    "KBiGRU(Vf)": dict(encoder="kbigru", refocus=False, use_spatial=False, use_audio=False),
    # The same with the spatial attention and the audio vector.
    "KBiGRU(Vf)+vs+va": dict(encoder="kbigru", refocus=False, use_spatial=True, use_audio=True),
    # The full model: the Video Refocusing Encoder (Alg. 1) trained with L_All.
    "VRE(Vf,vs,va)": dict(encoder="kbigru", refocus=True, use_spatial=True, use_audio=True),
}
DEFAULT_ROW = "VRE(Vf,vs,va)"


def table1_row(name) -> dict:
    """The ModelConfig fields of a Table-1 row, e.g. table1_row("KBiGRU(Vf)")."""
    if name not in TABLE1_ROWS:
        raise ValueError(f"unknown Table-1 row {name!r}; choose from {list(TABLE1_ROWS)}")
    return dict(TABLE1_ROWS[name])


def _from_dict(cls, values):
    if not isinstance(values, dict):
        raise TypeError(f"{cls.__name__}.from_dict needs a dict, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known keys: {sorted(known)}")
    return cls(**values)


@dataclasses.dataclass
class ModelConfig:
    """Sizes and hyper-parameters of the VRE captioner.

    Attributes:
        hidden_size: GRU, LSTM and video representation size (paper: 512).
        embedding_size: word embedding size (paper: 512). Must equal `hidden_size`, because the
            decoder LSTM takes o_i at t = 0 and the word embedding later in the same input slot
            (Alg. 2).
        attention_size: width of the projections inside the attention modules (Eq. 8, 14).
        num_frames: K, sampled frames per video.
        channels: C, CNN feature channels.
        num_regions: N*M spatial regions.
        audio_dim: size of the VGGish audio vector.
        use_audio: feed the audio vector to the VRE and the decoder (False for MSVD).
        encoder: "kbigru" (the KBiGRU video encoder, Eq. 4-7) or "none" (no RNN encoder: the
            decoder starts from o = 0 and sees the video through its soft attentions only).
        refocus: the Video Refocusing Encoder's second pass (Alg. 1) and LR+; False keeps one
            encoder pass from the default key frame. Without it the exported `key_frame` is -1
            and `key_frame_probs` are all 0 (no key frame is predicted).
        use_spatial: the decoder's spatial attention over the N*M regions (AttSSoft); without
            it the exported `spatial_attention` is all 0.
        max_caption_words: words kept per caption; the decoder runs one more step for <EOS>.
        min_word_count: words seen fewer times become <UNK>.
        dropout: rate of the dropout before the word projection.
        beta: weight of LR+ in L_All (Eq. 22).
        scheduled_sampling: probability of feeding the model's own previous word in training.
        learning_rate: Adam learning rate of phases 1-3 (paper: 3e-4).
        self_critical_learning_rate: Adam learning rate of phase 4 (the paper gives none; a tenth
            of the XE rate keeps the policy-gradient steps from undoing the XE model).
        default_key_frame: i_key of step 1; None means K // 2.
        kbigru_implementation: "vectorized" or "while_loop" (same numbers; see the benchmark).
        decoding: "greedy" or "beam", the method of the exported serving signatures.
        beam_size: beams of the beam search.
        length_penalty: exponent of the length normalisation of beam scores (0 = none).
        seed: seed of the weight initialisers and of scheduled sampling.
        standardize_features: standardise every frame, region and audio vector over its channels
            before the model reads it (vre_keras/feature_standardization.py; not in the paper,
            which feeds raw ResNet features: False reproduces that).
        channel_statistics: before that, z-score every temporal and spatial channel with its
            mean and standard deviation over the training videos (measured by run_schedule,
            carried in the weights; vre_keras/layers/channel_statistics.py). Not in the paper.
        reward_passes: how R_e = -(XE2 - XE1) of LR+ is measured. "deterministic": two extra
            teacher-forced passes without dropout or scheduled sampling (inference behaviour),
            so R_e depends only on the weights, the video and the caption; "training": from the
            training passes themselves (their dropout masks and sampling draws differ between
            step 1 and step 2, which makes the sign of R_e - R_{e-1} mostly noise).
        reward_normalization: "sum" (Eq. 17-18: summed over the caption's tokens) or
            "per_token" (each XE divided by the caption's scored tokens, <EOS> included).
        refocus_loss: what trains the refocus module in phase 2. "decoder_attention" (the
            default; not in the paper): the cross-entropy from the decoder's step-2 temporal
            attention (averaged over the caption's words, no gradient) to alpha, with o1 held
            fixed, so it trains only the refocus module (logged as `refocus_xe`); "lr_plus":
            the paper's LR+ (Eq. 21, argmax key frame rewarded by R_e - R_{e-1}; logged as
            `lr_plus` and `reward`). The default because on the localization benchmark its key
            frame lands inside the captioned event 3.4-6.9x chance where LR+'s lands 0.16-0.32x,
            at the same caption quality (docs/model.md, "Which signal localizes the event").
    """

    hidden_size: int = 512
    embedding_size: int = 512
    attention_size: int = 512
    num_frames: int = contract.NUM_FRAMES
    channels: int = contract.FEATURE_CHANNELS
    num_regions: int = contract.NUM_REGIONS
    audio_dim: int = contract.AUDIO_DIM
    use_audio: bool = True
    encoder: str = "kbigru"
    refocus: bool = True
    use_spatial: bool = True
    max_caption_words: int = 15
    min_word_count: int = 3
    dropout: float = 0.5
    beta: float = 0.03
    scheduled_sampling: float = 0.25
    learning_rate: float = 3e-4
    self_critical_learning_rate: float = 3e-5
    default_key_frame: int | None = None
    kbigru_implementation: str = "vectorized"
    decoding: str = "greedy"
    beam_size: int = 5
    length_penalty: float = 1.0
    seed: int = 0
    standardize_features: bool = True
    channel_statistics: bool = True
    reward_passes: str = "deterministic"
    reward_normalization: str = "sum"
    refocus_loss: str = "decoder_attention"

    def __post_init__(self):
        for name in ("hidden_size", "embedding_size", "attention_size", "num_frames", "channels",
                     "num_regions", "audio_dim", "max_caption_words", "min_word_count",
                     "beam_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive int, got {value!r}")
        if self.embedding_size != self.hidden_size:
            raise ValueError(
                f"ModelConfig.embedding_size ({self.embedding_size}) must equal hidden_size "
                f"({self.hidden_size}): the decoder LSTM reads o_i and the word embedding in the "
                "same input slot (Alg. 2)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig.dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.scheduled_sampling <= 1.0:
            raise ValueError(
                f"ModelConfig.scheduled_sampling must be in [0, 1], got {self.scheduled_sampling}"
            )
        if self.kbigru_implementation not in _KBIGRU_IMPLEMENTATIONS:
            raise ValueError(
                f"ModelConfig.kbigru_implementation must be one of {_KBIGRU_IMPLEMENTATIONS}, "
                f"got {self.kbigru_implementation!r}"
            )
        if self.decoding not in _DECODING_METHODS:
            raise ValueError(
                f"ModelConfig.decoding must be one of {_DECODING_METHODS}, got {self.decoding!r}"
            )
        if self.encoder not in ENCODERS:
            raise ValueError(f"ModelConfig.encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.refocus and self.encoder != "kbigru":
            raise ValueError("ModelConfig.refocus needs encoder='kbigru' (the VRE re-encodes the "
                             "video with the KBiGRU from the refocused key frame)")
        for name, allowed in (("reward_passes", REWARD_PASSES),
                              ("reward_normalization", REWARD_NORMALIZATIONS),
                              ("refocus_loss", REFOCUS_LOSSES)):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"ModelConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if self.default_key_frame is not None and not 0 <= self.default_key_frame < self.num_frames:
            raise ValueError(
                f"ModelConfig.default_key_frame must be in [0, {self.num_frames}), "
                f"got {self.default_key_frame}"
            )

    @property
    def table1_row(self) -> str | None:
        """The name of the Table-1 row these fields make, or None."""
        for name, fields in TABLE1_ROWS.items():
            if all(getattr(self, k) == v for k, v in fields.items()):
                return name
        return None

    @classmethod
    def named(cls, row, tiny=False, **overrides) -> "ModelConfig":
        """The config of a Table-1 row ("Vf+vs", "KBiGRU(Vf)", "KBiGRU(Vf)+vs+va",
        "VRE(Vf,vs,va)"), at the paper's sizes or, with tiny=True, at ModelConfig.tiny()'s;
        `overrides` are applied last."""
        values = {**table1_row(row), **overrides}
        return cls.tiny(**values) if tiny else cls(**values)

    @property
    def step1_key_frame(self) -> int:
        """i_key of step 1 (Alg. 1: K/2, frame 10 of 20 as in the paper's Fig. 3)."""
        return self.num_frames // 2 if self.default_key_frame is None else self.default_key_frame

    @property
    def caption_length(self) -> int:
        """Decoder steps: the kept words plus <EOS>."""
        return self.max_caption_words + 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        return _from_dict(cls, values)

    @classmethod
    def tiny(cls, **overrides) -> "ModelConfig":
        """A model small enough for unit tests (hidden 8, 16 channels, 6 frames, 4 regions)."""
        values = dict(hidden_size=8, embedding_size=8, attention_size=8, num_frames=6,
                      channels=16, num_regions=4, max_caption_words=6, min_word_count=1,
                      beam_size=3)
        values.update(overrides)
        return cls(**values)


@dataclasses.dataclass
class ScheduleConfig:
    """The four training phases of §4.2 and the input pipeline's sizes.

    Attributes:
        phase1_epochs: XE on step 1 only, refocus off (paper: 5).
        phase2_epochs: joint training with L_All (Eq. 22).
        phase3_epochs: retraining with the best phase-2 key frames as constants, refocus off.
        phase4_epochs: self-critical fine-tuning with CIDEr-D + ROUGE_L reward.
        batch_size: global batch size (split over the replicas of a distribution strategy).
        steps_per_epoch: batches per epoch; None runs each epoch over the whole training set.
        eval_steps: batches per evaluation; None evaluates the whole evaluation set.
        shuffle_buffer: videos in the shuffle buffer (and in the caption interleave window).
        phase2_selection: how the best phase-2 epoch is chosen (its weights and key frames are
            kept): a caption metric of the greedy step-2 captions of the validation videos,
            "CIDEr-D" (default), "Bleu_4", "ROUGE_L", "METEOR", "CIDEr", ..., or "xe2" (lowest
            validation XE2). Without validation files the training XE2 decides.
        checkpoint_every_steps: also checkpoint every this many training steps inside an epoch
            (None: at epoch ends only). A resumed run continues from the last such step; a SIGTERM
            always writes one more checkpoint at the next step (vre_keras/step_checkpoint.py).
        max_consecutive_nonfinite_steps: stop training with NonFiniteTrainingError after this many
            steps in a row whose loss or gradient was NaN/inf (each such step is skipped, not
            applied; vre_keras/nan_guard.py).
    """

    phase1_epochs: int = 5
    phase2_epochs: int = 10
    phase3_epochs: int = 5
    phase4_epochs: int = 5
    batch_size: int = 64
    steps_per_epoch: int | None = None
    eval_steps: int | None = None
    shuffle_buffer: int = 2048
    checkpoint_every_steps: int | None = None
    max_consecutive_nonfinite_steps: int = 20
    phase2_selection: str = "CIDEr-D"

    def __post_init__(self):
        for name in ("phase1_epochs", "phase2_epochs", "phase3_epochs", "phase4_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"ScheduleConfig.{name} must be an int >= 0, got {value!r}")
        for name in ("batch_size", "shuffle_buffer", "max_consecutive_nonfinite_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ScheduleConfig.{name} must be a positive int, got {value!r}")
        for name in ("steps_per_epoch", "eval_steps", "checkpoint_every_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"ScheduleConfig.{name} must be None or a positive int")
        from vre_keras.model_selection import check_selection_metric

        try:
            check_selection_metric(self.phase2_selection)
        except ValueError as error:
            raise ValueError(f"ScheduleConfig.phase2_selection: {error}") from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ScheduleConfig":
        return _from_dict(cls, values)

    @classmethod
    def tiny(cls, **overrides) -> "ScheduleConfig":
        """A schedule for tests: one short epoch per phase."""
        values = dict(phase1_epochs=1, phase2_epochs=1, phase3_epochs=1, phase4_epochs=1,
                      batch_size=4, steps_per_epoch=2, eval_steps=1, shuffle_buffer=16)
        values.update(overrides)
        return cls(**values)
