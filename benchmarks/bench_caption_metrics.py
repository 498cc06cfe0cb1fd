"""Caption metrics: ours vs pycocoevalcap at MSR-VTT test scale, end to end and inner loops.

End to end (what a user waits for): `vre evaluate` (a new process: imports, reading the files,
PTB tokenizer, metrics) against a new process doing what pycocoevalcap's COCOEvalCap does
(PTBTokenizer, then Bleu(4), Meteor(), Rouge(), Cider()), on raw captions of the real MSR-VTT
annotations in ../shared/data at MSR-VTT-test scale (2,990 videos: one human caption scored
against the other 19), for all metrics and per metric, side by side in one run (the two sides
alternate), checking that the scores agree. The PTB tokenizer's cache of the jar's output (for
captions outside its fast path) is warm for the rows (filled by an untimed run on the same
files, as when the Evaluator or per-epoch validation re-scores the same references) and empty
for each run of the "cold PTB cache" row (a first call). Both sides' modules are compiled to
bytecode once before the timed runs.

Inner loops: a synthetic MSR-VTT-shaped corpus (default 3,000 videos x 20 references, captions
of 5-15 Zipf-distributed words), tokenized, each metric through our public API against
pycocoevalcap's compute_score; then CaptionReward on batches of 64.

Prints tables and writes JSON to benchmarks/results/caption_metrics.json.

    scripts/runtime.sh run python benchmarks/bench_caption_metrics.py
    scripts/runtime.sh run python benchmarks/bench_caption_metrics.py --e2e_only --e2e_repeat 2
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np

TOP = Path(__file__).resolve().parents[1]
RESULTS = TOP / "benchmarks" / "results" / "caption_metrics.json"
MSRVTT = TOP.parent / "shared" / "data" / "msrvtt" / "train_val_annotation.zip"
PTB_CACHE_ENV = "VRE_PTB_CACHE"  # vre_keras.caption_metrics.ptb_cache.CACHE_ENV
COLD_SUFFIX = ", cold PTB cache"
# (row name, `vre evaluate --metrics`, pycocoevalcap scorers); rows run with a warm PTB tokenizer
# cache unless their name ends in COLD_SUFFIX.
E2E_ROWS = [
    (
        "all metrics",
        ["Bleu", "METEOR", "ROUGE_L", "CIDEr-D"],
        ["Bleu", "METEOR", "ROUGE_L", "CIDEr"],
    ),
    ("Bleu+ROUGE_L+CIDEr-D", ["Bleu", "ROUGE_L", "CIDEr-D"], ["Bleu", "ROUGE_L", "CIDEr"]),
    (
        "Bleu+ROUGE_L+CIDEr-D" + COLD_SUFFIX,
        ["Bleu", "ROUGE_L", "CIDEr-D"],
        ["Bleu", "ROUGE_L", "CIDEr"],
    ),
    ("METEOR", ["METEOR"], ["METEOR"]),
    ("Bleu_1..4", ["Bleu"], ["Bleu"]),
    ("ROUGE_L", ["ROUGE_L"], ["ROUGE_L"]),
    ("CIDEr-D", ["CIDEr-D"], ["CIDEr"]),
]


def msrvtt_test_scale(out_dir: Path, videos: int = 2990) -> tuple[Path, Path]:
    """predictions.json {video: caption} and references.json {video: [19 captions]} from the
    real MSR-VTT annotations: the first `videos` videos, caption 0 as the prediction."""
    with zipfile.ZipFile(MSRVTT) as z:
        data = json.loads(z.read("train_val_videodatainfo.json"))
    captions = defaultdict(list)
    for sentence in data["sentences"]:
        captions[sentence["video_id"]].append(sentence["caption"])
    chosen = sorted(captions, key=lambda v: int(v.removeprefix("video")))[:videos]
    predictions, references = out_dir / "predictions.json", out_dir / "references.json"
    predictions.write_text(json.dumps({v: captions[v][0] for v in chosen}))
    references.write_text(json.dumps({v: captions[v][1:] for v in chosen}))
    return predictions, references


def coco_evaluate(predictions: str, references: str, scorers: list[str], output: str) -> None:
    """What pycocoevalcap's COCOEvalCap.evaluate does, from the same files: PTBTokenizer on both
    sides, all scorers constructed, then each computed in turn (run in its own process)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    preds = json.loads(Path(predictions).read_text())
    refs = json.loads(Path(references).read_text())
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in refs[k]] for k in preds})
    res = tokenizer.tokenize({k: [{"caption": preds[k]}] for k in preds})
    made = {"Bleu": lambda: Bleu(4), "METEOR": Meteor, "ROUGE_L": Rouge, "CIDEr": Cider}
    chosen = [(name, made[name]()) for name in scorers]
    scores = {}
    for name, scorer in chosen:
        score, _ = scorer.compute_score(gts, res)
        if name == "Bleu":
            scores.update({f"Bleu_{n + 1}": s for n, s in enumerate(score)})
        else:
            scores[name] = score
    Path(output).write_text(json.dumps(scores))


def _run(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children, e.g. the JVMs)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=TOP, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def _ours_cmd(preds: Path, refs: Path, out: Path, metrics: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vre_cli",
        "evaluate",
        "--predictions",
        str(preds),
        "--references",
        str(refs),
        "--output",
        str(out),
        "--metrics",
        *metrics,
    ]


def _compile_bytecode(tmp: Path) -> None:
    """Both commands once on two videos, untimed: the modules each side imports are compiled to
    bytecode (cached, as after any pip install) before the timed runs, not in the first one."""
    preds, refs = tmp / "tiny-predictions.json", tmp / "tiny-references.json"
    preds.write_text(json.dumps({"v1": "a man is cooking", "v2": "a dog runs"}))
    refs.write_text(json.dumps({"v1": ["a man cooks food"], "v2": ["a dog is running fast"]}))
    _run(_ours_cmd(preds, refs, tmp / "tiny-ours.json", ["Bleu"]), {PTB_CACHE_ENV: "off"})
    _run(
        [sys.executable, __file__, "--coco_evaluate", str(preds), str(refs), str(tmp / "t.json")]
        + ["Bleu", "ROUGE_L", "CIDEr"]
    )


def end_to_end_rows(repeat: int, workers: int | None) -> tuple[list[dict], dict]:
    from vre_keras.caption_metrics.java import meteor_jar
    from vre_keras.caption_metrics.meteor_paraphrase import ParaphraseIndex

    # The one-time paraphrase index (cached for later runs) is built here, not in a timed row.
    start = time.perf_counter()
    ParaphraseIndex.cached(meteor_jar().parent / "data" / "paraphrase-en.gz")
    setup = {"paraphrase_index_load_or_build_s": time.perf_counter() - start}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-caption-e2e-", dir=TOP) as tmp:
        tmp = Path(tmp)
        preds, refs = msrvtt_test_scale(tmp)
        _compile_bytecode(tmp)
        # The PTB tokenizer's cache of the jar's output for the captions outside its fast path:
        # warm (filled by an earlier run on the same references, as for the Evaluator or the
        # per-epoch validation) for the rows below, empty for each run of the "cold" row.
        warm_cache = tmp / "ptb-cache-warm"
        _run(_ours_cmd(preds, refs, tmp / "fill.json", ["Bleu"]), {PTB_CACHE_ENV: str(warm_cache)})
        for name, ours_metrics, coco_scorers in E2E_ROWS:
            cold = name.endswith(COLD_SUFFIX)
            ours_out, coco_out = tmp / "ours.json", tmp / "coco.json"
            ours_cmd = _ours_cmd(preds, refs, ours_out, ours_metrics)
            if workers:
                ours_cmd += ["--meteor_workers", str(workers)]
            coco_cmd = [
                sys.executable,
                __file__,
                "--coco_evaluate",
                str(preds),
                str(refs),
                str(coco_out),
                *coco_scorers,
            ]
            t_coco, t_ours = [], []
            for r in range(repeat):  # alternating, so a change of load hits both sides
                t_coco.append(_run(coco_cmd))
                cache = tmp / f"ptb-cache-cold-{r}" if cold else warm_cache
                t_ours.append(_run(ours_cmd, {PTB_CACHE_ENV: str(cache)}))
            (wall_coco, cpu_coco), (wall_ours, cpu_ours) = min(t_coco), min(t_ours)
            ours = json.loads(ours_out.read_text())["scores"]
            coco = json.loads(coco_out.read_text())
            diff = max(abs(ours["CIDEr-D" if k == "CIDEr" else k] - v) for k, v in coco.items())
            rows.append(
                {
                    "metric": name,
                    "pycocoevalcap_s": wall_coco,
                    "ours_s": wall_ours,
                    "speedup": wall_coco / wall_ours,
                    "max_abs_diff": diff,
                    "pycocoevalcap_cpu_s": cpu_coco,
                    "ours_cpu_s": cpu_ours,
                    "cpu_ratio": cpu_coco / cpu_ours,
                    "load_average": os.getloadavg()[0],
                    "ours_cmd": "vre evaluate --metrics " + " ".join(ours_metrics),
                    "ptb_cache": "cold" if cold else "warm",
                }
            )
            print(
                f"  {name}: pycocoevalcap {wall_coco:.2f} s ({cpu_coco:.1f} s CPU), "
                f"vre evaluate {wall_ours:.2f} s ({cpu_ours:.1f} s CPU)",
                flush=True,
            )
    return rows, setup


def print_rows(title: str, rows: list[dict]) -> None:
    print(title)
    cpu = "cpu_ratio" in rows[0]
    print(
        f"{'metric':22} {'pycocoevalcap s':>16} {'ours s':>10} {'speedup':>9} "
        f"{'max |diff|':>11}" + (f" {'CPU s coco / ours':>18} {'CPU ratio':>9}" if cpu else "")
    )
    for r in rows:
        print(
            f"{r['metric']:22} {r['pycocoevalcap_s']:16.3f} {r['ours_s']:10.3f} "
            f"{r['speedup']:8.1f}x {r['max_abs_diff']:11.1e}"
            + (
                f" {r['pycocoevalcap_cpu_s']:8.1f} / {r['ours_cpu_s']:7.1f} {r['cpu_ratio']:8.1f}x"
                if cpu
                else ""
            )
        )


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
    parser.add_argument(
        "--e2e_repeat",
        type=int,
        default=1,
        help="runs of each end-to-end command (best is reported)",
    )
    parser.add_argument("--meteor_workers", type=int, default=None)
    parser.add_argument("--e2e_only", action="store_true", help="skip the inner-loop rows")
    parser.add_argument("--coco_evaluate", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.coco_evaluate:
        preds, refs, out, *scorers = args.coco_evaluate
        coco_evaluate(preds, refs, scorers, out)
        return

    print(
        f"End to end on MSR-VTT-test scale (2,990 videos x 19 references, raw captions), "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    e2e, setup = end_to_end_rows(args.e2e_repeat, args.meteor_workers)
    print_rows(
        "\nEnd to end: `vre evaluate` vs pycocoevalcap tokenizer + scorers (new process each)", e2e
    )
    report = {
        "end_to_end": {
            "videos": 2990,
            "refs_per_video": 19,
            "rows": e2e,
            "repeat": args.e2e_repeat,
            **setup,
            "load_average_after": os.getloadavg()[0],
        }
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.e2e_only:
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {out}")
        return

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
        diff = float(
            np.max(
                np.abs(
                    np.asarray(coco_value(coco_out), dtype=float)
                    - np.asarray(ours_value(ours_out), dtype=float)
                )
            )
        )
        rows.append(
            {
                "metric": name,
                "pycocoevalcap_s": t_coco,
                "ours_s": t_ours,
                "speedup": t_coco / t_ours,
                "max_abs_diff": diff,
            }
        )

    def ours_alone(family):
        # Each metric through the public API on its own, as a user asking for only that metric
        # would call it (input checks included, no work shared with the other metrics).
        return lambda: score_corpus(hyps, refs, metrics=(family,), tokenized=True)

    compare(
        "Bleu_1..4",
        lambda: Bleu(4).compute_score(gts, res, verbose=0),
        ours_alone("Bleu"),
        lambda out: out[0],
        lambda out: [out[k] for k in names.BLEU_KEYS],
        repeat=3,
    )
    compare(
        "ROUGE_L",
        lambda: Rouge().compute_score(gts, res),
        ours_alone("ROUGE_L"),
        lambda out: out[0],
        lambda out: out[names.ROUGE_L],
        repeat=3,
    )
    compare(
        "CIDEr-D",
        lambda: Cider().compute_score(gts, res),
        ours_alone("CIDEr-D"),
        lambda out: out[0],
        lambda out: out[names.CIDER_D],
        repeat=3,
    )

    # The three in one call (input checks and per-video results included), against the sum of
    # pycocoevalcap's three rows above.
    from vre_keras.caption_metrics import evaluate_corpus

    t_all, _ = timed(
        lambda: evaluate_corpus(hyps, refs, metrics=("Bleu", "ROUGE_L", "CIDEr-D"), tokenized=True),
        repeat=3,
    )
    t_coco_all = sum(r["pycocoevalcap_s"] for r in rows)
    rows.append(
        {
            "metric": "all three",
            "pycocoevalcap_s": t_coco_all,
            "ours_s": t_all,
            "speedup": t_coco_all / t_all,
            "max_abs_diff": max(r["max_abs_diff"] for r in rows),
        }
    )

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

    print_rows(
        f"\nInner loops: {args.videos} synthetic videos x {args.refs} references "
        f"(tokenized input, {platform.processor() or platform.machine()})",
        rows,
    )
    median_ms = 1000 * statistics.median(batch_times)
    p90_ms = 1000 * sorted(batch_times)[int(0.9 * (len(batch_times) - 1))]
    print(
        f"\nCaptionReward: init on {args.videos * args.refs} references {t_init:.2f} s; "
        f"batch of 64: median {median_ms:.1f} ms, p90 {p90_ms:.1f} ms"
    )

    report.update(
        {
            "videos": args.videos,
            "refs_per_video": args.refs,
            "metrics": rows,
            "reward": {
                "init_s": t_init,
                "batch": 64,
                "median_ms": median_ms,
                "p90_ms": p90_ms,
                "batches": args.reward_batches,
            },
        }
    )
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
