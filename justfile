# Linear image classifiers with Burn. `just --list` shows the recipes.

set positional-arguments

cargo_release := "cargo run --release -p linclass"

default:
    @just --list

# Train on a backend (cpu, ndarray or gpu): just train cpu [CONFIG] [--set key=value ...]
train backend="cpu" config="configs/mnist.toml" *args="":
    {{cargo_release}} --features {{backend}} -- --backend {{backend}} train --config {{config}} {{args}}

# Evaluate a run on its test split: just eval RUN [--json]
eval run *args="":
    {{cargo_release}} -- eval {{run}} {{args}}

# Classify images with a run: just predict RUN IMAGE... [--invert] [--json]
predict run +args:
    {{cargo_release}} -- predict {{run}} {{args}}

# Build and run every test (release mode: the end-to-end tests train real models)
test *args="":
    cargo build --release -p linclass
    cargo test --release --workspace {{args}}

# Seconds per MNIST epoch (median, batch 128), inference images/s, load time, peak RSS, per CPU backend
bench *args="":
    cargo build --release -p linclass --features ndarray
    mkdir -p bench-out
    ./target/release/linclass --backend cpu bench --csv bench-out/bench.csv {{args}}
    ./target/release/linclass --backend ndarray bench --csv bench-out/bench.csv {{args}}
