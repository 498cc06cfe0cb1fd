"""Model speed, measured side by side in one run (2-core CPU numbers are what CI machines see).

1. Train-step time of the two-pass VRE (phase 2: step 1 + refocus + step 2, two decodes) against
   the one-pass captioner of the same layers and sizes (phase 1: one KBiGRU pass, one decode);
   the paper's design should cost at most 2.3x.
2. KBiGRU forward + backward: `tf.while_loop` form against the vectorised (masked Keras GRU) form.
3. Caption latency per video: greedy against beam search (beam 5), in-graph.

Prints a table and writes benchmarks/results/bench_model.json.

    scripts/runtime.sh run python benchmarks/bench_model.py            # paper sizes
    scripts/runtime.sh run python benchmarks/bench_model.py --tiny     # seconds, for a smoke run
"""

import argparse
import json
import pathlib
import statistics
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "bench_model.json"


def _time(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="ModelConfig.tiny() sizes")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--vocab_size", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from vre_keras.config import ModelConfig
    from vre_keras.layers import KeyFrameBiGRU
    from vre_keras.vre_captioner import PHASE_JOINT, PHASE_STEP1_XE, VRECaptioner

    config = ModelConfig.tiny() if args.tiny else ModelConfig()
    b = args.batch_size
    rng = np.random.default_rng(0)
    batch = {
        "temporal": tf.constant(rng.normal(size=(b, config.num_frames, config.channels)),
                                tf.float32),
        "spatial": tf.constant(rng.normal(size=(b, config.num_regions, config.channels)),
                               tf.float32),
        "audio": tf.constant(rng.normal(size=(b, config.audio_dim)), tf.float32),
        "tokens": tf.constant(rng.integers(4, args.vocab_size,
                                           size=(b, config.caption_length)), tf.int32),
        "video_index": tf.range(b, dtype=tf.int32),
    }
    keras.utils.set_random_seed(0)
    model = VRECaptioner(config, vocab_size=args.vocab_size, num_videos=b).build_all()
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=False)
    rows = []

    steps = {}
    for phase in (PHASE_STEP1_XE, PHASE_JOINT):
        model.set_phase(phase)
        step = tf.function(model.train_step)
        step(batch)  # trace with this phase's loss
        steps[phase] = _time(lambda: step(batch), args.repeats)
    ratio = steps[PHASE_JOINT] / steps[PHASE_STEP1_XE]
    rows += [
        ("train step, one-pass captioner (phase 1)", steps[PHASE_STEP1_XE], "s/step"),
        ("train step, two-pass VRE (phase 2, L_All)", steps[PHASE_JOINT], "s/step"),
        ("  VRE / one-pass (target <= 2.3)", ratio, "x"),
    ]

    frames = batch["temporal"]
    keys = tf.constant(rng.integers(0, config.num_frames, size=(b,)), tf.int32)
    kbigru = {}
    for implementation in ("while_loop", "vectorized"):
        layer = KeyFrameBiGRU(config.hidden_size, implementation=implementation)
        layer(frames, keys)

        @tf.function
        def forward_backward(layer=layer):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(frames, keys))
            return tape.gradient(loss, layer.trainable_variables)

        kbigru[implementation] = _time(forward_backward, args.repeats)
    rows += [
        ("KBiGRU fwd+bwd, tf.while_loop form", kbigru["while_loop"], "s/batch"),
        ("KBiGRU fwd+bwd, vectorised form", kbigru["vectorized"], "s/batch"),
        ("  while_loop / vectorised", kbigru["while_loop"] / kbigru["vectorized"], "x"),
    ]

    one = {k: v[:1] for k, v in batch.items()}
    decode = {}
    for method in ("greedy", "beam"):
        fn = tf.function(lambda m=method: model.generate(one["temporal"], one["spatial"],
                                                         one["audio"], method=m))
        decode[method] = _time(fn, args.repeats)
    rows += [
        ("caption latency, greedy", decode["greedy"], "s/video"),
        (f"caption latency, beam {config.beam_size}", decode["beam"], "s/video"),
        ("  beam / greedy", decode["beam"] / decode["greedy"], "x"),
    ]

    sizes = (f"K={config.num_frames} C={config.channels} R={config.num_regions} "
             f"H={config.hidden_size} V={args.vocab_size} L={config.caption_length} "
             f"batch={b}")
    print(f"VRE model benchmark ({sizes}; median of {args.repeats})")
    width = max(len(r[0]) for r in rows)
    for name, value, unit in rows:
        print(f"  {name:<{width}}  {value:10.4f} {unit}")
    chosen = min(kbigru, key=kbigru.get)
    print(f"  fastest KBiGRU form: {chosen} (ModelConfig.kbigru_implementation)")
    result = {
        "sizes": sizes,
        "repeats": args.repeats,
        "train_step_s": {"one_pass": steps[PHASE_STEP1_XE], "vre_two_pass": steps[PHASE_JOINT],
                         "ratio": ratio, "ratio_target": 2.3},
        "kbigru_fwd_bwd_s": dict(kbigru, fastest=chosen),
        "decode_latency_s_per_video": dict(decode, beam_size=config.beam_size),
    }
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print(f"wrote {output}")
    return result


if __name__ == "__main__":
    main()
