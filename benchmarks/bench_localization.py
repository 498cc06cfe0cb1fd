"""Does the served key frame find the event? Localization of every model configuration, side by side.

Data (vre_keras/synthetic_events.py): K = 20 frames per video, a marked event of 2-4 frames at a
random position tells the caption ("a dog is running"), every other frame is a distractor made of
the same subject / verb prototypes without the marker; per-video noise 0.3-0.9.

For each configuration and seed, the real training schedule (vre_keras.training.run_schedule:
phase 1, phase 2 with L_All, best phase-2 weights -> frozen key-frame predictor, phase 3, export)
trains a tiny model on Contract-1 records, and the exported SavedModel captions held-out videos.
Reported per configuration, mean ± standard deviation over the seeds:

- key@event: share of held-out videos whose served `key_frame` (the frozen refocus module's pick,
  what the SavedModel returns) lies inside the event; chance = mean event length / K;
- key/chance: that share over chance (the goal is >= 3);
- att mass / att peak: the decoder's temporal attention (served `temporal_attention`, averaged over
  the caption's words up to <EOS>): its mass on the event frames, and the share of videos whose
  peak frame is inside the event;
- xe1 / xe2: teacher-forced caption XE (per caption, no dropout) of step 1 (o1, default key frame)
  and step 2 (o2 at the served key frame) on held-out videos;
- acc1 / acc2: share of held-out videos whose greedy step-1 / served step-2 caption is one of the
  references;
- xe2@event / xe2@out: step-2 XE with the key frame forced to the event's middle frame / to a
  random frame outside the event: how much a right key frame could gain (the refocus reward's
  signal).

Prints a table and writes benchmarks/results/bench_localization.json.

    scripts/runtime.sh run python benchmarks/bench_localization.py           # 3 seeds, all rows
    scripts/runtime.sh run python benchmarks/bench_localization.py --quick   # 1 seed, fewer epochs
    scripts/runtime.sh run python benchmarks/bench_localization.py --configs paper --seeds 0 1 2
"""

import argparse
import json
import logging
import os
import pathlib
import statistics
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "bench_localization.json"

# Tiny sizes: a full run (every row x 3 seeds) has to fit a shared 2-core machine.
BASE_MODEL = {
    "hidden_size": 32,
    "embedding_size": 32,
    "attention_size": 32,
    "channels": 32,
    "num_regions": 4,
    "max_caption_words": 4,
    "min_word_count": 1,
    "learning_rate": 3e-3,
}

# name -> (ModelConfig overrides, description). Overrides may name a Table-1 configuration
# (`table1`) once ModelConfig knows them; the paper's hyper-parameters otherwise (dropout 0.5,
# scheduled sampling 0.25, beta 0.03).
CONFIGS = {
    # Named explicitly, so the row stays the paper's method whatever ModelConfig's default is.
    "paper": (
        {"refocus_loss": "lr_plus"},
        "VRE(Vf,vs,va), paper-faithful LR+ (argmax key frame, R_e - R_{e-1})",
    ),
    "attention-refocus": (
        {"refocus_loss": "decoder_attention"},
        "VRE(Vf,vs,va), refocus trained towards the decoder's attention",
    ),
}


def _table1_configs():
    """The paper's Table-1 rows without a refocus (VRE(Vf,vs,va) is the "paper" row above), once
    ModelConfig knows them."""
    try:
        from vre_keras.config import TABLE1_ROWS, table1_row
    except ImportError:
        return {}
    return {
        name: (table1_row(name), f"Table 1 row {name}")
        for name in TABLE1_ROWS
        if table1_row(name).get("refocus", True) is False
    }


CONFIGS.update(_table1_configs())

METRICS = (
    "key_in_event",
    "key_over_chance",
    "key_mode_share",
    "attention_mass",
    "attention_peak_in_event",
    "xe1",
    "xe2",
    "accuracy1",
    "accuracy2",
    "xe2_at_event",
    "xe2_outside_event",
    "train_s",
)


def _schedule(quick):
    from vre_keras.config import ScheduleConfig

    if quick:
        return ScheduleConfig(
            phase1_epochs=3,
            phase2_epochs=3,
            phase3_epochs=1,
            phase4_epochs=0,
            batch_size=32,
            shuffle_buffer=1024,
        )
    return ScheduleConfig(
        phase1_epochs=3,
        phase2_epochs=5,
        phase3_epochs=2,
        phase4_epochs=0,
        batch_size=32,
        shuffle_buffer=1024,
    )


def _model_config(overrides, task, seed):
    from vre_keras.config import ModelConfig

    values = dict(BASE_MODEL, num_frames=task.num_frames, audio_dim=task.audio_dim, seed=seed)
    values.update(overrides)
    return ModelConfig(**values)


def _words_until_eos(tokens):
    """Decoding steps that belong to the caption: every word and the first <EOS>/<PAD>."""
    import numpy as np

    from vre_keras.vocabulary import EOS_ID, PAD_ID

    stops = np.flatnonzero(np.isin(tokens, (EOS_ID, PAD_ID)))
    return int(stops[0]) + 1 if len(stops) else len(tokens)


def _one_pass_xe(model, vocabulary, videos, temporal, spatial, audio):
    """Teacher-forced XE (no dropout) of a one-pass model, averaged over the references."""
    import numpy as np

    from vre_keras import losses

    totals = []
    for template in range(len(videos[0].captions)):
        ref = np.stack(
            [
                vocabulary.encode(v.captions[template], model.config.max_caption_words)
                for v in videos
            ]
        )
        result = model(
            {"temporal": temporal, "spatial": spatial, "audio": audio, "tokens": ref},
            training=False,
        )
        totals.append(losses.caption_cross_entropy(result["logits2"], ref).numpy())
    return np.mean(totals)


def evaluate(serving_dir, working_dir, videos, task, seed):
    """Localization and caption figures of one trained run on held-out `videos`."""
    import numpy as np
    import tensorflow as tf

    from vre_keras import losses
    from vre_keras.synthetic_events import chance_inside
    from vre_keras.training import load_trained_model

    k = task.num_frames
    temporal = np.stack([v.temporal for v in videos])
    spatial = np.stack([v.spatial for v in videos])
    audio = np.stack([v.audio for v in videos])
    masks = np.stack([v.event_mask(k) for v in videos])  # (B, K)
    references = [set(v.captions) for v in videos]

    # What a client of the SavedModel sees (Contract 2).
    served = tf.saved_model.load(serving_dir).signatures["serving_default"]
    out = served(
        temporal=tf.constant(temporal), spatial=tf.constant(spatial), audio=tf.constant(audio)
    )
    key_frame = out["key_frame"].numpy()
    captions = [c.decode() for c in out["caption"].numpy()]
    tokens = out["tokens"].numpy()
    t_att = out["temporal_attention"].numpy()  # (B, L, K)
    profiles = np.stack(
        [t_att[b, : _words_until_eos(tokens[b])].mean(axis=0) for b in range(len(videos))]
    )  # (B, K)

    model, vocabulary = load_trained_model(working_dir)
    if not getattr(model.config, "refocus", True):
        # A Table-1 row without the refocus: one pass, no key frame; its caption is "step 2".
        return {
            "chance": chance_inside(videos, k),
            "attention_mass": float(np.mean(np.sum(profiles * masks, axis=1))),
            "attention_peak_in_event": float(
                np.mean(masks[np.arange(len(videos)), profiles.argmax(axis=1)])
            ),
            "accuracy2": float(np.mean([c in r for c, r in zip(captions, references)])),
            "xe2": float(_one_pass_xe(model, vocabulary, videos, temporal, spatial, audio)),
        }
    explained = model.explain(temporal, spatial, audio)
    step1 = [vocabulary.decode(row) for row in explained["step1_tokens"].numpy()]

    def xe(key):
        # Mean over each video's references; teacher forcing, training=False (no dropout).
        totals = []
        for template in range(len(videos[0].captions)):
            ref = np.stack(
                [
                    vocabulary.encode(v.captions[template], model.config.max_caption_words)
                    for v in videos
                ]
            )
            result = model(
                {"temporal": temporal, "spatial": spatial, "audio": audio, "tokens": ref},
                training=False,
                key_frame=key,
            )
            totals.append(
                (
                    losses.caption_cross_entropy(result["logits1"], ref).numpy(),
                    losses.caption_cross_entropy(result["logits2"], ref).numpy(),
                )
            )
        return np.mean([t[0] for t in totals]), np.mean([t[1] for t in totals])

    rng = np.random.default_rng(seed + 7)
    middle = np.array([v.event_start + v.event_length // 2 for v in videos], np.int32)
    outside = np.array([rng.choice(np.flatnonzero(~m)) for m in masks], np.int32)
    xe1, xe2 = xe(tf.constant(key_frame, tf.int32))
    _, xe2_event = xe(tf.constant(middle))
    _, xe2_outside = xe(tf.constant(outside))
    chance = chance_inside(videos, k)
    inside = float(np.mean(masks[np.arange(len(videos)), key_frame]))
    return {
        "chance": chance,
        "key_in_event": inside,
        "key_over_chance": inside / chance,
        "key_mode_share": float(np.bincount(key_frame, minlength=k).max() / len(videos)),
        "attention_mass": float(np.mean(np.sum(profiles * masks, axis=1))),
        "attention_peak_in_event": float(
            np.mean(masks[np.arange(len(videos)), profiles.argmax(axis=1)])
        ),
        "xe1": float(xe1),
        "xe2": float(xe2),
        "accuracy1": float(np.mean([c in r for c, r in zip(step1, references)])),
        "accuracy2": float(np.mean([c in r for c, r in zip(captions, references)])),
        "xe2_at_event": float(xe2_event),
        "xe2_outside_event": float(xe2_outside),
    }


def run_one(name, overrides, seed, args, root):
    """Generates the data of `seed`, trains `name` through run_schedule, evaluates the export."""
    import keras

    from vre_keras.synthetic_events import EventTask, generate_event_videos, write_event_records
    from vre_keras.training import run_schedule

    task = EventTask()
    folder = pathlib.Path(root) / f"{name}_seed{seed}"
    train = generate_event_videos(task, args.train_videos, seed=1000 + seed, prefix="train")
    validation = generate_event_videos(task, args.test_videos // 2, seed=2000 + seed, prefix="val")
    test = generate_event_videos(task, args.test_videos, seed=3000 + seed, prefix="test")
    train_file = write_event_records(folder / "train.tfrecord.gz", train)
    validation_file = write_event_records(folder / "val.tfrecord.gz", validation, "validation")
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    run_schedule(
        str(train_file),
        str(validation_file),
        _model_config(overrides, task, seed),
        _schedule(args.quick),
        folder / "work",
        folder / "serving",
        folder / "logs",
    )
    train_s = time.perf_counter() - start
    figures = evaluate(str(folder / "serving"), folder / "work", test, task, seed)
    figures["train_s"] = train_s
    return figures


def _summary(runs):
    summary = {}
    for metric in METRICS + ("chance",):
        values = [r[metric] for r in runs if r.get(metric) is not None]
        if not values:  # e.g. no key frame in a row without a refocus
            summary[metric] = None
            continue
        summary[metric] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        }
    return summary


def _table(results):
    columns = [
        ("key@event", "key_in_event", 2),
        ("key/chance", "key_over_chance", 2),
        ("key mode", "key_mode_share", 2),
        ("att mass", "attention_mass", 2),
        ("att peak", "attention_peak_in_event", 2),
        ("xe1", "xe1", 2),
        ("xe2", "xe2", 2),
        ("acc1", "accuracy1", 2),
        ("acc2", "accuracy2", 2),
        ("xe2@event", "xe2_at_event", 2),
        ("xe2@out", "xe2_outside_event", 2),
    ]
    header = f"{'config':<22}" + "".join(f"{title:>14}" for title, _, _ in columns)
    lines = [header, "-" * len(header)]
    for name, result in results.items():
        s = result["summary"]
        cells = "".join(
            f"{s[key]['mean']:>8.{d}f}±{s[key]['std']:<5.{d}f}" if s[key] else f"{'n/a':>14}"
            for _, key, d in columns
        )
        lines.append(f"{name:<22}{cells}")
    chance = statistics.fmean(r["summary"]["chance"]["mean"] for r in results.values())
    lines.append(
        f"chance (key frame or attention peak inside the event) = {chance:.3f}; "
        f"mean ± std over seeds"
    )
    return "\n".join(lines)


def _run_jobs(pairs, args, argv):
    """Runs each (config, seed) in its own process, `args.jobs` at a time; returns their runs."""
    import subprocess

    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    # Drop the selection flags (each job gets its own) and keep the rest (sizes, --quick).
    keep, skip = [], False
    for a in forwarded:
        if a in ("--configs", "--seeds", "--jobs", "--output"):
            skip = True
            continue
        if a.startswith("--"):
            skip = False
        if not skip:
            keep.append(a)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench_localization_jobs_") as folder:
        pending = list(pairs)
        active = []
        while pending or active:
            while pending and len(active) < args.jobs:
                name, seed = pending.pop(0)
                output = pathlib.Path(folder) / f"{name}_{seed}.json"
                # One TF thread per pool: the jobs already fill the cores.
                env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
                command = [
                    sys.executable,
                    __file__,
                    "--configs",
                    name,
                    "--seeds",
                    str(seed),
                    "--output",
                    str(output),
                    "--jobs",
                    "1",
                ] + keep
                active.append((name, seed, output, subprocess.Popen(command, env=env)))
            time.sleep(2)
            for job in list(active):
                name, seed, output, process = job
                if process.poll() is None:
                    continue
                active.remove(job)
                if process.returncode:
                    raise RuntimeError(f"{name} seed {seed} failed (exit {process.returncode})")
                runs[(name, seed)] = json.loads(output.read_text())["results"][name]["runs"][0]
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 seed, fewer epochs and videos: a smoke run of a few minutes",
    )
    parser.add_argument(
        "--configs", nargs="*", default=None, help=f"rows to run (default: all of {list(CONFIGS)})"
    )
    parser.add_argument("--seeds", nargs="*", type=int, default=None)
    parser.add_argument("--train_videos", type=int, default=None)
    parser.add_argument("--test_videos", type=int, default=None)
    parser.add_argument(
        "--jobs", type=int, default=1, help="(config, seed) runs at once, each in its own process"
    )
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--verbose", action="store_true", help="show training logs")
    args = parser.parse_args(argv)
    args.seeds = args.seeds if args.seeds else ([0] if args.quick else [0, 1, 2])
    args.train_videos = args.train_videos or (192 if args.quick else 256)
    args.test_videos = args.test_videos or (96 if args.quick else 128)
    names = args.configs or list(CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; known: {list(CONFIGS)}")
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    from vre_common import quiet_output

    # The stack's start-up noise hidden (here and in the --jobs child processes, which inherit
    # the filtered stderr); progress lines stay visible.
    quiet_output.install(verbose=args.verbose, level=logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)

    def write(results):
        # Rewritten after every run: a cut-off run keeps what it measured.
        output.write_text(
            json.dumps(
                {
                    "command": "python benchmarks/bench_localization.py "
                    + " ".join(argv if argv is not None else sys.argv[1:]),
                    "quick": args.quick,
                    "seeds": args.seeds,
                    "train_videos": args.train_videos,
                    "test_videos": args.test_videos,
                    "base_model": BASE_MODEL,
                    "schedule": _schedule(args.quick).to_dict(),
                    "results": results,
                },
                indent=2,
            )
        )

    def row(name, runs):
        overrides, description = CONFIGS[name]
        return {
            "description": description,
            "overrides": overrides,
            "runs": runs,
            "summary": _summary(runs),
        }

    results = {}
    started = time.perf_counter()
    pairs = [(name, seed) for name in names for seed in args.seeds]
    if args.jobs > 1:
        runs = _run_jobs(pairs, args, argv)
        results = {n: row(n, [runs[(n, s)] for s in args.seeds]) for n in names}
        write(results)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_localization_") as root:
            for name in names:
                runs = []
                for seed in args.seeds:
                    figures = run_one(name, CONFIGS[name][0], seed, args, root)
                    runs.append(figures)
                    print(
                        f"{name} seed {seed}: "
                        + ", ".join(f"{k}={v:.3f}" for k, v in figures.items() if v is not None),
                        flush=True,
                    )
                    results[name] = row(name, runs)
                    write(results)
    print()
    print(_table(results))
    print(
        f"\n{len(names)} configs x {len(args.seeds)} seeds in {time.perf_counter() - started:.0f} s"
    )
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
