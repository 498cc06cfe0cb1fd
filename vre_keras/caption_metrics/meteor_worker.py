"""One aligner worker process of PortMeteor: `python <this file>`.

Reads one pickle (word table columns, paraphrase table, items) from stdin, aligns the items
with meteor_aligner and writes the pickled results to stdout; its CPU time goes to stderr (the
parent's debug log). Run as a file with meteor_aligner imported as a plain module beside it,
not through the vre_keras package: the package imports numpy and more (~0.5 s per worker)
and the aligner needs none of it. The pickles hold only builtin types.
"""

import pickle
import sys
import time
import types
from pathlib import Path


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import meteor_aligner  # a plain module beside this file (see the docstring)

    (key, stem_key, synsets, function), paraphrase_state, items = pickle.load(sys.stdin.buffer)
    started = time.process_time()
    table = types.SimpleNamespace(key=key, stem_key=stem_key, synsets=synsets, function=function)
    paraphrases = meteor_aligner.Paraphrases(*paraphrase_state) if paraphrase_state else None
    meteor_aligner.set_context(table, paraphrases)
    result = meteor_aligner.score_chunk(items)
    print(f"aligned {len(items)} in {time.process_time() - started:.2f} s CPU", file=sys.stderr)
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
