"""Word count in the MapReduce style, as executor tasks.

    zmqmesh launch -n 4 examples/map_reduce.py [--words N] [--chunks M] [--seed S]

Rank 0 generates a corpus (N words drawn from a Zipf-like distribution over
a made-up vocabulary, deterministic in the seed) and cuts it into M chunks.
Map tasks count the words of one chunk and split the counts into R = 4
partitions by a hash of the word; reduce task r sums partition r of every
map's output, so no two reduce tasks see the same word. Rank 0 prints the
top 5 words and checks the whole count against ``collections.Counter``.
"""

import argparse
import zlib
from collections import Counter

import numpy as np

import zmqmesh

PARTITIONS = 4


def make_corpus(words: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list("aeioulnrst"))
    vocab = ["".join(rng.choice(letters, rng.integers(2, 8))) for _ in range(2000)]
    weights = 1.0 / np.arange(1, len(vocab) + 1)  # Zipf: the k-th word has weight 1/k
    picks = rng.choice(len(vocab), words, p=weights / weights.sum())
    return [vocab[i] for i in picks]


def partition(word: str) -> int:
    # crc32, not hash(): str hashes differ between processes (PYTHONHASHSEED).
    return zlib.crc32(word.encode()) % PARTITIONS


def count_chunk(text: str) -> list[dict[str, int]]:
    """Map: this chunk's word counts, split into PARTITIONS dicts."""
    parts: list[dict[str, int]] = [{} for _ in range(PARTITIONS)]
    for word, n in Counter(text.split()).items():
        parts[partition(word)][word] = n
    return parts


def merge(counts: list[dict[str, int]]) -> dict[str, int]:
    """Reduce: the sum of some word counts."""
    return dict(sum((Counter(c) for c in counts), Counter()))


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=200_000)
    parser.add_argument("--chunks", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    async with zmqmesh.Executor(comm) as ex:
        if ex is not None:
            corpus = make_corpus(args.words, args.seed)
            step = -(-len(corpus) // args.chunks)
            chunks = [" ".join(corpus[i : i + step]) for i in range(0, len(corpus), step)]
            mapped = await ex.map(count_chunk, chunks)
            # Shuffle: reduce task r gets partition r of every map output.
            shuffled = [[m[r] for m in mapped] for r in range(PARTITIONS)]
            reduced = await ex.map(merge, shuffled)
    if ex is None:
        return
    counts = Counter({w: n for part in reduced for w, n in part.items()})
    print(f"{len(corpus)} words, {len(counts)} distinct, {len(chunks)} map tasks")
    print(f"{PARTITIONS} reduce tasks on {max(1, comm.size - 1)} worker(s)")
    for word, n in counts.most_common(5):
        print(f"top {word!r} {n}")
    serial = Counter(corpus)
    if counts != serial:
        raise SystemExit("map_reduce: the counts differ from collections.Counter")
    print("counts match collections.Counter")


if __name__ == "__main__":
    zmqmesh.run(main)
