"""The paper's ImageNet configuration from torchvision, as a meanet bundle.

MobileNetV2 main block (logits and its 1280-channel last feature map), the adaptive and
extension blocks (MobileNetV2's parts, as meanet's `mobilenetv2` preset builds them), and a
ResNet-50 cloud, exported to ONNX with a dynamic batch, with the `meanet.toml` that
`meanet calibrate --validation` and `meanet eval` read.

On a GPU cluster, train the networks with torchrun/DDP as usual (or start from torchvision's
ImageNet weights: --pretrained), then run this with --epochs 0 and --checkpoint-dir to load them.
Here, --epochs N trains each network N epochs on one process (CPU is fine for a small folder):
the main block on all classes; the hard classes are the worst half by the main block's recall
on a held-out part of train/ (MEANET.md, step 3); then A + X on the hard classes with the main
block frozen; and the cloud.

    python scripts/py/torchvision_bundle.py --data /data/imagenet --out bundles/imagenet \
        --epochs 0 --pretrained
    meanet calibrate bundles/imagenet --validation /data/imagenet/val --target offload=0.2
    meanet eval bundles/imagenet
"""

import argparse
import json
import math
import os
import time

import torch
import torchvision
from torch import nn
from torchvision import transforms
from torchvision.models.mobilenetv2 import InvertedResidual

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class Main(nn.Module):
    """MobileNetV2: (logits, features). `features` ends with the 1x1 conv to 1280 + BN + ReLU6."""

    def __init__(self, classes, pretrained):
        super().__init__()
        weights = "IMAGENET1K_V2" if pretrained else None
        m = torchvision.models.mobilenet_v2(weights=weights)
        if classes != 1000:
            m.classifier[1] = nn.Linear(1280, classes)
        self.features, self.classifier = m.features, m.classifier

    def forward(self, x):
        f = self.features(x)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1)), f


class Extension(nn.Module):
    """A + X: A runs from the raw input to F_M's size (a 16-channel 3x3 stem with stride 2 and
    four inverted residual blocks with stride 2 and expansion 3, to 96 channels); X runs on
    concat(F_M, F_A): a depthwise-separable block to 320 channels and an inverted residual block
    at 320 (expansion 6), then the classifier over the hard classes."""

    def __init__(self, hard):
        super().__init__()
        stem = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(inplace=True)
        )
        blocks, c = [], 16
        for out in [24, 32, 64, 96]:
            blocks.append(InvertedResidual(c, out, 2, 3))
            c = out
        self.adaptive = nn.Sequential(stem, *blocks)
        self.extension = nn.Sequential(
            InvertedResidual(1280 + 96, 320, 1, 1), InvertedResidual(320, 320, 1, 6)
        )
        self.fc = nn.Linear(320, hard)

    def forward(self, x, features):
        y = self.extension(torch.cat([features, self.adaptive(x)], 1))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def loaders(root, size, batch, seed):
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    eval_tf = transforms.Compose([
        transforms.Resize(size * 256 // 224), transforms.CenterCrop(size),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    train = torchvision.datasets.ImageFolder(os.path.join(root, "train"), train_tf)
    held = torchvision.datasets.ImageFolder(os.path.join(root, "train"), eval_tf)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=g).tolist()
    cut = max(1, len(order) // 10)
    val_idx, train_idx = order[:cut], order[cut:]
    workers = min(8, os.cpu_count() or 1)
    load = lambda ds, idx, shuffle: torch.utils.data.DataLoader(
        torch.utils.data.Subset(ds, idx), batch_size=batch, shuffle=shuffle, num_workers=workers)
    return train.classes, train.targets, train_idx, val_idx, load(train, train_idx, True), \
        load(held, val_idx, False), (lambda idx: load(train, idx, True))


def fit(model, data, epochs, forward, target, what):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    for epoch in range(epochs):
        model.train()
        start, seen, loss_sum = time.time(), 0, 0.0
        for x, y in data:
            loss = nn.functional.cross_entropy(forward(x), target(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
        secs = time.time() - start
        print(f"{what} epoch {epoch + 1}: loss {loss_sum / max(seen, 1):.3f}, {seen} images in "
              f"{secs:.1f} s ({1000 * secs / max(seen, 1):.0f} s per 1,000)")


def export(model, inputs, path, input_names, output_names):
    model.eval()
    axes = {n: {0: "N"} for n in input_names + output_names}
    torch.onnx.export(model, inputs, path, input_names=input_names, output_names=output_names,
                      dynamic_axes=axes, opset_version=17, dynamo=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="class folders: DATA/train/<class>/, DATA/val/<class>/")
    ap.add_argument("--out", required=True, help="the bundle directory to write")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--epochs", type=int, default=1, help="epochs per network here (0: none)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--hard-fraction", type=float, default=0.5)
    ap.add_argument("--pretrained", action="store_true", help="torchvision's ImageNet weights (needs their download)")
    ap.add_argument("--checkpoint-dir", help="main.pt, extension.pt, cloud.pt (state dicts) to load")
    ap.add_argument("--seed", type=int, default=20211)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    classes, targets, train_idx, val_idx, train, held, subset = loaders(
        a.data, a.image_size, a.batch_size, a.seed)
    n_classes = len(classes)
    hard_count = min(n_classes - 1, max(1, round(n_classes * a.hard_fraction)))
    main_net = Main(n_classes, a.pretrained)
    cloud = torchvision.models.resnet50(weights="IMAGENET1K_V2" if a.pretrained else None)
    if n_classes != 1000:
        cloud.fc = nn.Linear(2048, n_classes)
    ckpt = lambda name: a.checkpoint_dir and os.path.join(a.checkpoint_dir, f"{name}.pt")
    if ckpt("main") and os.path.exists(ckpt("main")):
        main_net.load_state_dict(torch.load(ckpt("main")))
    fit(main_net, train, a.epochs, lambda x: main_net(x)[0], lambda y: y, "main")

    # The hard classes: the worst by the main block's recall on the held-out part of train/.
    main_net.eval()
    hits, counts = [0] * n_classes, [0] * n_classes
    with torch.no_grad():
        for x, y in held:
            pred = main_net(x)[0].argmax(1)
            for p, t in zip(pred.tolist(), y.tolist()):
                counts[t] += 1
                hits[t] += int(p == t)
    recall = [h / c if c else 0.0 for h, c in zip(hits, counts)]
    hard = sorted(sorted(range(n_classes), key=lambda k: (recall[k], k))[:hard_count])
    to_hard = {k: i for i, k in enumerate(hard)}
    print(f"hard classes (worst {hard_count} by recall): {hard}")

    ext = Extension(len(hard))
    if ckpt("extension") and os.path.exists(ckpt("extension")):
        ext.load_state_dict(torch.load(ckpt("extension")))
    for p in main_net.parameters():
        p.requires_grad_(False)

    def ext_forward(x):
        with torch.no_grad():
            f = main_net(x)[1]
        return ext(x, f)

    hard_idx = [i for i in train_idx if targets[i] in to_hard]
    fit(ext, subset(hard_idx), a.epochs, ext_forward,
        lambda y: torch.tensor([to_hard[int(t)] for t in y]), "extension")
    if ckpt("cloud") and os.path.exists(ckpt("cloud")):
        cloud.load_state_dict(torch.load(ckpt("cloud")))
    fit(cloud, train, a.epochs, cloud, lambda y: y, "cloud")

    os.makedirs(a.out, exist_ok=True)
    s = a.image_size
    x = torch.zeros(2, 3, s, s)
    main_net.eval()
    with torch.no_grad():
        f = main_net(x)[1]
    export(main_net, (x,), os.path.join(a.out, "main.onnx"), ["input"], ["logits", "features"])
    export(ext, (x, f), os.path.join(a.out, "extension.onnx"), ["input", "features"], ["hard_logits"])
    export(cloud, (x,), os.path.join(a.out, "cloud.onnx"), ["input"], ["logits"])
    toml_list = lambda v: "[" + ", ".join(json.dumps(e) for e in v) + "]"
    manifest = f"""format = 1
name = {json.dumps(os.path.basename(os.path.normpath(a.out)))}
classes = {toml_list(classes)}
hard_classes = {toml_list(hard)}

[input]
shape = [3, {s}, {s}]
mean = {toml_list(MEAN)}
std = {toml_list(STD)}

[models]
main = "main.onnx"
extension = "extension.onnx"
cloud = "cloud.onnx"

[dataset]
kind = "folder"
path = {json.dumps(os.path.abspath(a.data))}
image_size = {s}
resize = "crop"
"""
    with open(os.path.join(a.out, "meanet.toml"), "w") as fh:
        fh.write(manifest)
    print(f"bundle {a.out}: {n_classes} classes, {len(hard)} hard; calibrate it with "
          f"`meanet calibrate {a.out} --validation {os.path.join(a.data, 'val')}`")


if __name__ == "__main__":
    main()
