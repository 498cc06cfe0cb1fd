"""Caption metrics: ours vs pycocoevalcap at MSR-VTT test scale, and the self-critical reward.

Scores a synthetic, MSR-VTT-shaped corpus (default 3,000 videos x 20 references, captions of
5-15 Zipf-distributed words) with pycocoevalcap's scorers and ours on the same tokenized input,
side by side in one run, checks the scores agree, prints a table and writes JSON to
benchmarks/results/caption_metrics.json. Then times CaptionReward on batches of 64.

    scripts/runtime.sh run python benchmarks/bench_caption_metrics.py
    scripts/runtime.sh run python benchmarks/bench_caption_metrics.py --videos 500 --refs 20
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "caption_metrics.json"


def synthetic_corpus(videos: int, refs: int, seed: int = 0):
    """(hypotheses, references) of tokenized captions shaped like MSR-VTT's."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(5000)])
    weights = 1.0 / np.arange(1, len(vocab) + 1)  # Zipf: a few very frequent words
    weights /= weights.sum()

    def caption():
        return " ".join(rng.choice(vocab, size=rng.integers(5, 16), p=weights))

    references = {f"video{v}": [caption() for _ in range(refs)] for v in range(videos)}
    hypotheses = {}
    for video_id, caps in references.items():
        words = caps[0].split()  # a hypothesis near one reference, with some words replaced
        for i in rng.choice(len(words), size=len(words) // 3, replace=False):
            words[i] = vocab[rng.integers(0, 200)]
        hypotheses[video_id] = " ".join(words)
    return hypotheses, references


def timed(fn, repeat=1):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3000)
    parser.add_argument("--refs", type=int, default=20)
    parser.add_argument("--reward_batches", type=int, default=30)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    from vre_keras.caption_metrics import names, score_corpus
    from vre_keras.caption_metrics.reward import CaptionReward

    hyps, refs = synthetic_corpus(args.videos, args.refs)
    ids = list(refs)
    gts, res = refs, {k: [hyps[k]] for k in ids}

    rows = []

    def compare(name, coco_fn, ours_fn, coco_value, ours_value, repeat):
        # Same number of repeats for both sides, best time of each (the machine may be shared).
        t_coco, coco_out = timed(coco_fn, repeat)
        t_ours, ours_out = timed(ours_fn, repeat)
        diff = float(np.max(np.abs(np.asarray(coco_value(coco_out), dtype=float)
                                   - np.asarray(ours_value(ours_out), dtype=float))))
        rows.append({"metric": name, "pycocoevalcap_s": t_coco, "ours_s": t_ours,
                     "speedup": t_coco / t_ours, "max_abs_diff": diff})

    def ours_alone(family):
        # Each metric through the public API on its own, as a user asking for only that metric
        # would call it (input checks included, no work shared with the other metrics).
        return lambda: score_corpus(hyps, refs, metrics=(family,), tokenized=True)

    compare("Bleu_1..4", lambda: Bleu(4).compute_score(gts, res, verbose=0), ours_alone("Bleu"),
            lambda out: out[0], lambda out: [out[k] for k in names.BLEU_KEYS], repeat=3)
    compare("ROUGE_L", lambda: Rouge().compute_score(gts, res), ours_alone("ROUGE_L"),
            lambda out: out[0], lambda out: out[names.ROUGE_L], repeat=3)
    compare("CIDEr-D", lambda: Cider().compute_score(gts, res), ours_alone("CIDEr-D"),
            lambda out: out[0], lambda out: out[names.CIDER_D], repeat=3)

    # The three in one call (input checks and per-video results included), against the sum of
    # pycocoevalcap's three rows above.
    from vre_keras.caption_metrics import evaluate_corpus

    t_all, _ = timed(lambda: evaluate_corpus(hyps, refs, metrics=("Bleu", "ROUGE_L", "CIDEr-D"),
                                             tokenized=True), repeat=3)
    t_coco_all = sum(r["pycocoevalcap_s"] for r in rows)
    rows.append({"metric": "all three", "pycocoevalcap_s": t_coco_all, "ours_s": t_all,
                 "speedup": t_coco_all / t_all,
                 "max_abs_diff": max(r["max_abs_diff"] for r in rows)})

    t_init, reward = timed(lambda: CaptionReward(refs, tokenized=True))
    rng = np.random.default_rng(1)
    batch_times = []
    for _ in range(args.reward_batches):
        pick = rng.choice(len(ids), size=64)
        batch_ids = [ids[i] for i in pick]
        batch_caps = [hyps[k] for k in batch_ids]
        start = time.perf_counter()
        reward(batch_ids, batch_caps)
        batch_times.append(time.perf_counter() - start)

    print(f"Caption metrics on {args.videos} videos x {args.refs} references "
          f"(tokenized input, {platform.processor() or platform.machine()})")
    print(f"{'metric':12} {'pycocoevalcap s':>16} {'ours s':>10} {'speedup':>9} {'max |diff|':>11}")
    for r in rows:
        print(f"{r['metric']:12} {r['pycocoevalcap_s']:16.3f} {r['ours_s']:10.3f} "
              f"{r['speedup']:8.1f}x {r['max_abs_diff']:11.1e}")
    median_ms = 1000 * statistics.median(batch_times)
    p90_ms = 1000 * sorted(batch_times)[int(0.9 * (len(batch_times) - 1))]
    print(f"\nCaptionReward: init on {args.videos * args.refs} references {t_init:.2f} s; "
          f"batch of 64: median {median_ms:.1f} ms, p90 {p90_ms:.1f} ms")

    report = {"videos": args.videos, "refs_per_video": args.refs, "metrics": rows,
              "reward": {"init_s": t_init, "batch": 64, "median_ms": median_ms,
                         "p90_ms": p90_ms, "batches": args.reward_batches}}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
