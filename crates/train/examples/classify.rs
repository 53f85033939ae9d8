//! Classify images with a trained run from your own program.
//!
//! ```sh
//! just train cpu                                   # writes runs/mnist
//! cargo run --release -p linclass --example classify -- runs/mnist digit.png [more.png ...]
//! ```
//!
//! The images can come from anywhere (a camera, a network, a generated buffer): the classifier
//! takes `image::DynamicImage` values, or raw pixels already in the model's shape.

use std::path::Path;

use anyhow::{Result, bail};
use linclass::Backend;
use linclass::Classifier;
use linclass_data::decode::open_upright;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((run, files)) = args.split_first() else {
        bail!("usage: classify RUN IMAGE...");
    };
    let device = Backend::default_compiled().device()?;
    let classifier = Classifier::load(run, &device)?;
    let [c, h, w] = classifier.input_shape();
    println!(
        "{run}: {} classes, input {c}×{h}×{w}",
        classifier.classes().len()
    );

    // Images in memory, classified in one batch. `open_upright` reads them as a viewer shows
    // them (EXIF orientation applied); `image::open` would leave phone photos sideways.
    let images = files
        .iter()
        .map(|f| open_upright(Path::new(f)))
        .collect::<Result<Vec<_>, _>>()?;
    for (file, ranked) in files.iter().zip(classifier.classify_batch(&images)?) {
        let best: Vec<String> = ranked
            .iter()
            .take(3)
            .map(|r| format!("{} {:.1}%", r.class, 100.0 * r.probability))
            .collect();
        println!("{file}: {}", best.join(", "));
    }

    // Raw pixels in the model's shape (channel-major u8): here a blank image.
    let blank = vec![0u8; c * h * w];
    let ranked = classifier.classify_pixels(&blank)?.remove(0);
    println!(
        "a blank image: {} {:.1}%",
        ranked[0].class,
        100.0 * ranked[0].probability
    );
    Ok(())
}
