"""`python -m vre_keras.caption_metrics.meteor_worker`: one aligner worker process of PortMeteor.

Reads one pickle (word table, paraphrases, items) from stdin, aligns the items with
meteor_aligner and writes the pickled results to stdout; its CPU time goes to stderr (the
parent's debug log). A module of its own so that meteor_aligner is imported once, by name.
"""

import pickle
import sys
import time

from vre_keras.caption_metrics import meteor_aligner


def main() -> None:
    table, paraphrases, items = pickle.load(sys.stdin.buffer)
    started = time.process_time()
    meteor_aligner.set_context(table, paraphrases)
    result = meteor_aligner.score_chunk(items)
    print(f"aligned {len(items)} in {time.process_time() - started:.2f} s CPU", file=sys.stderr)
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
