"""Training speed, meanet against PyTorch on the same CPU (issue 30's table, first rows).

The `small` preset's main block and cloud model (the reference networks) trained with the same
recipe in both: 3x3 stem, basic residual blocks with batch norm, global average pooling and a
linear classifier; AdamW (lr 3e-3, weight decay 1e-4) with cosine decay to 5%, batch 128,
2-pixel shifts and horizontal flips; the first `--samples` Fashion-MNIST training images. meanet
runs `meanet train --stage main|cloud` (its own data pipeline, validation and export are not
timed: the epoch times come from train.log); PyTorch runs the same epochs on tensors in memory,
with `--threads` threads (default 2, this machine's cores).

  train_speed.py --meanet BIN --data DIR [--candidate DEVICE=BIN ...] [--samples 2700]
      [--epochs 2] [--threads 2] [--out DIR]

`--candidate ndarray=target/release/meanet` adds a column for `meanet train --device ndarray`
(built with the cargo feature of that backend: ndarray, tch for libtorch).

Needs the PyTorch wheel (`pip install torch`, about 3 GB with its CUDA libraries; CPU is
enough). Not run in CI.
"""

import argparse
import gzip
import math
import os
import re
import struct
import subprocess
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# (stem channels, [(channels, stride), ...]) of the `small` preset (crates/meanet-train/src/nets/presets.rs).
SMALL = {
    "main": (8, [(8, 1), (16, 2), (32, 2)]),
    "cloud": (32, [(64, 2), (128, 2)]),
}


class ConvBn(nn.Sequential):
    def __init__(self, cin, cout, k, stride):
        super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Basic(nn.Module):
    """conv3x3-BN-ReLU, conv3x3-BN, plus the input (a 1x1 conv-BN when the shape changes), ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = ConvBn(cin, cout, 3, stride)
        self.b = ConvBn(cout, cout, 3, 1)
        self.short = ConvBn(cin, cout, 1, stride) if (cin != cout or stride != 1) else None

    def forward(self, x):
        y = self.b(F.relu(self.a(x)))
        return F.relu(y + (self.short(x) if self.short is not None else x))


class Net(nn.Module):
    def __init__(self, cin, stem, blocks, classes):
        super().__init__()
        layers = [ConvBn(cin, stem, 3, 1), nn.ReLU()]
        c = stem
        for out, stride in blocks:
            layers.append(Basic(c, out, stride))
            c = out
        self.trunk = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(self.trunk(x).mean(dim=(2, 3)))


def idx(path):
    data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return shape, data[4 + 4 * dims :]


def find(data, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(data, name)):
            return os.path.join(data, name)
    raise SystemExit(f"{data}: no {stem}[.gz]")


def torch_epochs(net, x, y, epochs, batch=128):
    """Seconds per epoch of meanet's recipe on `net`."""
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = math.ceil(len(x) / batch) * epochs
    step, times = 0, []
    g = torch.Generator().manual_seed(20211)
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            b = order[i : i + batch]
            xb = x[b]
            # 2-pixel shifts and horizontal flips, as meanet's augmentation.
            xb = F.pad(xb, (2, 2, 2, 2))
            dx, dy = torch.randint(0, 5, (2,), generator=g).tolist()
            xb = xb[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]
            if torch.rand(1, generator=g).item() < 0.5:
                xb = xb.flip(3)
            lr = 3e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
            for group in opt.param_groups:
                group["lr"] = lr
            loss = F.cross_entropy(net(xb), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        times.append(time.perf_counter() - t0)
    return times


def meanet_epochs(meanet, data, stage, samples, epochs, out, device="flex"):
    """Seconds per epoch of `meanet train --stage STAGE`, from its train.log."""
    bundle = os.path.join(out, f"bundle-{stage}-{device}")
    flag = {"main": "--epochs-main", "cloud": "--epochs-cloud"}[stage]
    # meanet holds out a tenth of what it reads for validation: read enough to train on
    # `samples`.
    limit = math.ceil(samples / 0.9)
    cmd = [meanet, "train", "--data", data, "--preset", "small", "--stage", stage,
           "--limit-train", str(limit), flag, str(epochs), "--out", bundle, "--quiet",
           "--device", device]
    if os.path.exists(bundle):
        cmd.append("--force")
    subprocess.run(cmd, check=True)
    log = open(os.path.join(bundle, "train.log")).read()
    return [float(s) for s in re.findall(rf"stage={stage} epoch=\d+ .*secs=([0-9.]+)", log)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--meanet", required=True)
    p.add_argument("--data", required=True, help="Fashion-MNIST's IDX files")
    p.add_argument("--samples", type=int, default=2700)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None)
    p.add_argument("--candidate", action="append", default=[], help="DEVICE=BIN")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(20211)
    out = a.out or tempfile.mkdtemp(prefix="meanet-train-speed-")
    (n, h, w), pixels = idx(find(a.data, "train-images-idx3-ubyte"))
    _, labels = idx(find(a.data, "train-labels-idx1-ubyte"))
    k = min(a.samples, n)
    x = torch.frombuffer(bytearray(pixels[: k * h * w]), dtype=torch.uint8).float().div(255.0)
    x = ((x - x.mean()) / x.std()).reshape(k, 1, h, w)
    y = torch.tensor(list(labels[:k]), dtype=torch.long)
    print(f"torch {torch.__version__}, {a.threads} threads; {k} samples, {a.epochs} epochs, batch 128")
    cands = [c.split("=", 1) for c in a.candidate]
    head = "| network | PyTorch s | meanet flex s | flex / PyTorch |"
    head += "".join(f" {d} s | {d} / PyTorch |" for d, _ in cands)
    print(head)
    print("|---" * (4 + 2 * len(cands)) + "|")
    for stage, (stem, blocks) in SMALL.items():
        pt = sum(torch_epochs(Net(1, stem, blocks, 10), x, y, a.epochs))
        mn = sum(meanet_epochs(a.meanet, a.data, stage, k, a.epochs, out))
        row = f"| small {stage} | {pt:.1f} | {mn:.1f} | {mn / pt:.2f}x |"
        for d, binary in cands:
            c = sum(meanet_epochs(binary, a.data, stage, k, a.epochs, out, d))
            row += f" {c:.1f} | {c / pt:.2f}x |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
