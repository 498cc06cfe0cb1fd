"""Keras layers of the VRE captioner, one public class per module."""

from vre_keras.layers.caption_decoder import CaptionDecoder
from vre_keras.layers.channel_statistics import ChannelStatistics
from vre_keras.layers.key_frame_bigru import KeyFrameBiGRU
from vre_keras.layers.refocus_attention import RefocusAttention
from vre_keras.layers.refocused_video_encoder import RefocusedVideoEncoder
from vre_keras.layers.soft_attention import SoftAttention

__all__ = [
    "CaptionDecoder",
    "ChannelStatistics",
    "KeyFrameBiGRU",
    "RefocusAttention",
    "RefocusedVideoEncoder",
    "SoftAttention",
]
