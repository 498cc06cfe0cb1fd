"""The VRE captioner: encoder + decoder with the two-pass `train_step` of §3.4 and its phases."""

import keras
import numpy as np
import tensorflow as tf

from vre_keras import decoding, losses, nan_guard
from vre_keras.config import ModelConfig
from vre_keras.feature_standardization import standardize_features
from vre_keras.layers import CaptionDecoder, ChannelStatistics, RefocusedVideoEncoder
from vre_keras.metrics import KeyFrameHistogram
from vre_keras.vocabulary import PAD_ID

# Inputs of a training batch (dataset.py writes them).
TEMPORAL, SPATIAL, AUDIO, TOKENS = "temporal", "spatial", "audio", "tokens"
VIDEO_INDEX, VIDEO_ID = "video_index", "video_id"
CAPTION_INDEX = "caption_index"  # position of the caption among its video's references

PHASE_STEP1_XE = 1  # XE of step 1 only, refocus off
PHASE_JOINT = 2  # L_All = XE2 + XE1 + beta * LR+
PHASE_FIXED_KEY_FRAMES = 3  # saved key frames as constants, refocus off
PHASE_SELF_CRITICAL = 4  # CIDEr-D + ROUGE_L reward, greedy baseline
PHASES = (PHASE_STEP1_XE, PHASE_JOINT, PHASE_FIXED_KEY_FRAMES, PHASE_SELF_CRITICAL)


@keras.saving.register_keras_serializable(package="vre")
class VRECaptioner(keras.Model):
    """Watch-It-Twice video captioner.

    Holds the trainable VRE encoder and decoder, a frozen copy of the encoder that predicts key
    frames for unseen videos at serving time (`key_frame_predictor`, filled from the best phase-2
    weights by `freeze_key_frame_predictor`), a per-caption table of R_{e-1} (phase 2, indexed by
    the dataset's `video_index` and `caption_index`) and a per-video table of the saved key frames
    (phases 3-4).

    Args:
        config: a ModelConfig or its dict.
        vocab_size: number of tokens of the vocabulary.
        num_videos: rows of the per-video tables (training videos); 0 for a serving-only model.
        captions_per_video: reference captions per video the reward table keeps apart (the most
            any training video has); a caption_index beyond it shares the last row.

    Example:
        model = VRECaptioner(ModelConfig.tiny(), vocab_size=20, num_videos=8)
        model.set_phase(1); model.compile(); model.fit(dataset)
    """

    def __init__(self, config, vocab_size, num_videos=0, captions_per_video=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = ModelConfig.from_dict(config)
        if not isinstance(vocab_size, int) or vocab_size < 5:
            raise ValueError(f"vocab_size must be an int >= 5 (4 special tokens), got {vocab_size}")
        if not isinstance(num_videos, int) or num_videos < 0:
            raise ValueError(f"num_videos must be an int >= 0, got {num_videos!r}")
        if not isinstance(captions_per_video, int) or captions_per_video < 1:
            raise ValueError(f"captions_per_video must be an int >= 1, got {captions_per_video!r}")
        self.config = config
        self.captions_per_video = captions_per_video
        self.vocab_size = vocab_size
        self.num_videos = num_videos
        self.phase = PHASE_STEP1_XE
        self.reward_fn = None
        self.vocabulary = None
        encoder_args = dict(
            hidden_size=config.hidden_size,
            attention_size=config.attention_size,
            default_key_frame=config.step1_key_frame,
            use_audio=config.use_audio,
            kbigru_implementation=config.kbigru_implementation,
            refocus=config.refocus,
        )
        # Plain attributes, not a dict: tf.train.Checkpoint tracks a Keras layer's attributes.
        self.temporal_statistics = self.spatial_statistics = None
        if config.channel_statistics:
            self.temporal_statistics = ChannelStatistics(config.channels, name="temporal_statistics")
            self.spatial_statistics = ChannelStatistics(config.channels, name="spatial_statistics")
        # Table-1 rows: no encoder ("Vf+vs"), one KBiGRU pass (KBiGRU rows) or the VRE.
        self.encoder = None
        self.key_frame_predictor = None
        if config.encoder == "kbigru":
            self.encoder = RefocusedVideoEncoder(**encoder_args, name="encoder")
        if config.refocus:
            self.key_frame_predictor = RefocusedVideoEncoder(**encoder_args,
                                                             name="key_frame_predictor")
            self.key_frame_predictor.trainable = False
        self.decoder = CaptionDecoder(
            vocab_size,
            config.hidden_size,
            config.embedding_size,
            config.attention_size,
            use_audio=config.use_audio,
            use_spatial=config.use_spatial,
            dropout=config.dropout,
            scheduled_sampling=config.scheduled_sampling,
            seed=config.seed,
            name="decoder",
        )
        rows = max(num_videos, 1)
        # Per-caption / per-video state, updated inside train_step with one all-reduced update per
        # step so every replica of a distribution strategy holds the same table.
        table = dict(trainable=False, aggregation="only_first_replica")
        # R_e is kept per (video, caption): R_{e-1} must be the same caption's reward, or the
        # caption-to-caption spread of XE (and caption length) decides the LR+ branch.
        reward_rows = (rows * captions_per_video,)
        self.reward_sum = self.add_weight(shape=reward_rows, initializer="zeros",
                                          name="reward_sum", **table)
        self.reward_count = self.add_weight(shape=reward_rows, initializer="zeros",
                                            name="reward_count", **table)
        self.previous_reward = self.add_weight(shape=reward_rows, initializer="zeros",
                                               name="previous_reward", **table)
        # 1 once a caption has an R_{e-1}; LR+ is 0 before (no threshold measured yet).
        self.previous_reward_seen = self.add_weight(shape=reward_rows, initializer="zeros",
                                                    name="previous_reward_seen", **table)
        self.key_frame_table = self.add_weight(shape=(rows,), initializer="zeros",
                                               dtype="int32", name="key_frame_table", **table)
        self.key_frame_table.assign(-tf.ones([rows], tf.int32))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.xe1_tracker = keras.metrics.Mean(name="xe1")
        self.xe2_tracker = keras.metrics.Mean(name="xe2")
        self.lr_plus_tracker = keras.metrics.Mean(name="lr_plus")
        self.refocus_xe_tracker = keras.metrics.Mean(name="refocus_xe")
        self.reward_tracker = keras.metrics.Mean(name="reward")
        self.sample_reward_tracker = keras.metrics.Mean(name="sample_reward")
        self.greedy_reward_tracker = keras.metrics.Mean(name="greedy_reward")
        self.nonfinite_tracker = keras.metrics.Sum(name=nan_guard.NONFINITE_STEPS)
        self.key_frames = KeyFrameHistogram(config.num_frames)

    # ----- building -----------------------------------------------------------------------------

    def example_inputs(self, batch_size=1):
        """Zero inputs of the right shapes (to build the model)."""
        c = self.config
        return {
            TEMPORAL: tf.zeros([batch_size, c.num_frames, c.channels]),
            SPATIAL: tf.zeros([batch_size, c.num_regions, c.channels]),
            AUDIO: tf.zeros([batch_size, c.audio_dim]),
            TOKENS: tf.zeros([batch_size, c.caption_length], tf.int32),
        }

    def build(self, input_shape=None):
        """Builds every weight (the serving-only key-frame predictor included) from the config."""
        c = self.config
        temporal = (None, c.num_frames, c.channels)
        spatial = (None, c.num_regions, c.channels)
        audio = (None, c.audio_dim)
        for layer in self._channel_statistics().values():
            layer.build()
        if self.encoder is not None:
            self.encoder.build(temporal, audio)
        if self.key_frame_predictor is not None:
            self.key_frame_predictor.build(temporal, audio)
        self.decoder.build((None, c.hidden_size), temporal, spatial, audio)
        self.built = True

    def build_all(self):
        """Builds the model and returns it (chainable)."""
        if not self.built:
            self.build()
        return self

    def set_feature_statistics(self, moments):
        """Sets the training set's per-channel statistics (no-op when the config has none).

        Args:
            moments: {"temporal": (mean, std), "spatial": (mean, std)}, arrays of [channels],
                e.g. from feature_standardization.training_set_moments.
        """
        for key, layer in self._channel_statistics().items():
            layer.set_statistics(*moments[key])

    def _channel_statistics(self):
        """{TEMPORAL: layer, SPATIAL: layer}, or {} when the config has no channel statistics."""
        if self.temporal_statistics is None:
            return {}
        return {TEMPORAL: self.temporal_statistics, SPATIAL: self.spatial_statistics}

    def freeze_key_frame_predictor(self):
        """Copies the encoder's current weights into the serving key-frame predictor (nothing to
        do for a row without refocus)."""
        if self.key_frame_predictor is None:
            return
        for target, source in zip(self.key_frame_predictor.weights, self.encoder.weights):
            target.assign(source)

    def set_phase(self, phase):
        """Selects the loss of `train_step`; call before `compile`/`fit`."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        if phase == PHASE_SELF_CRITICAL and self.reward_fn is None:
            raise ValueError("phase 4 needs a reward: call set_reward(CaptionReward(references))")
        self.phase = phase
        self.train_function = None  # retrace with the new phase's loss
        self.test_function = None

    def set_reward(self, reward_fn, vocabulary):
        """Sets the phase-4 reward.

        Args:
            reward_fn: `reward_fn(video_ids: list[str], captions: list[str]) -> float32 [B]`, e.g.
                vre_keras.caption_metrics.reward.CaptionReward (CIDEr-D + ROUGE_L).
            vocabulary: the Vocabulary that turns sampled ids back into words.
        """
        self.reward_fn = reward_fn
        self.vocabulary = vocabulary

    # ----- forward passes -----------------------------------------------------------------------

    def _standardized(self, inputs):
        """The inputs with their features standardised (see feature_standardization.py).

        Every public entry point that takes raw features (call, generate, explain, train_step,
        test_step) goes through this once; the internal passes below read the result.
        """
        inputs = dict(inputs)
        for key, layer in self._channel_statistics().items():
            if inputs.get(key) is not None:
                inputs[key] = layer(inputs[key])
        if not self.config.standardize_features:
            return inputs
        for key in (TEMPORAL, SPATIAL, AUDIO):
            if inputs.get(key) is not None:
                inputs[key] = standardize_features(inputs[key])
        return inputs

    def _audio(self, inputs):
        audio = inputs.get(AUDIO)
        if audio is None:
            audio = tf.zeros([tf.shape(inputs[TEMPORAL])[0], self.config.audio_dim])
        return audio

    def _decode_teacher_forced(self, o, inputs, audio, training):
        return self.decoder(o, inputs[TEMPORAL], inputs[SPATIAL], audio, inputs[TOKENS],
                            training=training)

    def call(self, inputs, training=False, key_frame=None):
        """Both passes with teacher forcing (Alg. 1 + 2).

        Args:
            inputs: dict with temporal [B, K, C], spatial [B, R, C], audio [B, A], tokens [B, L].
            training: dropout and scheduled sampling on.
            key_frame: optional int [B] to use in step 2 instead of the refocused frame.

        Returns:
            dict: logits1, logits2 [B, L, V], alpha [B, K], key_frame [B],
            temporal_attention2 [B, L, K], spatial_attention2 [B, L, R].
        """
        return self._both_passes(self._standardized(inputs), training, key_frame)

    def _step1_representation(self, temporal, audio):
        """o1: the one-pass video representation (0 for the "Vf+vs" row, which has no encoder)."""
        if self.encoder is None:
            return tf.zeros([tf.shape(temporal)[0], self.config.hidden_size], temporal.dtype)
        return self.encoder.step1(temporal, audio)[1]

    def _no_key_frame(self, temporal):
        """Contract-2 key-frame outputs of a row without refocus: -1 and all-zero probabilities
        (no key frame is predicted; the KBiGRU rows always start at the default frame)."""
        batch = tf.shape(temporal)[0]
        return (tf.zeros([batch, self.config.num_frames], tf.float32),
                tf.fill([batch], tf.constant(-1, tf.int32)))

    def _both_passes(self, inputs, training=False, key_frame=None):
        audio = self._audio(inputs)
        if not self.config.refocus:
            # One pass: it is both "step 1" and the served caption.
            o1 = self._step1_representation(inputs[TEMPORAL], audio)
            logits, t_att, s_att = self._decode_teacher_forced(o1, inputs, audio, training)
            alpha, no_key = self._no_key_frame(inputs[TEMPORAL])
            return {"logits1": logits, "logits2": logits, "alpha": alpha, "key_frame": no_key,
                    "o1": o1, "o2": o1, "temporal_attention2": t_att, "spatial_attention2": s_att}
        enc = self.encoder(inputs[TEMPORAL], audio, key_frame=key_frame)
        logits1, _, _ = self._decode_teacher_forced(enc["o1"], inputs, audio, training)
        logits2, t_att, s_att = self._decode_teacher_forced(enc["o2"], inputs, audio, training)
        return {"logits1": logits1, "logits2": logits2, "alpha": enc["alpha"],
                "refocus_logits": enc["refocus_logits"], "key_frame": enc["key_frame"],
                "o1": enc["o1"], "o2": enc["o2"], "temporal_attention2": t_att,
                "spatial_attention2": s_att}

    def encoder_key_frame(self, temporal, audio):
        """The trainable encoder's refocused key frame of raw features (phase 3's constants)."""
        features = self._standardized({TEMPORAL: tf.cast(temporal, tf.float32),
                                       AUDIO: tf.cast(audio, tf.float32)})
        if not self.config.refocus:
            return self._no_key_frame(features[TEMPORAL])[1]
        return self._refocus_with(self.encoder, features[TEMPORAL], features[AUDIO])[1]

    def _predict_key_frame(self, temporal, audio):
        """Serving-time key frame of an unseen video: step 1 + refocus of the frozen predictor
        (features already standardised); (zeros, -1) without refocus."""
        if not self.config.refocus:
            return self._no_key_frame(temporal)
        return self._refocus_with(self.key_frame_predictor, temporal, audio)

    def _served_representation(self, temporal, audio, key_frame):
        """The representation the served caption is decoded from: o2 at `key_frame` for the
        VRE, o1 for the rows without refocus."""
        if not self.config.refocus:
            return self._step1_representation(temporal, audio)
        h1, _ = self.encoder.step1(temporal, audio)
        return self.encoder.step2(temporal, audio, h1, key_frame)

    @staticmethod
    def _refocus_with(encoder, temporal, audio):
        """Step 1 then refocus with `encoder`: (alpha [B, K], key_frame [B])."""
        _, o1 = encoder.step1(temporal, audio)
        return encoder.refocus(o1, temporal)

    def generate(self, temporal, spatial, audio, method=None):
        """Captions new videos in-graph (Contract 2 outputs, tokens still as ids).

        Args:
            temporal: float [B, K, C]; spatial: float [B, R, C]; audio: float [B, A].
            method: "greedy" or "beam"; defaults to config.decoding.

        Returns:
            dict: tokens int64 [B, L], key_frame int64 [B], key_frame_probs [B, K],
            temporal_attention [B, L, K], spatial_attention [B, L, R].
        """
        method = method or self.config.decoding
        temporal, spatial, audio = self._standardized_features(temporal, spatial, audio)
        return self._generate(temporal, spatial, audio, method)

    def _standardized_features(self, temporal, spatial, audio):
        features = self._standardized({TEMPORAL: tf.cast(temporal, tf.float32),
                                       SPATIAL: tf.cast(spatial, tf.float32),
                                       AUDIO: tf.cast(audio, tf.float32)})
        return features[TEMPORAL], features[SPATIAL], features[AUDIO]

    def _generate(self, temporal, spatial, audio, method):
        alpha, key_frame = self._predict_key_frame(temporal, audio)
        o2 = self._served_representation(temporal, audio, key_frame)
        length = self.config.caption_length
        if method == "greedy":
            tokens, t_att, s_att = decoding.greedy_decode(self.decoder, o2, temporal, spatial,
                                                          audio, length)
        elif method == "beam":
            tokens, t_att, s_att = decoding.beam_search_decode(
                self.decoder, o2, temporal, spatial, audio, length, self.config.beam_size,
                self.config.length_penalty)
        else:
            raise ValueError(f"decoding method must be 'greedy' or 'beam', got {method!r}")
        return {
            "tokens": tf.cast(tokens, tf.int64),
            "key_frame": tf.cast(key_frame, tf.int64),
            "key_frame_probs": alpha,
            "temporal_attention": t_att,
            "spatial_attention": s_att,
        }

    def explain(self, temporal, spatial, audio):
        """Both steps' greedy captions for the key-frame figure (paper Fig. 3).

        Returns:
            dict: step1_tokens [B, L] (decoded from o1, default key frame), default_key_frame
            (int), and the `generate` outputs of step 2.
        """
        temporal, spatial, audio = self._standardized_features(temporal, spatial, audio)
        o1 = self._step1_representation(temporal, audio)
        step1, _, _ = decoding.greedy_decode(self.decoder, o1, temporal, spatial, audio,
                                             self.config.caption_length)
        out = self._generate(temporal, spatial, audio, method="greedy")
        out.update(step1_tokens=step1, default_key_frame=self.config.step1_key_frame)
        return out

    # ----- training -----------------------------------------------------------------------------

    @property
    def metrics(self):
        return [self.loss_tracker, self.xe1_tracker, self.xe2_tracker, self.lr_plus_tracker,
                self.refocus_xe_tracker, self.reward_tracker, self.sample_reward_tracker, self.greedy_reward_tracker,
                self.key_frames, self.nonfinite_tracker]

    def _loss_phase(self):
        """The loss `train_step` uses: rows without refocus train the XE of their only pass in
        phases 1-3 (the same epochs as the VRE's XE phases) and self-critically in phase 4."""
        if self.config.refocus or self.phase == PHASE_SELF_CRITICAL:
            return self.phase
        return PHASE_STEP1_XE

    def _metric_logs(self, training=True):
        """This phase's metrics only (a metric the phase never updates would just log zeros)."""
        names = {"loss", "xe1", "xe2", "key_frame_histogram"}
        if not self.config.refocus:
            names = {"loss", "xe1", "xe2"}
        if training:
            names = {
                PHASE_STEP1_XE: {"loss", "xe1"},
                PHASE_JOINT: {"loss", "xe1", "xe2", "key_frame_histogram"} | (
                    {"refocus_xe"} if self.config.refocus_loss == "decoder_attention"
                    else {"lr_plus", "reward"}),
                PHASE_FIXED_KEY_FRAMES: {"loss", "xe1", "xe2", "key_frame_histogram"},
                PHASE_SELF_CRITICAL: {"loss", "sample_reward", "greedy_reward",
                                      "key_frame_histogram"},
            }[self._loss_phase()]
            if not self.config.refocus:
                names = names - {"key_frame_histogram"}
            names = names | {nan_guard.NONFINITE_STEPS}
        logs = {}
        for metric in self.metrics:
            if metric.name not in names:
                continue
            result = metric.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[metric.name] = result
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces step outputs across workers with reduce("MEAN", axis=0), which needs a
            # batch axis: give each (already all-reduced) scalar one.
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def _reward_rows(self, data):
        """Row of each (video, caption) in the reward tables."""
        video_index = tf.cast(data[VIDEO_INDEX], tf.int32)
        caption_index = data.get(CAPTION_INDEX)
        if caption_index is None:
            caption_index = tf.zeros_like(video_index)
        caption_index = tf.minimum(tf.cast(caption_index, tf.int32), self.captions_per_video - 1)
        return video_index * self.captions_per_video + caption_index

    def _previous_reward(self, data):
        """(R_{e-1}, whether it exists) of each (video, caption)."""
        rows = self._reward_rows(data)
        return (tf.gather(self.previous_reward, rows),
                tf.gather(self.previous_reward_seen, rows))

    def _refocus_reward(self, inputs, audio, both):
        """R_e = -(XE2 - XE1) (Eq. 20), without gradient.

        With reward_passes="deterministic" it comes from teacher-forced passes without dropout
        or scheduled sampling, so it is a function of the weights, the video and the caption
        only; the training passes' random draws differ between the two steps and would make the
        sign of R_e - R_{e-1} noise. (Training passes are reused when they are deterministic.)
        """
        tokens = inputs[TOKENS]
        c = self.config
        random_passes = c.dropout > 0 or c.scheduled_sampling > 0
        if c.reward_passes == "deterministic" and random_passes:
            o1, o2 = tf.stop_gradient(both["o1"]), tf.stop_gradient(both["o2"])
            logits1, _, _ = self._decode_teacher_forced(o1, inputs, audio, training=False)
            logits2, _, _ = self._decode_teacher_forced(o2, inputs, audio, training=False)
        else:
            logits1, logits2 = both["logits1"], both["logits2"]
        xe1 = losses.caption_cross_entropy(logits1, tokens)
        xe2 = losses.caption_cross_entropy(logits2, tokens)
        reward = -(xe2 - xe1)
        if c.reward_normalization == "per_token":
            scored = tf.reduce_sum(tf.cast(tf.not_equal(tokens, PAD_ID), tf.float32), axis=1)
            reward = reward / tf.maximum(scored, 1.0)
        return tf.stop_gradient(reward)

    def _record_rewards(self, rows, reward):
        """Adds this step's rewards to the per-caption sums, summed over all replicas."""
        shape = [max(self.num_videos, 1) * self.captions_per_video]
        index = rows[:, None]
        sums = tf.scatter_nd(index, reward, shape)
        counts = tf.scatter_nd(index, tf.ones_like(reward), shape)
        context = tf.distribute.get_replica_context()
        if context is not None:
            sums, counts = context.all_reduce(tf.distribute.ReduceOp.SUM, [sums, counts])
        self.reward_sum.assign_add(sums)
        self.reward_count.assign_add(counts)

    def end_reward_epoch(self):
        """Makes this epoch's reward per (video, caption) the R_{e-1} of the next epoch (the mean
        if a caption was seen more than once; captions not seen keep their older value)."""
        seen = self.reward_count > 0
        mean = self.reward_sum / tf.maximum(self.reward_count, 1.0)
        self.previous_reward.assign(tf.where(seen, mean, self.previous_reward))
        self.previous_reward_seen.assign(
            tf.maximum(self.previous_reward_seen, tf.cast(seen, tf.float32)))
        self.reward_sum.assign(tf.zeros_like(self.reward_sum))
        self.reward_count.assign(tf.zeros_like(self.reward_count))

    def _check_video_index(self, video_index):
        if self.num_videos < 1:
            raise ValueError("phases 2-4 need num_videos > 0 (the per-video tables)")
        tf.debugging.assert_less(video_index, self.num_videos,
                                 message="video_index outside the per-video tables")
        tf.debugging.assert_non_negative(
            video_index, message="video_index < 0: a video not in the training set's index")

    def _saved_key_frames(self, inputs, audio):
        saved = tf.gather(self.key_frame_table, inputs[VIDEO_INDEX])
        _, predicted = self._predict_key_frame(inputs[TEMPORAL], audio)
        return tf.where(saved >= 0, saved, predicted)

    def _phase_losses(self, inputs, training):
        """Per-phase loss and the values to report (called inside the gradient tape)."""
        tokens = inputs[TOKENS]
        audio = self._audio(inputs)
        out = {}
        phase = self._loss_phase()
        if phase == PHASE_STEP1_XE:
            o1 = self._step1_representation(inputs[TEMPORAL], audio)
            logits1, _, _ = self._decode_teacher_forced(o1, inputs, audio, training)
            out["xe1"] = losses.caption_cross_entropy(logits1, tokens)
            out["per_example"] = out["xe1"]
            return out
        if phase == PHASE_JOINT:
            self._check_video_index(inputs[VIDEO_INDEX])
            result = self._both_passes(inputs, training=training)
            xe1 = losses.caption_cross_entropy(result["logits1"], tokens)
            xe2 = losses.caption_cross_entropy(result["logits2"], tokens)
            if self.config.refocus_loss == "decoder_attention":
                # o1 held fixed: this loss trains the refocus module only, never the captioner.
                _, _, refocus_logits = self.encoder.refocus(
                    tf.stop_gradient(result["o1"]), inputs[TEMPORAL], return_logits=True)
                lr = losses.decoder_attention_refocus_loss(
                    refocus_logits, result["temporal_attention2"], tokens)
                out.update(refocus_xe=lr)
            else:
                reward = self._refocus_reward(inputs, audio, result)  # R_e, Eq. 20
                previous, has_previous = self._previous_reward(inputs)
                lr = losses.lr_plus(result["refocus_logits"], result["key_frame"], reward,
                                    previous, has_previous)
                out.update(reward=reward, lr_plus=lr)
            out.update(xe1=xe1, xe2=xe2, key_frame=result["key_frame"],
                       per_example=xe2 + xe1 + self.config.beta * lr)  # L_All, Eq. 22
            return out
        if phase == PHASE_FIXED_KEY_FRAMES:
            self._check_video_index(inputs[VIDEO_INDEX])
            key_frame = self._saved_key_frames(inputs, audio)
            result = self._both_passes(inputs, training=training, key_frame=key_frame)
            xe1 = losses.caption_cross_entropy(result["logits1"], tokens)
            xe2 = losses.caption_cross_entropy(result["logits2"], tokens)
            out.update(xe1=xe1, xe2=xe2, key_frame=key_frame, per_example=xe1 + xe2)
            return out
        # Phase 4, self-critical: reward of a sampled caption minus that of the greedy one.
        self._check_video_index(inputs[VIDEO_INDEX])
        if self.config.refocus:
            key_frame = self._saved_key_frames(inputs, audio)
        else:
            key_frame = self._no_key_frame(inputs[TEMPORAL])[1]
        o2 = self._served_representation(inputs[TEMPORAL], audio, key_frame)
        length = self.config.caption_length
        sampled, _, _ = decoding.sample_decode(self.decoder, tf.stop_gradient(o2),
                                               inputs[TEMPORAL], inputs[SPATIAL], audio, length)
        greedy, _, _ = decoding.greedy_decode(self.decoder, tf.stop_gradient(o2),
                                              inputs[TEMPORAL], inputs[SPATIAL], audio, length)
        sample_reward = self._caption_reward(inputs[VIDEO_ID], sampled)
        greedy_reward = self._caption_reward(inputs[VIDEO_ID], greedy)
        advantage = tf.stop_gradient(sample_reward - greedy_reward)
        # log p(sampled caption) with gradient: re-run the decoder on the sample, no sampling.
        # (<EOS> is scored, the <PAD>s after it are not.)
        logits, _, _ = self.decoder(o2, inputs[TEMPORAL], inputs[SPATIAL], audio, sampled,
                                    training=False)
        log_prob = -losses.caption_cross_entropy(logits, sampled)
        out.update(sample_reward=sample_reward, greedy_reward=greedy_reward,
                   per_example=-advantage * log_prob)
        if self.config.refocus:
            out["key_frame"] = key_frame
        return out

    def _caption_reward(self, video_ids, tokens):
        """CIDEr-D + ROUGE_L of each caption, computed in Python (training only, never exported)."""
        reward_fn = self.reward_fn
        vocabulary = self.vocabulary

        def score(ids, token_rows):
            words = [vocabulary.decode(row) for row in token_rows]
            names = [v.decode() if isinstance(v, bytes) else str(v) for v in ids]
            return np.asarray(reward_fn(names, words), np.float32)

        reward = tf.numpy_function(score, [video_ids, tokens], tf.float32, stateful=False)
        return tf.reshape(reward, [-1])

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a tf.distribute strategy Keras builds the model symbolically from a batch that it
        # first reduces across replicas; the reduction cannot take our dict with string video ids.
        # The model and optimizer are built explicitly (build(), run_schedule), so skip it then.
        if self.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        data = self._standardized(data)
        with tf.GradientTape() as tape:
            out = self._phase_losses(data, training=True)
            # Mean over this replica's batch; Keras' distributed loop sums replicas' gradients,
            # so scale by the replica count to keep a global mean.
            loss = tf.reduce_mean(out["per_example"])
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = loss / replicas
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        if not self.optimizer.built:
            # Built for every trainable variable up front: phases update different subsets
            # (phase 1 leaves the refocus module alone) with one optimizer.
            self.optimizer.build(variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        # NaN guard (nan_guard.py): a step with a non-finite loss or gradient changes nothing,
        # neither weights, optimizer state, metrics nor per-video tables; it is only counted.
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        finite = nan_guard.all_finite(loss, grads)
        nan_guard.run_if_finite(finite, self._apply_and_track, grads, variables, out, loss, data)
        self.nonfinite_tracker.update_state(nan_guard.skipped_step_count(finite))
        return self._metric_logs()

    def _apply_and_track(self, grads, variables, out, loss, data):
        self.optimizer.apply(grads, variables)
        self._update_trackers(out, loss, data)

    def test_step(self, data):
        data = self._standardized(data)
        audio = self._audio(data)
        if self.phase == PHASE_JOINT or not self.config.refocus:
            result = self._both_passes(data, training=False)
            key_frame = result["key_frame"]
        else:
            _, key_frame = self._predict_key_frame(data[TEMPORAL], audio)
            result = self._both_passes(data, training=False, key_frame=key_frame)
        xe1 = losses.caption_cross_entropy(result["logits1"], data[TOKENS])
        xe2 = losses.caption_cross_entropy(result["logits2"], data[TOKENS])
        per_example = xe1 if self._loss_phase() == PHASE_STEP1_XE else xe1 + xe2
        out = {"xe1": xe1, "xe2": xe2}
        if self.config.refocus:
            out["key_frame"] = key_frame
        self._update_trackers(out, tf.reduce_mean(per_example), data)
        return self._metric_logs(training=False)

    def _update_trackers(self, out, loss, data):
        self.loss_tracker.update_state(loss)
        pairs = [("xe1", self.xe1_tracker), ("xe2", self.xe2_tracker),
                 ("lr_plus", self.lr_plus_tracker), ("refocus_xe", self.refocus_xe_tracker),
                 ("reward", self.reward_tracker),
                 ("sample_reward", self.sample_reward_tracker),
                 ("greedy_reward", self.greedy_reward_tracker)]
        for key, tracker in pairs:
            if key in out:
                tracker.update_state(out[key])
        if "key_frame" in out:
            self.key_frames.update_state(out["key_frame"])
        if "reward" in out:
            self._record_rewards(self._reward_rows(data), out["reward"])

    # ----- serialization ------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(config=self.config.to_dict(), vocab_size=self.vocab_size,
                      num_videos=self.num_videos, captions_per_video=self.captions_per_video)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        return cls(**config)
