"""Reference timings for `just bench-ref`: the same softmax regression (784 or 3072 -> 10, and
12288 -> 1000 on the synthetic 64 x 64 ImageNet archives that `just bench` writes; SGD, batch 128,
inputs scaled to [0, 1], shuffled each epoch) in NumPy and, when it is installed, in PyTorch.
Prints one line per measurement in the format of `linclass bench`:

    BENCH backend=<b> dataset=<d> batch=<n> epoch_s=<x> train_img_s=<t> infer_img_s=<y> load_s=<z> peak_rss_mb=<m> anon_peak_mb=<a>

MNIST runs at each of --batches (128, 1 and full by default; 3 epochs at batch 1); the others at 128.

(anon_peak_mb is the anonymous memory at the end: the data, read into memory, included.)
"""

import argparse
import gzip
import os
import resource
import statistics
import struct
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist():
    d = os.path.join(ROOT, "data", "mnist")
    x = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(60000, -1)
    y = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xt = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).reshape(10000, -1)
    return x, y, xt


def load_cifar10():
    """The real binary files if present, else random pixels of the same shapes."""
    d = os.path.join(ROOT, "data", "cifar10", "cifar-10-batches-bin")
    names = [f"data_batch_{i}.bin" for i in range(1, 6)]
    if all(os.path.exists(os.path.join(d, n)) for n in names):
        recs = np.concatenate([np.fromfile(os.path.join(d, n), dtype=np.uint8).reshape(-1, 3073) for n in names])
        test = np.fromfile(os.path.join(d, "test_batch.bin"), dtype=np.uint8).reshape(-1, 3073)
        return recs[:, 1:], recs[:, 0].astype(np.int64), test[:, 1:], "cifar10"
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, size=(50000, 3072), dtype=np.uint8)
    y = rng.integers(0, 10, size=50000).astype(np.int64)
    xt = rng.integers(0, 256, size=(10000, 3072), dtype=np.uint8)
    return x, y, xt, "cifar10-synthetic"


def load_imagenet64_synthetic():
    """The archives `linclass bench --synthetic` wrote (bench-out/imagenet64-synthetic), the
    first 99% of the training images as linclass trains on (valid_fraction 0.01)."""
    d = os.path.join(ROOT, "bench-out", "imagenet64-synthetic")
    if not os.path.exists(os.path.join(d, "SYNTHETIC.txt")):
        return None
    xs, ys = [], []
    for i in range(1, 11):
        z = np.load(os.path.join(d, f"train_data_batch_{i}.npz"))
        xs.append(z["data"])
        ys.append(z["labels"])
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.int64) - 1
    keep = len(x) - len(x) // 100
    xt = np.load(os.path.join(d, "val_data.npz"))["data"]
    return x[:keep], y[:keep], xt


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def anon_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def numpy_run(x_u8, y, xt_u8, epochs, batch, lr, classes):
    n, d = x_u8.shape
    w = np.zeros((d, classes), dtype=np.float32)
    b = np.zeros(classes, dtype=np.float32)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = rng.permutation(n)
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            xb = x_u8[idx].astype(np.float32) / 255.0
            s = xb @ w + b
            s -= s.max(axis=1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1.0
            p /= len(idx)
            w -= lr * (xb.T @ p)
            b -= lr * p.sum(axis=0)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(xt_u8), 1024):
        (xt_u8[i : i + 1024].astype(np.float32) / 255.0) @ w + b
    infer = len(xt_u8) / (time.perf_counter() - start)
    return statistics.median(times[1:] or times), infer


def torch_run(x_u8, y, xt_u8, epochs, batch, lr, classes):
    import torch

    torch.manual_seed(0)
    x = torch.from_numpy(np.ascontiguousarray(x_u8))
    yt = torch.from_numpy(y)
    model = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            xb = x[idx].float() / 255.0
            opt.zero_grad()
            loss_fn(model(xb), yt[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - start)
    xt = torch.from_numpy(np.ascontiguousarray(xt_u8))
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(xt), 1024):
            model(xt[i : i + 1024].float() / 255.0)
    infer = len(xt) / (time.perf_counter() - start)
    return statistics.median(times[1:] or times), infer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=11)
    ap.add_argument("--batches", default="128,1,full", help="MNIST's batch sizes: numbers or full")
    args = ap.parse_args()
    for dataset in ["mnist", "cifar10", "imagenet64"]:
        start = time.perf_counter()
        classes, epochs = 10, args.epochs
        if dataset == "mnist":
            x, y, xt = load_mnist()
            name, lr = "mnist", 0.5
        elif dataset == "cifar10":
            x, y, xt, name = load_cifar10()
            lr = 0.01
        else:
            loaded = load_imagenet64_synthetic()
            if loaded is None:
                print("bench-out/imagenet64-synthetic is missing: run `just bench` first", file=sys.stderr)
                continue
            x, y, xt = loaded
            name, lr, classes, epochs = "imagenet64-synthetic", 0.002, 1000, 3
        load_s = time.perf_counter() - start
        runs = [("numpy", numpy_run)]
        try:
            import torch  # noqa: F401

            runs.append(("pytorch", torch_run))
        except ImportError:
            print("pytorch is not installed: only the NumPy reference runs", file=sys.stderr)
        batches = args.batches.split(",") if dataset == "mnist" else ["128"]
        for backend, fn in runs:
            for batch in batches:
                size = len(x) if batch == "full" else int(batch)
                n_epochs = 3 if size == 1 else epochs
                epoch_s, infer = fn(x, y, xt, n_epochs, size, lr, classes)
                print(
                    f"BENCH backend={backend} dataset={name} batch={batch} epoch_s={epoch_s:.4f} "
                    f"train_img_s={len(x) / epoch_s:.0f} infer_img_s={infer:.0f} load_s={load_s:.3f} "
                    f"peak_rss_mb={peak_rss_mb():.1f} anon_peak_mb={anon_mb():.1f}",
                    flush=True,
                )

if __name__ == "__main__":
    main()
