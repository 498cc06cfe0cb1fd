"""`vre explain`: key-frame and spatial-attention figures (paper Fig. 3 and Fig. 4) for a video."""

NAME = "explain"
HELP = "Draw the key frames (default and refocused) and the spatial attention of a video's caption."


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
    print(f"STEP1 (frame {out['default_key_frame']}): {step1}")
    print(f"STEP2 (frame {key_frame}): {step2}")
    print(f"wrote {strip}\nwrote {attention}")
    return 0
