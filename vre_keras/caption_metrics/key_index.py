"""Exact membership lookup of int64 keys, vectorised: a numpy hash table with verification.

np.searchsorted over a few hundred thousand unsorted queries is a cache-missing binary search
(tens of ms at MSR-VTT scale); here each query is one multiply, one gather from a table that fits
in cache, and one comparison with the stored key. The comparison makes the answer exact: a hash
collision can only cost a level, never give a wrong position. Keys that collide with an earlier
key in one level's table go to the next level (a different multiplier); after a few levels the
rest (none in practice) are found by searchsorted.
"""

import numpy as np

# Odd 64-bit multipliers (golden-ratio and other well-mixing constants), one per level.
_MULTIPLIERS = tuple(
    np.uint64(m)
    for m in (
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
    )
)
_MIN_BITS = 10
_LOAD = 8  # table slots per key: few collisions, and the table stays cache-sized


def _slots(keys: np.ndarray, multiplier: np.uint64, shift: np.uint64) -> np.ndarray:
    """Multiplicative hashing: the top bits of key * multiplier (mod 2**64), as indices."""
    slots = keys.view(np.uint64) * multiplier
    slots >>= shift
    return slots.view(np.intp)  # < 2**bits, so the same bits read as non-negative indices


def find(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Position in `keys` of each query, -1 where absent.

    Args:
        keys: int64 [K] distinct keys (any order).
        query: int64 [Q] keys to find.

    Returns:
        int64 [Q].
    """
    keys = np.asarray(keys, dtype=np.int64)
    query = np.asarray(query, dtype=np.int64)
    out = np.full(len(query), -1, dtype=np.int64)
    if len(keys) == 0 or len(query) == 0:
        return out
    bits = max(_MIN_BITS, int(len(keys) * _LOAD).bit_length())
    shift = np.uint64(64 - bits)
    remaining = np.arange(len(keys), dtype=np.int64)
    pending = None  # the queries that may still be found (None: all)
    for multiplier in _MULTIPLIERS:
        taken, first, collided = np.unique(
            _slots(keys[remaining], multiplier, shift), return_index=True, return_counts=True
        )
        table = np.full(1 << bits, -1, dtype=np.int64)
        table[taken] = remaining[first]
        asked = query if pending is None else query[pending]
        query_slots = _slots(asked, multiplier, shift)
        candidate = table[query_slots]
        hit = keys[candidate] == asked  # candidate -1 reads the last key: masked just below
        hit &= candidate >= 0
        if pending is None:
            np.copyto(out, candidate, where=hit)
        else:
            out[pending[hit]] = candidate[hit]
        placed = np.zeros(len(remaining), dtype=bool)
        placed[first] = True
        remaining = remaining[~placed]
        if len(remaining) == 0:
            return out
        # Only a query whose slot held several keys can be one of the keys left for later levels.
        overflow = np.zeros(1 << bits, dtype=bool)
        overflow[taken[collided > 1]] = True
        again = np.flatnonzero(~hit & overflow[query_slots])
        pending = again if pending is None else pending[again]
    # Keys that collided in every level (adversarial input): plain binary search for them.
    order = np.argsort(keys[remaining])
    rest = keys[remaining][order]
    asked = query if pending is None else query[pending]
    idx = np.minimum(np.searchsorted(rest, asked), len(rest) - 1)
    hit = rest[idx] == asked
    out[np.flatnonzero(hit) if pending is None else pending[hit]] = remaining[order][idx[hit]]
    return out


def group_ids(keys: np.ndarray) -> np.ndarray:
    """For each key, the position of one key equal to it: equal keys get the same id, different
    keys different ids (ids < len(keys)), without sorting.

    Each level scatters the unresolved positions into a hash table (whichever lands last in a
    slot represents it); a position whose key equals its slot's representative's is resolved.
    All copies of one key share a slot, so they resolve together, at the same level, to the same
    representative; every occupied slot resolves at least its representative's key.

    Args:
        keys: int64 [N].

    Returns:
        int64 [N].
    """
    keys = np.asarray(keys, dtype=np.int64)
    ids = np.empty(len(keys), dtype=np.int64)
    pending = np.arange(len(keys), dtype=np.int64)
    bits = max(_MIN_BITS, len(keys).bit_length())
    shift = np.uint64(64 - bits)
    level = 0
    while len(pending):
        multiplier = _MULTIPLIERS[level % len(_MULTIPLIERS)] + np.uint64(2 * (level // 4))
        level += 1
        asked = keys[pending]
        slots = _slots(asked, multiplier, shift)
        table = np.empty(1 << bits, dtype=np.int64)
        table[slots] = pending
        representative = table[slots]
        same = keys[representative] == asked
        ids[pending[same]] = representative[same]
        pending = pending[~same]
    return ids
