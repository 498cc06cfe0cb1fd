"""`vre explain`: key-frame, temporal-attention and spatial-attention figures for a video.

Two temporal signals are drawn, and they are different things:
- the key frame (`<id>_key_frames.png`, paper Fig. 3): the refocus module's pick, argmax alpha
  (Eq. 11), the frame step 2 re-encodes the video from;
- the temporal attention (`<id>_temporal_attention.png`): the decoder's weight on each frame while
  it emits each word (Eq. 15), a frames x words heat map under the frame strip.
On the localization benchmark (docs/model.md) the decoder's attention finds the event; the key
frame does so with the default refocus_loss="decoder_attention", not with the paper's LR+.
"""

NAME = "explain"
HELP = ("Draw the key frames (the refocus module's pick), the decoder's temporal attention per word "
        "and the spatial attention of a video's caption.")


def add_arguments(parser):
    parser.add_argument("--working_dir", required=True,
                        help="working_dir of a training run (vre_keras.training.run_schedule)")
    parser.add_argument("--video", required=True, help="the video file (for the frames)")
    parser.add_argument("--records", required=True,
                        help="gzip TFRecord glob of Contract 1 holding this video's features")
    parser.add_argument("--video_id", required=True, help="the video's id in --records")
    parser.add_argument("--output_dir", required=True, help="where to write the PNG files")


def _features(records, video_id, config):
    import tensorflow as tf

    from vre_common import contract
    from vre_keras.dataset import resolve_files

    spec = contract.feature_spec(config.num_frames, config.channels, config.num_regions)
    for record in tf.data.TFRecordDataset(resolve_files(records), compression_type="GZIP"):
        x = tf.io.parse_single_example(record, spec)
        if x[contract.VIDEO_ID].numpy().decode() == video_id:
            return (
                tf.reshape(x[contract.TEMPORAL], [1, config.num_frames, config.channels]),
                tf.reshape(x[contract.SPATIAL], [1, config.num_regions, config.channels]),
                tf.reshape(x[contract.AUDIO], [1, -1]),
                [c.decode() for c in x[contract.CAPTIONS].values.numpy()],
            )
    raise LookupError(f"video id {video_id!r} is not in {records}")


def run(args) -> int:
    import math

    from beam_jobs.video_decoding import decode_video
    from vre_common import storage
    from vre_keras import plots
    from vre_keras.training import load_trained_model
    from vre_keras.vocabulary import EOS_ID, PAD_ID

    model, vocabulary = load_trained_model(args.working_dir)
    config = model.config
    temporal, spatial, audio, references = _features(args.records, args.video_id, config)
    out = model.explain(temporal, spatial, audio)
    step1 = vocabulary.decode(out["step1_tokens"][0].numpy())
    step2 = vocabulary.decode(out["tokens"][0].numpy())
    key_frame = int(out["key_frame"][0])
    frames = decode_video(args.video, num_frames=config.num_frames).frames
    output = args.output_dir  # may be remote (gs://)
    strip = plots.key_frame_figure(
        frames, out["default_key_frame"], key_frame, step1, step2,
        storage.join(output, f"{args.video_id}_key_frames.png"),
        key_frame_probs=out["key_frame_probs"][0].numpy(), references=references)
    side = math.isqrt(config.num_regions)
    grid = (side, side) if side * side == config.num_regions else (1, config.num_regions)
    # One panel per decoding step up to and including <EOS> (if the caption emitted one).
    words = []
    for token in out["tokens"][0].numpy():
        words.append(vocabulary.tokens[int(token)])
        if int(token) in (EOS_ID, PAD_ID):
            break
    attention = plots.spatial_attention_figure(
        frames[key_frame], out["spatial_attention"][0].numpy(), words, grid,
        storage.join(output, f"{args.video_id}_spatial_attention.png"))
    temporal_attention = out["temporal_attention"][0].numpy()
    heat_map = plots.temporal_attention_figure(
        frames, temporal_attention, words,
        storage.join(output, f"{args.video_id}_temporal_attention.png"), key_frame=key_frame)
    looked_at = temporal_attention[: len(words)].mean(axis=0).argmax()
    print(f"STEP1 (frame {out['default_key_frame']}): {step1}")
    print(f"STEP2 (frame {key_frame}): {step2}")
    print(f"key frame {key_frame}: the refocus module's pick (argmax alpha), where step 2 "
          f"re-encodes the video from")
    print(f"decoder attention peaks at frame {looked_at} (mean over the caption's words): where "
          f"the decoder looked while wording the caption")
    print(f"wrote {strip}\nwrote {heat_map}\nwrote {attention}")
    return 0
