# Linear image classifiers with Burn. `just --list` shows the recipes.

set positional-arguments

cargo_release := "cargo run --release -p linclass"

default:
    @just --list

# Train on a backend (cpu, ndarray or gpu): just train cpu [CONFIG] [--set key=value ...]
train backend="cpu" config="configs/mnist.toml" *args="":
    {{ if backend =~ '^(cpu|ndarray|gpu)$' { "" } else { if backend =~ '\.toml$' { error("just train: the backend comes first, then the config: just train cpu " + backend) } else { error("just train: '" + backend + "' is not a backend (cpu, ndarray or gpu): just train cpu configs/mnist.toml") } } }}{{cargo_release}} --features {{backend}} -- --backend {{backend}} train --config {{config}} {{args}}

# Continue an interrupted run from its last checkpoint: just resume RUN [BACKEND]
resume run backend="cpu":
    {{ if backend =~ '^(cpu|ndarray|gpu)$' { "" } else { error("just resume: the backend is cpu, ndarray or gpu: just resume " + run + " cpu") } }}{{cargo_release}} --features {{backend}} -- --backend {{backend}} train --resume {{run}}

# Install the `linclass` command into ~/.cargo/bin (with the backend's feature): just install [cpu|ndarray|gpu]
install backend="cpu":
    {{ if backend =~ '^(cpu|ndarray|gpu)$' { "" } else { error("just install: the backend is cpu, ndarray or gpu") } }}cargo install --path crates/train --locked --features {{backend}}

# Evaluate a run on its test split: just eval RUN [--json]
eval run *args="":
    {{cargo_release}} -- eval {{run}} {{args}}

# Classify images with a run: just predict RUN IMAGE... [--prepare auto|digit|none] [--show-input FILE.png] [--invert] [--json]
predict run +args:
    {{cargo_release}} -- predict {{run}} {{args}}

# Serve runs over HTTP (the page at http://127.0.0.1:8080/ and the API): just serve RUN... [--addr HOST:PORT]
serve +args:
    {{cargo_release}} -- serve {{args}}

# The server under load on 127.0.0.1 (requests/s, p50/p99 latency, answers counted): just bench-serve [RUN...]
bench-serve *args="":
    {{cargo_release}} -- bench-serve {{args}}

# Class templates of a run as pictures: just templates RUN [--out DIR]
templates run *args="":
    {{cargo_release}} -- templates {{run}} {{args}}

# A run's model for other tools (safetensors, PyTorch nn.Linear's layout): just export RUN [--out FILE]
export run *args="":
    {{cargo_release}} -- export {{run}} {{args}}

# One self-contained HTML report of a run: just report RUN
report run:
    {{cargo_release}} -- report {{run}}

# Train a grid of settings: just sweep --grid optimizer.lr=0.01,0.1 --grid train.batch_size=1,128,full
sweep *args="":
    {{cargo_release}} -- sweep {{args}}

# Autodiff against finite differences: just gradcheck [CONFIG] [--set train.loss=squared_error]
gradcheck *args="":
    {{cargo_release}} -- gradcheck {{args}}

# Datasets: just data fetch cifar10 | just data info configs/cifar10.toml
data *args="":
    {{cargo_release}} -- data {{args}}

# Build and run every test (release mode: the end-to-end tests train real models)
test *args="":
    cargo build --release -p linclass --features ndarray
    cargo test --release --workspace {{args}}

# GPU-path tests on the first wgpu adapter; installs Mesa's software Vulkan driver if no Vulkan loader is present
test-gpu *args="":
    #!/usr/bin/env bash
    set -euo pipefail
    if ! ldconfig -p | grep -q libvulkan.so.1 || [ -z "$(ls /usr/share/vulkan/icd.d/ 2>/dev/null)" ]; then
        if command -v apt-get >/dev/null; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
        else
            echo "no Vulkan driver found: install one (Debian: mesa-vulkan-drivers libvulkan1)" >&2
            exit 1
        fi
    fi
    # Mesa complains on every start without a runtime dir; give it a private one.
    if [ -z "${XDG_RUNTIME_DIR:-}" ]; then export XDG_RUNTIME_DIR=$(mktemp -d); fi
    cargo build --release -p linclass --features gpu,ndarray
    cargo test --release -p linclass-tests --features gpu --test gpu {{args}}

# Seconds per epoch (median), training and inference images/s, load time, peak and anonymous
# memory for MNIST at batch 128, 1 (online SGD) and full, CIFAR-10 (random pixels in the official
# layout when its files are absent) and 1000-class 64×64 downsampled ImageNet (random archives
# written to bench-out/imagenet64-synthetic, read through the memory-mapped cache), per CPU
# backend and gradient (analytic, autodiff); then JPEG decoding into 32×32 and 64×64, full vs
# reduced-size (photo-sized JPEGs it writes)
bench *args="":
    cargo build --release -p linclass --features ndarray
    mkdir -p bench-out
    for b in cpu ndarray; do for g in analytic autodiff; do \
        run="{{cargo_release}} --features ndarray -- --backend $b bench --csv bench-out/bench.csv --set train.gradient=$g"; \
        $run --config configs/mnist.toml --set train.epochs=11 {{args}} && \
        $run --config configs/mnist.toml --set train.epochs=3 --set train.batch_size=1 {{args}} && \
        $run --config configs/mnist.toml --set train.epochs=11 --set train.batch_size=full {{args}} && \
        $run --config configs/cifar10.toml --synthetic --set train.epochs=11 {{args}} && \
        $run --config configs/imagenet64.toml --synthetic --set data.dir=bench-out/imagenet64-synthetic --set train.epochs=3 {{args}} || exit 1; \
    done; done
    {{cargo_release}} --features ndarray -- bench-decode

# `just bench`, then the same work in NumPy and PyTorch (in a virtualenv) on the same data: one run, side by side
bench-ref:
    just bench
    python3 -m venv bench-out/venv
    bench-out/venv/bin/pip install --quiet numpy
    -bench-out/venv/bin/pip install --quiet torch
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench-out/venv/bin/python bench/reference.py
