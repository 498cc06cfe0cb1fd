"""METEOR 1.5's aligner and sufficient statistics, ported from meteor-1.5.jar to Python.

What `java -jar meteor-1.5.jar - - -stdio -l en -norm` does for one SCORE line (hypothesis
= line 1, each reference = line 2), step for step (edu.cmu.meteor.aligner.Aligner and its
matchers, scorer.MeteorScorer.getMeteorStats), with the jar's quirks kept because they change
scores:

- words are compared by `String.hashCode()` (ExactMatcher; a collision is a match), stems by
  the hash of the stem, and stem / synonym matches need different word hashes;
- identical sentences (same hashes) use the exact module only;
- matches are listed per line-2 position in module order (exact, stem, synonym, paraphrase
  line2->line1, paraphrase line1->line2), each in the jar's loop order;
- one-to-one matches whose words no other match covers are fixed before the search;
- the beam search (beam 40) keeps its partial alignments' weighted match counts in `int`
  (the aligner's weights 1, 0.5, 0.5, 0.5 are added as doubles and truncated), adds a new
  path's distance to its *parent*, and sorts with Collections.sort (stable) by more matches,
  fewer chunks, shorter distance.

The corpus-level bits that need the jar's arithmetic (Math.pow in the score) stay with the jar:
see meteor_port.py. `approximate_score` here is computeMetrics with Python's pow (it may differ
from Java's Math.pow in the last bit), used only to rank references.

This module is plain Python over precomputed word ids (meteor_resources.WordTable): the caller
(meteor_port.py) sets the corpus context once per process with `set_context`.
"""

import math
import operator
from collections.abc import Sequence

EXACT, STEM, SYNONYM, PARAPHRASE = range(4)
MODULES = 4
BEAM_SIZE = 40
# The weights the jar's MeteorScorer gives its aligner for the search (loadConfiguration).
_ALIGNER_WEIGHTS = (1.0, 0.5, 0.5, 0.5)
# `-l en` (task "rank"): alpha, beta, gamma, delta and the module weights of the score.
ALPHA, BETA, GAMMA, DELTA = 0.85, 0.2, 0.6, 0.75
SCORE_WEIGHTS = (1.0, 0.6, 0.8, 0.6)

# Match fields (tuples: cheap to build, read by index in the hot loop).
_START, _LEN, _MSTART, _MLEN, _MODULE, _MASK1, _MASK2, _W1, _W2, _DIST = range(10)


class AlignmentError(RuntimeError):
    """A case the jar itself could not finish (it would loop forever)."""


def _match(start, length, match_start, match_length, module):
    weight = _ALIGNER_WEIGHTS[module]
    return (
        start,
        length,
        match_start,
        match_length,
        module,
        ((1 << match_length) - 1) << match_start,
        ((1 << length) - 1) << start,
        match_length * weight,
        length * weight,
        abs(start - match_start),
    )


class Paraphrases:
    """ParaphraseTransducer over corpus word ids: phrase -> paraphrases in table order.

    Built from the (restricted) table text the jar would read: 3 lines per entry, the first
    ignored. Entries with a word the corpus lacks can never match and are dropped, except that
    an empty paraphrase matches anywhere (the jar's loops allow it).
    """

    def __init__(self, phrases: dict, prefixes: set, max_length: int):
        self.phrases = phrases
        self.prefixes = prefixes
        self.max_length = max_length
        self.first_words = {key[0] for key in prefixes}
        # paraphrase -> [(phrase, its rank among the phrase's paraphrases), ...]
        self.by_paraphrase: dict = {}
        for phrase, paras in phrases.items():
            for rank, para in enumerate(paras):
                self.by_paraphrase.setdefault(para, []).append((phrase, rank))
        self.max_paraphrase = max((len(p) for p in self.by_paraphrase), default=0)

    def __getstate__(self):
        return self.phrases, self.prefixes, self.max_length

    def __setstate__(self, state):
        if isinstance(state, dict):  # pickled by an older version of this class
            state = state["phrases"], state["prefixes"], state["max_length"]
        self.__init__(*state)

    @classmethod
    def from_table_text(cls, text: bytes, word_id: dict) -> "Paraphrases":
        """From a table's text (3 lines per entry, the first ignored) and the corpus's word ids."""
        # The table's words hold no ASCII white space (they were split on it), so bytes.split
        # gives the jar's StringTokenizer words.
        lines = text.split(b"\n")
        entries = []
        for phrase_line, para_line in zip(lines[1::3], lines[2::3]):
            try:
                phrase = tuple(word_id[w.decode("utf-8")] for w in phrase_line.split())
                para = tuple(word_id[w.decode("utf-8")] for w in para_line.split())
            except KeyError:
                continue  # a word the corpus lacks: the entry can match nothing
            entries.append((phrase, para))
        return cls.from_entries(entries)

    @classmethod
    def from_entries(cls, entries) -> "Paraphrases":
        """From (phrase, paraphrase) tuples of corpus word ids, in table order."""
        phrases: dict[tuple, list] = {}
        prefixes: set = set()
        longest = 0
        for key, value in entries:
            if not key:
                continue  # the transducer never reports its root state: never matches
            phrases.setdefault(key, []).append(value)
            for n in range(1, len(key) + 1):
                prefixes.add(key[:n])
            longest = max(longest, len(key))
        return cls(phrases, prefixes, longest)

    def occurrences(self, line: tuple) -> list:
        """[(start, length, phrase), ...]: the phrases getReferencePaths finds at each start
        (each stands for its paraphrases, in table order), in the jar's order: start, then
        phrase length."""
        out = []
        phrases, prefixes, first_words = self.phrases, self.prefixes, self.first_words
        n = len(line)
        for start in range(n):
            if line[start] not in first_words:
                continue
            for length in range(1, min(self.max_length, n - start) + 1):
                key = line[start : start + length]
                if key not in prefixes:
                    break
                if key in phrases:
                    out.append((start, length, key))
        return out


def _positions(line: tuple, words: tuple) -> list:
    """Where the non-empty `words` occur in `line`, ascending."""
    n, k, first = len(line), len(words), words[0]
    return [p for p in range(n - k + 1) if line[p] == first and line[p : p + k] == words]


class _Context:
    table = None
    paraphrases = None


_ctx = _Context()


def set_context(table, paraphrases: Paraphrases) -> None:
    """The corpus's WordTable and Paraphrases for align/score_hypothesis in this process."""
    _ctx.table = table
    _ctx.paraphrases = paraphrases


class _Line:
    """Line 2 (a reference): what the pairing needs."""

    __slots__ = ("function_count", "ids", "is_function", "keys")

    def __init__(self, ids: tuple):
        table = _ctx.table
        self.ids = ids
        self.keys = tuple([table.key[w] for w in ids])
        self.is_function = [table.function[w] for w in ids]
        self.function_count = sum(self.is_function)


class _Hypothesis(_Line):
    """Line 1, with everything that is the same for every reference computed once: its
    candidates per line-2 word, and its paraphrase matches in both directions keyed by what
    line 2 must contain."""

    __slots__ = ("_by_key", "_by_stem", "dir1", "dir2", "dir2_lengths", "grams", "single")

    def __init__(self, ids: tuple):
        super().__init__(ids)
        table = _ctx.table
        self.single = {}
        by_key: dict = {}
        by_stem: dict = {}
        for i, w in enumerate(ids):
            by_key.setdefault(table.key[w], []).append(i)
            by_stem.setdefault(table.stem_key[w], []).append(i)
        self._by_key = by_key
        self._by_stem = by_stem
        self.grams = self.dir1 = self.dir2 = {}
        self.dir2_lengths = ()
        if _ctx.paraphrases is not None:
            self._index_paraphrases(_ctx.paraphrases)

    def _index_paraphrases(self, paraphrases: Paraphrases) -> None:
        ids, n = self.ids, len(self.ids)
        # This line's n-grams -> positions (the empty one occurs at every position, as in the
        # jar's loop), for the first direction (phrase in line 2, paraphrase here).
        grams: dict = {(): list(range(n))} if n else {}
        for length in range(1, min(paraphrases.max_paraphrase, n) + 1):
            for start in range(n - length + 1):
                grams.setdefault(ids[start : start + length], []).append(start)
        self.grams = grams
        self.dir1 = {}
        # Second direction (phrase here, paraphrase in line 2): paraphrase -> [(order, i,
        # phrase length), ...], `order` being the jar's loop order (start, length, table order).
        found: dict = {}
        order = 0
        for i, length, phrase in paraphrases.occurrences(ids):
            for para in paraphrases.phrases[phrase]:
                found.setdefault(para, []).append((order, i, length))
                order += 1
        self.dir2 = found
        self.dir2_lengths = sorted({len(p) for p in found})

    def paraphrases_here(self, phrase: tuple) -> tuple:
        """((paraphrase length, positions here), ...) of a line-2 phrase's paraphrases that
        occur in this line, in table order (ParaphraseMatcher's first direction)."""
        grams = self.grams
        got = self.dir1[phrase] = tuple(
            (len(para), grams[para]) for para in _ctx.paraphrases.phrases[phrase] if para in grams
        )
        return got

    def candidates(self, w: int) -> tuple:
        """((i, module), ...) for a line-2 word id: exact, stem, then synonym, each i ascending."""
        table = _ctx.table
        key = table.key[w]
        keys = self.keys
        out = [(i, EXACT) for i in self._by_key.get(key, ())]
        out += [(i, STEM) for i in self._by_stem.get(table.stem_key[w], ()) if keys[i] != key]
        syn = table.synsets[w]
        if syn:
            synsets = table.synsets
            out += [
                (i, SYNONYM)
                for i, v in enumerate(self.ids)
                if keys[i] != key and not syn.isdisjoint(synsets[v])
            ]
        got = self.single[w] = tuple(out)
        return got


_single_matches: dict = {}


def _single_match(j: int, i: int, module: int) -> tuple:
    """_match(j, 1, i, 1, module), shared (single-word matches repeat across pairs)."""
    got = _single_matches.get((j, i, module))
    if got is None:
        got = _single_matches[(j, i, module)] = _match(j, 1, i, 1, module)
    return got


def _stage(hyp: _Hypothesis, ref: _Line):
    """Stage.matches and the coverage counts of both lines."""
    n1, n2 = len(hyp.ids), len(ref.ids)
    identical = n1 == n2 and hyp.keys == ref.keys
    matches = [[] for _ in range(n2)]
    cov1, cov2 = [0] * n1, [0] * n2
    single, candidates, shared = hyp.single, hyp.candidates, _single_matches
    for j, w in enumerate(ref.ids):
        found = single.get(w)
        if found is None:
            found = candidates(w)
        if not found:
            continue
        row = matches[j]
        for i, module in found:
            if identical and module != EXACT:
                continue
            m = shared.get((j, i, module))
            if m is None:
                m = _single_match(j, i, module)
            row.append(m)
            cov1[i] += 1
            cov2[j] += 1
    if identical:
        return matches, cov1, cov2
    line = ref.ids
    paraphrases = _ctx.paraphrases
    if paraphrases is not None and hyp.grams:
        # Paraphrases of line-2 phrases found in line 1 (the jar's order: j, phrase length,
        # table order, i).
        dir1, phrases, prefixes = hyp.dir1, paraphrases.phrases, paraphrases.prefixes
        first_words, max_length = paraphrases.first_words, paraphrases.max_length
        for j in range(n2):
            if line[j] not in first_words:
                continue
            for length in range(1, min(max_length, n2 - j) + 1):
                key = line[j : j + length]
                if key not in prefixes:
                    break
                if key not in phrases:
                    continue
                found = dir1.get(key)
                if found is None:
                    found = hyp.paraphrases_here(key)
                if not found:
                    continue
                row = matches[j]
                for para_length, positions in found:
                    for i in positions:
                        row.append(_match(j, length, i, para_length, PARAPHRASE))
                        for k in range(i, i + para_length):
                            cov1[k] += 1
                        for k in range(j, j + length):
                            cov2[k] += 1
    if hyp.dir2:
        # Then paraphrases of line-1 phrases found in line 2: the jar loops over line-1 phrases
        # (in `order`), then over j, so within row j matches come in `order`.
        dir2 = hyp.dir2
        for j in range(n2):
            hits = None
            for para_length in hyp.dir2_lengths:
                if j + para_length > n2:
                    break
                got = dir2.get(line[j : j + para_length])
                if got is not None:
                    if hits is None:
                        hits = []
                    hits.extend((order, i, length, para_length) for order, i, length in got)
            if hits is None:
                continue
            hits.sort()
            row = matches[j]
            for _, i, length, para_length in hits:
                row.append(_match(j, para_length, i, length, PARAPHRASE))
                for k in range(i, i + length):
                    cov1[k] += 1
                for k in range(j, j + para_length):
                    cov2[k] += 1
    return matches, cov1, cov2


# Partial alignment fields (lists, mutated in place as the jar mutates its objects). _KEY orders
# them as PARTIAL_COMPARE_TOTAL does (more weighted matches, then fewer chunks, then shorter
# distance): -(m1 + m2) * 2^64 + chunks * 2^32 + distance, kept up to date at every change, so
# sorting needs no Python call per path.
_KEY, _M1, _M2, _IDX, _LAST_END, _USED1, _USED2, _MATCHES = range(8)
_MATCH_UNIT = 1 << 64
_CHUNK_UNIT = 1 << 32
_by_key = operator.itemgetter(_KEY)


def _resolve(matches: list, start: list) -> list:
    """Aligner.resolve: the beam search, literally (including its in-place updates). Stable
    sorts by _KEY, as Collections.sort with that comparator."""
    n = len(matches)
    next_paths = [start]
    for current in range(n + 1):
        paths = next_paths
        next_paths = []
        append = next_paths.append
        if len(paths) > 1:
            paths.sort(key=_by_key)
            if len(paths) > BEAM_SIZE:
                del paths[BEAM_SIZE:]
        if current == n:
            for path in paths:
                if path[_LAST_END] != -1:
                    path[_KEY] += _CHUNK_UNIT
                append(path)
            break
        bit = 1 << current
        row = matches[current]
        for path in paths:
            if path[_USED2] & bit:
                if current < path[_IDX]:
                    append(path)
                    continue
                m = path[_MATCHES][path[_IDX]]
                if m is not None:  # a fixed match
                    m1 = int(path[_M1] + m[_W1])
                    m2 = int(path[_M2] + m[_W2])
                    key = path[_KEY] - (m1 - path[_M1] + m2 - path[_M2]) * _MATCH_UNIT + m[_DIST]
                    if path[_LAST_END] != -1 and m[_MSTART] != path[_LAST_END]:
                        key += _CHUNK_UNIT
                    path[_KEY] = key
                    path[_M1] = m1
                    path[_M2] = m2
                    path[_IDX] = m[_START] + m[_LEN]
                    path[_LAST_END] = m[_MSTART] + m[_MLEN]
                    append(path)
                continue
            for m in row:
                if path[_USED2] & m[_MASK2] or path[_USED1] & m[_MASK1]:
                    continue
                chosen = path[_MATCHES].copy()
                chosen[current] = m
                m1 = int(path[_M1] + m[_W1])
                m2 = int(path[_M2] + m[_W2])
                key = path[_KEY] - (m1 - path[_M1] + m2 - path[_M2]) * _MATCH_UNIT
                last_end = path[_LAST_END]
                if last_end != -1 and m[_MSTART] != last_end:
                    key += _CHUNK_UNIT
                append(
                    [
                        key,
                        m1,
                        m2,
                        m[_START] + m[_LEN],
                        m[_MSTART] + m[_MLEN],
                        path[_USED1] | m[_MASK1],
                        path[_USED2] | m[_MASK2],
                        chosen,
                    ]
                )
                path[_KEY] += m[_DIST]  # sic: the jar adds the distance to the parent path
            if path[_LAST_END] != -1:
                path[_KEY] += _CHUNK_UNIT
                path[_LAST_END] = -1
            path[_IDX] += 1
            append(path)
        if not next_paths:
            next_paths.append(paths[0])
    if len(next_paths) > 1:
        next_paths.sort(key=_by_key)
    return next_paths[0]


def _count_chunks(chosen: list) -> int:
    """getCountAndChunks's chunk count over the best alignment."""
    chunks, idx, last_end, n = 0, 0, -1, len(chosen)
    while idx < n:
        m = chosen[idx]
        if m is None:
            if last_end != -1:
                chunks += 1
                last_end = -1
            idx += 1
        else:
            if last_end != -1 and m[_MSTART] != last_end:
                chunks += 1
            if m[_LEN] == 0:
                raise AlignmentError(
                    "an empty paraphrase match ended the alignment (the jar loops)"
                )
            idx = m[_START] + m[_LEN]
            last_end = m[_MSTART] + m[_MLEN]
    if last_end != -1:
        chunks += 1
    return chunks


def _align(hyp: _Hypothesis, ref: _Line) -> tuple:
    """The jar's MeteorStats of (hypothesis, reference) as a tuple of 23 ints (toString order)."""
    n1, n2 = len(hyp.ids), len(ref.ids)
    matches, cov1, cov2 = _stage(hyp, ref)
    chosen = [None] * n2
    used1 = used2 = 0
    ambiguous = False
    for j, row in enumerate(matches):
        if not row:
            continue
        if len(row) == 1:
            m = row[0]
            if (
                cov2[j] == 1 and cov1[m[_MSTART]] == 1
                if m[_LEN] == 1 and m[_MLEN] == 1
                else all(cov2[j + k] == 1 for k in range(m[_LEN]))
                and all(cov1[m[_MSTART] + k] == 1 for k in range(m[_MLEN]))
            ):
                chosen[j] = m
                used1 |= m[_MASK1]
                used2 |= m[_MASK2]
                if not m[_LEN] or not m[_MLEN]:
                    ambiguous = True  # an empty-side match: let the literal search handle it
                continue
        ambiguous = True
    if ambiguous:
        best = _resolve(matches, [0, 0, 0, 0, -1, used1, used2, chosen])[_MATCHES]
    else:
        # Only fixed matches: the search has one path and ends with exactly these.
        best = chosen
    counts = [0] * (4 * MODULES)  # per module: test content, ref content, test func, ref func
    is_f1, is_f2 = hyp.is_function, ref.is_function
    for m in best:
        if m is not None:
            base = 4 * m[_MODULE]
            if m[_LEN] == 1 and m[_MLEN] == 1:
                counts[base + (2 if is_f1[m[_MSTART]] else 0)] += 1
                counts[base + (3 if is_f2[m[_START]] else 1)] += 1
                continue
            for k in range(m[_MSTART], m[_MSTART] + m[_MLEN]):
                counts[base + (2 if is_f1[k] else 0)] += 1
            for k in range(m[_START], m[_START] + m[_LEN]):
                counts[base + (3 if is_f2[k] else 1)] += 1
    test_matches = sum(counts[0::4]) + sum(counts[2::4])
    ref_matches = sum(counts[1::4]) + sum(counts[3::4])
    return (
        n1,
        n2,
        hyp.function_count,
        ref.function_count,
        *counts,
        _count_chunks(best),
        test_matches,
        ref_matches,
    )


def fmean_and_fragmentation(stats: Sequence[float]) -> tuple[float, float]:
    """MeteorScorer.computeMetrics up to pow, in the jar's order of operations: (F-mean, the
    fragmentation that Math.pow raises to BETA)."""
    tl, rl, tf, rf = stats[0], stats[1], stats[2], stats[3]
    chunks, twm, rwm = stats[20], stats[21], stats[22]
    w0, w1, w2, w3 = SCORE_WEIGHTS
    fd = 1.0 - DELTA
    # Sums in the jar's order: content matches of each module, then function-word matches.
    tw = 0.0 + stats[4] * w0 * DELTA
    tw = tw + stats[8] * w1 * DELTA
    tw = tw + stats[12] * w2 * DELTA
    tw = tw + stats[16] * w3 * DELTA
    rw = 0.0 + stats[5] * w0 * DELTA
    rw = rw + stats[9] * w1 * DELTA
    rw = rw + stats[13] * w2 * DELTA
    rw = rw + stats[17] * w3 * DELTA
    tw = tw + stats[6] * w0 * fd
    tw = tw + stats[10] * w1 * fd
    tw = tw + stats[14] * w2 * fd
    tw = tw + stats[18] * w3 * fd
    rw = rw + stats[7] * w0 * fd
    rw = rw + stats[11] * w1 * fd
    rw = rw + stats[15] * w2 * fd
    rw = rw + stats[19] * w3 * fd
    twl = DELTA * (tl - tf) + (1.0 - DELTA) * tf
    rwl = DELTA * (rl - rf) + (1.0 - DELTA) * rf
    try:
        precision = tw / twl
    except ZeroDivisionError:
        precision = math.nan if tw == 0 else math.copysign(math.inf, tw)
    try:
        recall = rw / rwl
    except ZeroDivisionError:
        recall = math.nan if rw == 0 else math.copysign(math.inf, rw)
    fmean = _java_div(1.0, _java_div(1.0 - ALPHA, precision) + _java_div(ALPHA, recall))
    total_t = stats[4] + stats[6] + stats[8] + stats[10] + stats[12] + stats[14] + stats[16]
    total_r = stats[5] + stats[7] + stats[9] + stats[11] + stats[13] + stats[15] + stats[17]
    if total_t + stats[18] == tl and total_r + stats[19] == rl and chunks == 1:
        frag = 0.0
    else:
        frag = _java_div(float(chunks), (float(twm) + float(rwm)) / 2)
    return fmean, frag


def score_from(fmean: float, factor: float) -> float:
    """The end of computeMetrics: fMean * (1.0 - fragPenalty), NaN -> 0, Math.max(score, 0.0)
    (-0.0 and negatives become 0.0), for `factor` = 1.0 - fragPenalty."""
    score = fmean * factor
    if math.isnan(score):
        return 0.0
    return max(0.0, score)


def approximate_score(stats: Sequence[float]) -> tuple[float, bool]:
    """computeMetrics with Python's pow (Java's Math.pow can differ in the last bit: see
    meteor_port.py for the exact scores).

    Returns:
        (score, exact): `exact` when the score cannot depend on pow's last bit (pow of 0 or 1,
        or an F-mean of 0 or NaN), so it is the jar's.
    """
    fmean, frag = fmean_and_fragmentation(stats)
    exact = frag == 0.0 or frag == 1.0 or fmean == 0.0 or math.isnan(fmean) or math.isnan(frag)
    penalty = GAMMA * (math.nan if math.isnan(frag) else math.pow(frag, BETA))
    return score_from(fmean, 1.0 - penalty), exact


def _java_div(a: float, b: float) -> float:
    """a / b with IEEE semantics (Java's): x/0 is +-inf, 0/0 and nan are nan."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def score_hypothesis(hypothesis: Sequence[int], references: Sequence[Sequence[int]]) -> list:
    """The jar's statistics (23-int tuples) of one hypothesis against each reference."""
    hyp = _Hypothesis(tuple(hypothesis))
    return [_align(hyp, _Line(tuple(ref))) for ref in references]


# References whose approximate scores are this close to the best are decided by the jar.
TIE_TOLERANCE = 1e-12


def choose_reference(stats_list: Sequence[tuple]) -> tuple:
    """The statistics getMeteorStats keeps (the first reference with the highest score, by
    `curStats.score > stats.score`), decided with approximate_score where that is safe.

    Returns:
        (statistics, score, exact) when decided; (None, candidates, False) when references
        with different statistics come within TIE_TOLERANCE of the best and a last-bit
        difference of pow could decide: `candidates` are their statistics in reference order
        (the jar must score them).
    """
    scored = [approximate_score(s) for s in stats_list]
    best = max(s for s, _ in scored)
    near = [i for i, (s, _) in enumerate(scored) if s >= best - TIE_TOLERANCE]
    first = near[0]
    if all(stats_list[i] == stats_list[first] for i in near):
        return stats_list[first], scored[first][0], scored[first][1]
    if all(scored[i][1] for i in near):
        # Scores the jar computes identically: the first of the best wins.
        i = next(i for i in near if scored[i][0] == best)
        return stats_list[i], best, True
    return None, [stats_list[i] for i in near], False


def score_chunk(items: Sequence[tuple]) -> list:
    """choose_reference(score_hypothesis(...)) over (hypothesis, references) items (a worker
    process's unit of work)."""
    return [choose_reference(score_hypothesis(h, refs)) for h, refs in items]
