//! The workspace's end-to-end tests, in one binary (one link instead of one per file, and a
//! fraction of the disk): each module is a topic, run one with `just test MODULE::`.

mod architecture;
mod batches;
mod cache;
mod cli_datasets;
mod cli_mnist;
mod datasets;
mod download;
mod drawn_digits;
mod gradient;
mod idx_files;
mod imagenet;
mod leaks;
mod library;
mod options;
mod pictures;
mod real_inputs;
mod recipes;
mod record;
mod refit;
mod robustness;
mod run_safety;
mod serve;
