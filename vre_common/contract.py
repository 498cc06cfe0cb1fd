"""The contracts between the parts (../shared/DESIGN.md), defined once.

Contract 1 is the tf.train.Example the Beam job writes and the Trainer, Evaluator and serving
read; Contract 2 names the SavedModel's signatures and their inputs and outputs. Every writer,
parser, pipeline and client imports these names instead of spelling them again.
"""

# Feature sizes (paper §3.1, §4.2): K sampled frames, C ResNet152 channels, an N x M feature map.
NUM_FRAMES = 20  # K
FEATURE_CHANNELS = 2048  # C
MAP_HEIGHT = 7  # N
MAP_WIDTH = 7  # M
NUM_REGIONS = MAP_HEIGHT * MAP_WIDTH  # N*M
AUDIO_DIM = 128  # VGGish embedding
FRAME_SIZE = 224  # ResNet input, pixels

# Contract 1: feature keys.
VIDEO_ID = "video_id"
SPLIT = "split"
TEMPORAL = "temporal"
SPATIAL = "spatial"
AUDIO = "audio"
HAS_AUDIO = "has_audio"
CAPTIONS = "captions"
NUM_SOURCE_FRAMES = "num_frames"
DURATION_S = "duration_s"

SPLITS = ("train", "validation", "test")

# Contract 2: signatures and their outputs.
SERVING_DEFAULT = "serving_default"
SERVE_TF_EXAMPLES = "serve_tf_examples"
SERVE_TF_EXAMPLES_INPUT = "examples"
OUT_CAPTION = "caption"
OUT_TOKENS = "tokens"
OUT_KEY_FRAME = "key_frame"
OUT_KEY_FRAME_PROBS = "key_frame_probs"
OUT_TEMPORAL_ATTENTION = "temporal_attention"
OUT_SPATIAL_ATTENTION = "spatial_attention"
SERVING_OUTPUTS = (
    OUT_CAPTION,
    OUT_TOKENS,
    OUT_KEY_FRAME,
    OUT_KEY_FRAME_PROBS,
    OUT_TEMPORAL_ATTENTION,
    OUT_SPATIAL_ATTENTION,
)

# Contract 3: where TF Serving's warmup records live inside a SavedModel.
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"


def feature_spec(num_frames=NUM_FRAMES, channels=FEATURE_CHANNELS, num_regions=NUM_REGIONS):
    """The tf.io parsing spec of Contract 1 (sizes overridable for tiny test models)."""
    import tensorflow as tf  # local: keep this module importable without TF (Beam workers, CLI)

    return {
        VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        SPLIT: tf.io.FixedLenFeature([], tf.string),
        TEMPORAL: tf.io.FixedLenFeature([num_frames * channels], tf.float32),
        SPATIAL: tf.io.FixedLenFeature([num_regions * channels], tf.float32),
        AUDIO: tf.io.FixedLenFeature([AUDIO_DIM], tf.float32),
        HAS_AUDIO: tf.io.FixedLenFeature([], tf.int64),
        CAPTIONS: tf.io.VarLenFeature(tf.string),
        NUM_SOURCE_FRAMES: tf.io.FixedLenFeature([], tf.int64),
        DURATION_S: tf.io.FixedLenFeature([], tf.float32),
    }
