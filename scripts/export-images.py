#!/usr/bin/env python3
"""Writes a benchmark dataset out as PNG class folders (the ImageFolder layout `siamese train
--images` reads): OUT/train/<class>/<index>.png and OUT/test/<class>/<index>.png, index = the
image's position in the dataset's file. Class folders are named `<label>-<name>` (MNIST: the
digit), so that their sorted order is the label order: the folder's labels, and the order of
each class's images, are the IDX/CIFAR files' (a checkpoint's one-shot episodes on the
folder's test part are then the same as on the IDX test set).

    python3 scripts/export-images.py fashion-mnist DATA_ROOT OUT [--limit N]
    python3 scripts/export-images.py cifar-10 DATA_ROOT OUT

DATA_ROOT holds mnist/, fashion-mnist/ or cifar-10/ (as `--data-dir`). Python's standard
library only (zlib for PNG and gzip). OUT must not exist yet (nothing is overwritten).
"""
import argparse
import gzip
import os
import struct
import sys
import zlib

NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "cifar-10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"],
}


def png(width, height, channels, rows):
    """A PNG file (8-bit gray or RGB, no filter) of `rows` (bytes per row)."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    color = 0 if channels == 1 else 2
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        h, w = struct.unpack(">II", data[8:16])
        return [data[16 + i * h * w:16 + (i + 1) * h * w] for i in range(n)], (1, h, w)
    return list(data[8:8 + n]), None


def find(folder, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    sys.exit(f"error: {stem}[.gz] not found in {folder}")


def idx_parts(folder):
    for part, stem in (("train", "train"), ("test", "t10k")):
        images, geometry = read_idx(find(folder, f"{stem}-images-idx3-ubyte"))
        labels, _ = read_idx(find(folder, f"{stem}-labels-idx1-ubyte"))
        yield part, images, labels, geometry


def cifar_parts(folder):
    files = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
    for part, names in files.items():
        images, labels = [], []
        for name in names:
            data = open(os.path.join(folder, name), "rb").read()
            for r in range(len(data) // 3073):
                rec = data[r * 3073:(r + 1) * 3073]
                labels.append(rec[0])
                images.append(rec[1:])
        yield part, images, labels, (3, 32, 32)


def rows_of(image, geometry):
    c, h, w = geometry
    if c == 1:
        return [image[y * w:(y + 1) * w] for y in range(h)]
    plane = h * w
    return [bytes(image[k * plane + y * w + x] for x in range(w) for k in range(3))
            for y in range(h)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", choices=sorted(NAMES))
    ap.add_argument("data_root")
    ap.add_argument("out")
    ap.add_argument("--limit", type=int, help="the first N images of each part only")
    a = ap.parse_args()
    if os.path.exists(a.out):
        sys.exit(f"error: {a.out} exists; give a new folder")
    folder = os.path.join(a.data_root, a.dataset)
    parts = cifar_parts(folder) if a.dataset == "cifar-10" else idx_parts(folder)
    names = [n if n.isdigit() else f"{i}-{n}" for i, n in enumerate(NAMES[a.dataset])]
    tmp = a.out + ".partial"
    for part, images, labels, geometry in parts:
        for name in names:
            os.makedirs(os.path.join(tmp, part, name), exist_ok=True)
        n = len(images) if a.limit is None else min(a.limit, len(images))
        for i in range(n):
            _, h, w = geometry
            path = os.path.join(tmp, part, names[labels[i]], f"{i:05d}.png")
            with open(path, "wb") as f:
                f.write(png(w, h, geometry[0], rows_of(images[i], geometry)))
        print(f"{part}: {n} images", file=sys.stderr)
    os.rename(tmp, a.out)
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
