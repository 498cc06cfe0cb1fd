"""The feature job's command-line flags, kept free of heavy imports so `vre --help` stays fast.

Beam's own pipeline options (`--runner`, `--setup_file`, `--direct_num_workers`...) are not
declared here: the job passes every flag it does not know to Beam.
"""

DEFAULT_RANDOM_SEED = 20190000  # the fixed seed of random weights (tests, demos)
# Audio kept per video: bounds the waveform a worker holds (10 min at 16 kHz: 38 MB) and the
# VGGish time of a long clip; MSR-VTT / MSVD clips last 10-30 s.
DEFAULT_MAX_AUDIO_S = 600.0
DEFAULT_VGGISH_BATCH_SIZE = 64


def add_job_arguments(parser):
    """The job's own flags (Beam's pipeline options are passed through untouched)."""
    parser.add_argument("--dataset", choices=("msrvtt", "msvd", "manifest"), required=True)
    parser.add_argument(
        "--annotations",
        nargs="+",
        default=[],
        help="msrvtt: *_videodatainfo.json files or the zip holding them; msvd: caption files "
        "(vidN<TAB>caption, '<clip id> caption' lines or the corpus CSV)",
    )
    parser.add_argument("--msvd_mapping", help="msvd: youtube_mapping.txt ('<clip id> vidN')")
    parser.add_argument("--video_dir", help="msrvtt / msvd: folder of the videos (local or URI)")
    parser.add_argument("--video_ext", help="video file extension (default .mp4 / .avi)")
    parser.add_argument("--manifest", help="manifest: a .jsonl or .csv (id, path, split, captions)")
    parser.add_argument("--output_dir", required=True, help="output folder (local or URI)")
    parser.add_argument("--cnn_weights", help="'imagenet' or a ResNet152 (no top) weights file")
    parser.add_argument("--vggish_weights", help="VGGish *.weights.h5 or vggish_model.ckpt")
    parser.add_argument("--vggish_pca_params", help="vggish_pca_params.npz (optional)")
    parser.add_argument(
        "--allow_random_weights",
        action="store_true",
        help="run without weights, with fixed-seed random ones (tests and demos only)",
    )
    parser.add_argument("--no_audio", action="store_true", help="skip VGGish (e.g. MSVD)")
    parser.add_argument("--random_seed", type=int, default=DEFAULT_RANDOM_SEED)
    parser.add_argument("--max_failure_ratio", type=float, default=0.1)
    parser.add_argument("--decode_timeout_s", type=float, default=300.0)
    parser.add_argument("--batch_size", type=int, default=2, help="videos per CNN call")
    parser.add_argument("--num_shards", type=int, default=0, help="shards per split (0: auto)")
    parser.add_argument(
        "--max_audio_s",
        type=float,
        default=DEFAULT_MAX_AUDIO_S,
        help="seconds of audio kept per video (the rest is not decoded; 0: all), which bounds "
        "a worker's memory on long videos",
    )
    parser.add_argument(
        "--vggish_batch_size",
        type=int,
        default=DEFAULT_VGGISH_BATCH_SIZE,
        help="0.96 s audio examples per VGGish call",
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N videos (0: all)")
