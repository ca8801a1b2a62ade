#!/usr/bin/env python3
"""The pair list of docs/images.md's speed figure: MNIST's 10,000 test images as PNG files
(OUT/img/NNNNN.png) and OUT/pairs.csv, 100,000 labelled pairs of them (every other pair drawn
from the anchor's class, the rest at random; Python's random, seed 0). Standard library only.

    python3 scripts/mnist_pair_list.py DATA_DIR/mnist OUT
"""
import gzip
import os
import random
import struct
import sys
import zlib


def png(path, px, w, h):
    """An 8-bit gray PNG of the w*h bytes px."""
    raw = b"".join(b"\x00" + px[r * w:(r + 1) * w] for r in range(h))

    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main(root, out, pairs=100_000):
    images = gzip.open(os.path.join(root, "t10k-images-idx3-ubyte.gz")).read()[16:]
    labels = gzip.open(os.path.join(root, "t10k-labels-idx1-ubyte.gz")).read()[8:]
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    for i in range(len(labels)):
        png(os.path.join(out, "img", f"{i:05d}.png"), images[i * 784:(i + 1) * 784], 28, 28)
    rng = random.Random(0)
    by_class = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    with open(os.path.join(out, "pairs.csv"), "w") as f:
        f.write("path_a,path_b,label\n")
        for k in range(pairs):
            a = rng.randrange(len(labels))
            b = rng.choice(by_class[labels[a]]) if k % 2 == 0 else rng.randrange(len(labels))
            f.write(f"img/{a:05d}.png,img/{b:05d}.png,{int(labels[a] == labels[b])}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
