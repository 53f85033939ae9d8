//! Batches as the learner gets them: every image once per epoch, the shuffle a function of the
//! seed and the epoch alone, pixels normalized exactly, the background builder stopping when an
//! epoch is abandoned, and the Burn `Dataset` view giving the same batches as the loader.

use std::collections::HashSet;
use std::sync::Arc;

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use linclass::Backend;
use linclass_data::image_set::ImageSet;
use linclass_data::normalize::Normalization;
use linclass_data::{EpochLoader, ImageBatch, ImageBatcher, ImageDataset};

const N: usize = 53;
const SHAPE: [usize; 3] = [3, 4, 5];

/// Image i has pixel values derived from i, and label i mod 7, so that a batch row can be
/// traced back to its image.
fn image_set() -> Arc<ImageSet> {
    let dim: usize = SHAPE.iter().product();
    let pixels = (0..N * dim)
        .map(|k| ((k * 37 + k / dim) % 256) as u8)
        .collect();
    let labels = (0..N).map(|i| (i % 7) as u16).collect();
    let classes = (0..7).map(|c| format!("c{c}")).collect();
    Arc::new(ImageSet::new(pixels, labels, SHAPE, classes).unwrap())
}

fn standardization() -> Normalization {
    Normalization {
        mean: vec![0.5, 0.25, 0.125],
        std: vec![0.5, 2.0, 0.25],
    }
}

fn rows(batch: &ImageBatch) -> (Vec<Vec<f32>>, Vec<i64>) {
    let [b, d] = batch.images.dims();
    let pixels = batch
        .images
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let labels = batch
        .targets
        .clone()
        .into_data()
        .convert::<i64>()
        .try_to_vec()
        .unwrap();
    assert_eq!(pixels.len(), b * d);
    (pixels.chunks(d).map(<[f32]>::to_vec).collect(), labels)
}

/// The image a normalized row came from, found by comparing with every image.
fn source_of(set: &ImageSet, norm: &Normalization, row: &[f32]) -> usize {
    let plane = SHAPE[1] * SHAPE[2];
    let matches: Vec<usize> = (0..set.len())
        .filter(|&i| {
            set.image(i)
                .iter()
                .zip(row)
                .enumerate()
                .all(|(k, (&v, &x))| {
                    let c = k / plane;
                    let want = (f32::from(v) / 255.0 - norm.mean[c]) / norm.std[c];
                    (want - x).abs() <= 1e-5 * want.abs().max(1.0)
                })
        })
        .collect();
    assert_eq!(matches.len(), 1, "row matches images {matches:?}");
    matches[0]
}

fn epoch_batches(loader: &EpochLoader) -> Vec<ImageBatch> {
    loader.iter().map(|b| b.unwrap()).collect()
}

#[test]
fn each_epoch_visits_every_image_once_normalized_and_labelled() {
    let device = Backend::Cpu.device().unwrap();
    let set = image_set();
    let norm = standardization();
    let subset: Vec<u32> = (0..N as u32).filter(|i| i % 5 != 0).collect();
    let loader = EpochLoader::new(
        ImageBatcher::new(set.clone(), &norm),
        subset.clone(),
        8,
        Some(11),
        device,
    );
    for _ in 0..2 {
        let batches = epoch_batches(&loader);
        let sizes: Vec<usize> = batches.iter().map(|b| b.images.dims()[0]).collect();
        assert_eq!(sizes, vec![8, 8, 8, 8, 8, 2]);
        let mut seen = Vec::new();
        for batch in &batches {
            let (rows, labels) = rows(batch);
            for (row, label) in rows.iter().zip(labels) {
                let i = source_of(&set, &norm, row);
                assert_eq!(label, set.label(i) as i64);
                seen.push(i as u32);
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, subset, "every image of the subset exactly once");
        assert_ne!(seen, subset, "shuffled");
    }
}

#[test]
fn shuffle_depends_on_seed_and_epoch_only_so_resuming_repeats_it() {
    let device = Backend::Cpu.device().unwrap();
    let set = image_set();
    let indices: Vec<u32> = (0..N as u32).collect();
    let loader = |seed| {
        EpochLoader::new(
            ImageBatcher::new(set.clone(), &Normalization::scale_only(3)),
            indices.clone(),
            16,
            Some(seed),
            device.clone(),
        )
    };
    let a = loader(1);
    let first = a.order(0);
    let second = a.order(1);
    assert_ne!(first, second, "a new order each epoch");
    assert_eq!(first, loader(1).order(0));
    assert_ne!(first, loader(2).order(0));

    // Three epochs straight, against two, then a fresh loader resumed after two.
    let straight: Vec<Vec<i64>> = (0..3)
        .map(|_| {
            epoch_batches(&a)
                .iter()
                .flat_map(|b| rows(b).1)
                .collect::<Vec<_>>()
        })
        .collect();
    let resumed = loader(1).resume_after(2);
    let third: Vec<i64> = epoch_batches(&resumed)
        .iter()
        .flat_map(|b| rows(b).1)
        .collect();
    assert_eq!(third, straight[2]);

    let unshuffled = EpochLoader::new(
        ImageBatcher::new(set.clone(), &Normalization::scale_only(3)),
        indices.clone(),
        16,
        None,
        device.clone(),
    );
    assert_eq!(unshuffled.order(3), (0..N).collect::<Vec<_>>());
}

#[test]
fn an_abandoned_epoch_stops_its_builder_and_the_next_one_is_whole() {
    let device = Backend::Cpu.device().unwrap();
    let set = image_set();
    let indices: Vec<u32> = (0..N as u32).collect();
    let loader = EpochLoader::new(
        ImageBatcher::new(set, &Normalization::scale_only(3)),
        indices,
        4,
        Some(3),
        device,
    );
    for _ in 0..20 {
        let mut epoch = loader.iter();
        let first = epoch.next().unwrap().unwrap();
        assert_eq!(first.images.dims(), [4, 60]);
        assert_eq!(epoch.progress().items_processed, 4);
        assert_eq!(epoch.progress().items_total, N);
        // Dropped with batches still queued: must return, not hang.
    }
    let total: usize = epoch_batches(&loader)
        .iter()
        .map(|b| b.images.dims()[0])
        .sum();
    assert_eq!(total, N);
}

#[test]
fn the_burn_dataset_view_gives_the_loaders_batches() {
    let device = Backend::Cpu.device().unwrap();
    let set = image_set();
    let norm = standardization();
    let indices: Vec<u32> = (3..40).collect();
    let batcher = ImageBatcher::new(set.clone(), &norm);
    let ours = epoch_batches(&EpochLoader::new(
        batcher.clone(),
        indices.clone(),
        10,
        None,
        device.clone(),
    ));
    let burns = DataLoaderBuilder::new(batcher)
        .batch_size(10)
        .set_device(device)
        .build(ImageDataset::new(indices));
    let burns: Vec<ImageBatch> = burns.iter().map(|b| b.unwrap()).collect();
    assert_eq!(ours.len(), burns.len());
    for (a, b) in ours.iter().zip(&burns) {
        assert_eq!(rows(a), rows(b));
    }
    let labels: HashSet<i64> = ours.iter().flat_map(|b| rows(b).1).collect();
    assert_eq!(labels.len(), 7);
}

#[test]
fn normalization_matches_the_formula_on_every_value() {
    let norm = standardization();
    let affine = norm.affine();
    let plane = 1000;
    let pixels: Vec<u8> = (0..3 * plane).map(|k| (k * 91 % 256) as u8).collect();
    let mut out = vec![-1.0];
    Normalization::extend(&affine, &pixels, &mut out);
    assert_eq!(out.len(), 1 + pixels.len(), "appended, nothing overwritten");
    assert_eq!(out[0], -1.0);
    for (k, (&v, &x)) in pixels.iter().zip(&out[1..]).enumerate() {
        let c = k / plane;
        let want = (f32::from(v) / 255.0 - norm.mean[c]) / norm.std[c];
        assert!(
            (want - x).abs() <= 1e-6 * want.abs().max(1.0),
            "value {k}: {x} vs {want}"
        );
    }
}

#[test]
fn a_builder_that_dies_ends_the_epoch_with_an_error_not_a_short_epoch() {
    let device = Backend::Cpu.device().unwrap();
    let set = image_set();
    // Image N does not exist: building the second batch fails on the builder's thread.
    let indices: Vec<u32> = (0..8).chain([N as u32]).collect();
    let loader = EpochLoader::new(
        ImageBatcher::new(set, &Normalization::scale_only(3)),
        indices,
        4,
        None,
        device,
    );
    let items: Vec<_> = loader.iter().collect();
    assert_eq!(items.len(), 3, "two whole batches, then the error");
    assert!(items[0].is_ok() && items[1].is_ok());
    let error = items[2].as_ref().err().unwrap().to_string();
    assert!(error.contains("stopped after 8 of 9 images"), "{error}");
}

#[test]
fn random_flip_mirrors_every_row_of_every_channel_of_about_half_the_images() {
    let device = Backend::Cpu.device().unwrap();
    let set = image_set();
    let norm = Normalization::scale_only(3);
    let indices: Vec<u32> = (0..N as u32).collect();
    let loader = EpochLoader::new(
        ImageBatcher::new(set.clone(), &norm),
        indices.clone(),
        8,
        Some(3),
        device.clone(),
    )
    .with_random_flip(5);
    let order = loader.order(0);
    let flips = loader.flips(0);
    assert_eq!(flips.len(), N);
    let flipped = flips.iter().filter(|&&f| f).count();
    assert!((15..=38).contains(&flipped), "{flipped} of {N} flipped");
    assert_ne!(flips, loader.flips(1), "drawn anew each epoch");
    assert_eq!(flips, loader.clone().with_random_flip(5).flips(0), "seeded");

    let [c, h, w] = SHAPE;
    let rows_seen: Vec<Vec<f32>> = epoch_batches(&loader)
        .iter()
        .flat_map(|b| rows(b).0)
        .collect();
    assert_eq!(rows_seen.len(), N);
    for (k, row) in rows_seen.iter().enumerate() {
        let image = set.image(order[k]);
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let from_x = if flips[k] { w - 1 - x } else { x };
                    let want = image[(ch * h + y) * w + from_x] as f32 / 255.0;
                    let got = row[(ch * h + y) * w + x];
                    assert!(
                        (got - want).abs() < 1e-6,
                        "image {k} ({ch},{y},{x}): {got} vs {want}"
                    );
                }
            }
        }
    }
    // A loader without the flip never mirrors.
    let plain = EpochLoader::new(
        ImageBatcher::new(set.clone(), &norm),
        indices,
        8,
        Some(3),
        device,
    );
    assert!(plain.flips(0).is_empty());
}
