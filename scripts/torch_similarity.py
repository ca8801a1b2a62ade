#!/usr/bin/env python3
"""Reproduce `siamese compare` in PyTorch from a checkpoint written by `siamese train`.

    python3 scripts/torch_similarity.py runs/mnist/best.safetensors a.png b.png

Needs torch, safetensors, numpy and pillow (none of them is needed by the Rust project).
The checkpoint uses PyTorch's names and layouts, so the network below is plain PyTorch:
conv weight [out, in, kh, kw], linear weight [out, in], BatchNorm running statistics.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file


def main(ckpt, a_path, b_path):
    t = load_file(ckpt)
    with safe_open(ckpt, "pt") as f:
        cfg = json.loads(f.metadata()["model"])
    act = F.relu if cfg["activation"] == "relu" else torch.tanh
    pool = F.max_pool2d if cfg["pooling"] == "max" else F.avg_pool2d

    def subnet(x):
        x = pool(act(F.conv2d(x, t["subnet.conv1.weight"], t["subnet.conv1.bias"], padding=cfg["pad1"])), 2)
        x = pool(act(F.conv2d(x, t["subnet.conv2.weight"], t["subnet.conv2.bias"])), 2)
        x = torch.flatten(x, 1)
        x = act(F.linear(x, t["subnet.fc1.weight"], t["subnet.fc1.bias"]))
        x = act(F.linear(x, t["subnet.fc2.weight"], t["subnet.fc2.bias"]))
        x = F.linear(x, t["subnet.fc3.weight"], t["subnet.fc3.bias"])
        return torch.tanh(x) if cfg["embedding_activation"] == "tanh" else x

    def load(path):
        img = Image.open(path).convert("L" if cfg["channels"] == 1 else "RGB")
        img = img.resize((cfg["width"], cfg["height"]), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
        return x[None, None] if cfg["channels"] == 1 else x.permute(2, 0, 1)[None]

    ea, eb = subnet(load(a_path)), subnet(load(b_path))
    if cfg["distance"] == "euclidean":
        d = torch.sqrt(torch.clamp(((ea - eb) ** 2).sum(1, keepdim=True), min=1e-7))
    else:
        d = F.cosine_similarity(ea, eb, eps=1e-7)[:, None]
    # BatchNorm1d(1) in evaluation mode, eps 1e-3 (Keras), then Dense(1) and the sigmoid.
    d = F.batch_norm(d, t["head.bn.running_mean"], t["head.bn.running_var"],
                     t["head.bn.weight"], t["head.bn.bias"], training=False, eps=1e-3)
    s = torch.sigmoid(F.linear(d, t["head.fc.weight"], t["head.fc.bias"]))
    print(f"similarity {s.item():.6f}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
