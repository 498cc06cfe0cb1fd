"""The sentence decoder (§3.3, Alg. 2): LSTM with temporal and spatial soft attention."""

import keras
import tensorflow as tf

from vre_keras.layers.soft_attention import SoftAttention


@keras.saving.register_keras_serializable(package="vre")
class CaptionDecoder(keras.layers.Layer):
    """LSTM decoder started from h = 0, c = o_i, reading [vT_att, vS_att, va, x_t].

    x_0 = o_i and x_t = Emb(y_{t-1}) afterwards; both attentions are guided by [o_i, h_{t-1}];
    dropout precedes the word projection. `call` runs teacher forcing with scheduled sampling;
    the decoding module drives `start` / `step` inside `tf.while_loop`s.

    Args:
        vocab_size: number of tokens.
        hidden_size: LSTM size (= size of o_i, which initialises the cell state).
        embedding_size: word embedding size (must equal hidden_size, see ModelConfig).
        attention_size: width of the attention projections.
        use_audio: feed the audio vector at every step.
        use_spatial: attend over the spatial regions (AttSSoft); without it the step has no
            spatial context and reports all-zero spatial weights (Table 1's KBiGRU(Vf) row).
        dropout: rate before the word projection.
        scheduled_sampling: probability, per step and caption, of feeding the model's own
            previous word instead of the reference in training.
        seed: seed of the scheduled-sampling draws.

    Call args:
        video_representation: float [B, H] (o_i).
        temporal: float [B, K, C]; spatial: float [B, R, C]; audio: float [B, A].
        target_tokens: int [B, L] reference tokens (teacher forcing).
        training: bool.

    Returns:
        (logits [B, L, V], temporal_attention [B, L, K], spatial_attention [B, L, R]).
    """

    def __init__(self, vocab_size, hidden_size, embedding_size, attention_size, use_audio=True,
                 dropout=0.5, scheduled_sampling=0.25, seed=0, use_spatial=True, **kwargs):
        super().__init__(**kwargs)
        if embedding_size != hidden_size:
            raise ValueError(
                f"CaptionDecoder needs embedding_size == hidden_size (o_i and the embedding "
                f"share the LSTM input slot), got {embedding_size} and {hidden_size}"
            )
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.embedding_size = embedding_size
        self.attention_size = attention_size
        self.use_audio = use_audio
        self.use_spatial = use_spatial
        self.dropout = dropout
        self.scheduled_sampling = scheduled_sampling
        self.seed = seed

    def build(self, video_representation_shape, temporal_shape, spatial_shape, audio_shape=None,
              target_tokens_shape=None):
        h = self.hidden_size
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embedding_size,
                                                dtype=self.dtype_policy, name="embedding")
        self.temporal_attention = SoftAttention(self.attention_size, dtype=self.dtype_policy,
                                                name="temporal_attention")
        if self.use_spatial:
            self.spatial_attention = SoftAttention(self.attention_size, dtype=self.dtype_policy,
                                                   name="spatial_attention")
        self.lstm_cell = keras.layers.LSTMCell(h, dtype=self.dtype_policy, name="lstm_cell")
        self.output_dropout = keras.layers.Dropout(self.dropout, seed=self.seed,
                                                   dtype=self.dtype_policy, name="output_dropout")
        self.word_projection = keras.layers.Dense(self.vocab_size, dtype=self.dtype_policy,
                                                  name="word_projection")
        batch = video_representation_shape[0]
        self.embedding.build((batch, None))
        self.temporal_attention.build((batch, 2 * h), temporal_shape)
        spatial_dim = 0
        if self.use_spatial:
            self.spatial_attention.build((batch, 2 * h), spatial_shape)
            spatial_dim = spatial_shape[-1]
        audio_dim = audio_shape[-1] if self.use_audio else 0
        self.lstm_cell.build((batch, temporal_shape[-1] + spatial_dim + audio_dim + h))
        self.word_projection.build((batch, h))
        self._sampling_seed = keras.random.SeedGenerator(self.seed + 1, name="sampling_seed")

    def start(self, video_representation, temporal, spatial):
        """The decoding state before t = 0: (h, c) and the projected attention values."""
        o = video_representation
        h = tf.zeros_like(o)
        state = {
            "h": h,
            "c": o,
            "temporal_keys": self.temporal_attention.project_values(temporal),
        }
        if self.use_spatial:
            state["spatial_keys"] = self.spatial_attention.project_values(spatial)
        return state

    def step(self, video_representation, step_input, state, temporal, spatial, audio,
             training=False):
        """One decoder step.

        Args:
            video_representation: o_i [B, H].
            step_input: x_t [B, H]: o_i at t = 0, else the previous word's embedding.
            state: dict from `start` or the previous `step`.
            temporal, spatial, audio: the video features.
            training: apply dropout.

        Returns:
            (logits [B, V], new state, temporal weights [B, K], spatial weights [B, R]).
        """
        query = tf.concat([video_representation, state["h"]], axis=-1)  # [o_i, h_{t-1}]
        v_t, w_t = self.temporal_attention.attend(query, temporal, state["temporal_keys"])
        if self.use_spatial:
            v_s, w_s = self.spatial_attention.attend(query, spatial, state["spatial_keys"])
            parts = [v_t, v_s]
        else:
            w_s = tf.zeros(tf.shape(spatial)[:2], w_t.dtype)
            parts = [v_t]
        parts += ([tf.cast(audio, v_t.dtype)] if self.use_audio else []) + [step_input]
        h, (h, c) = self.lstm_cell(tf.concat(parts, axis=-1), [state["h"], state["c"]])
        logits = self.word_projection(self.output_dropout(h, training=training))
        new_state = dict(state, h=h, c=c)
        return logits, new_state, w_t, w_s

    def embed(self, tokens):
        return self.embedding(tokens)

    def call(self, video_representation, temporal, spatial, audio, target_tokens,
             training=False):
        length = target_tokens.shape[1]
        if length is None:
            raise ValueError("CaptionDecoder needs target_tokens with a static length")
        target_tokens = tf.cast(target_tokens, tf.int32)
        state = self.start(video_representation, temporal, spatial)
        step_input = video_representation
        logits_seq, temporal_seq, spatial_seq = [], [], []
        # Python-unrolled: L is small (16) and static, and unrolling keeps gradients simple.
        for t in range(length):
            logits, state, w_t, w_s = self.step(video_representation, step_input, state,
                                                temporal, spatial, audio, training=training)
            logits_seq.append(logits)
            temporal_seq.append(w_t)
            spatial_seq.append(w_s)
            if t + 1 < length:
                previous = target_tokens[:, t]
                if training and self.scheduled_sampling > 0:
                    own = tf.stop_gradient(tf.argmax(logits, axis=-1, output_type=tf.int32))
                    draw = keras.random.uniform(tf.shape(previous), seed=self._sampling_seed)
                    previous = tf.where(draw < self.scheduled_sampling, own, previous)
                step_input = self.embed(previous)
        return (
            tf.stack(logits_seq, axis=1),
            tf.stack(temporal_seq, axis=1),
            tf.stack(spatial_seq, axis=1),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            embedding_size=self.embedding_size,
            attention_size=self.attention_size,
            use_audio=self.use_audio,
            use_spatial=self.use_spatial,
            dropout=self.dropout,
            scheduled_sampling=self.scheduled_sampling,
            seed=self.seed,
        )
        return config
