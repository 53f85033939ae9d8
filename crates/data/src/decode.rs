//! Decoding image files into the u8, channel-major layout of an `ImageSet`, showing each image
//! as a viewer would: the EXIF orientation applied (phone photos are stored sideways), and
//! transparency flattened onto paper (a drawing on a transparent canvas is ink on paper: white
//! paper under dark ink, black under light ink; a picture with transparent corners continues
//! its edge).

use std::io::Cursor;
use std::path::Path;

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{
    DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Luma, Rgb, RgbImage, Rgba,
    RgbaImage,
};

use crate::error::{DataError, Result};

/// File extensions read as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 16] = [
    "png", "jpg", "jpeg", "jpe", "jfif", "bmp", "webp", "gif", "tif", "tiff", "pgm", "ppm", "pbm",
    "pnm", "tga", "qoi",
];

/// The formats of `IMAGE_EXTENSIONS`, for messages.
pub const IMAGE_FORMATS: &str = "PNG, JPEG, BMP, WebP, GIF, TIFF, PNM, TGA or QOI";

/// The most memory one image may take once decoded (about 134 megapixels of RGBA).
pub const MAX_DECODED_BYTES: u64 = 512 << 20;

pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Decodes an image file and converts it to `shape` = [channels, height, width] (see
/// [`decode_bytes`]).
///
/// Errors: the file cannot be read, or is not an image of a supported format.
pub fn decode_image(path: &Path, shape: [usize; 3]) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_bytes(&bytes, shape, path)
}

/// Decodes an encoded image (the format is found from its content) and converts it to
/// `shape` = [channels, height, width], channel-major: EXIF orientation applied, alpha
/// flattened onto paper ([`flatten_alpha`]), then resized (bilinear, widened when shrinking) to height × width
/// and converted to luminance for one channel or RGB for three. GIFs give their first frame.
/// `path` names the image in errors, and its extension gives the format of files without a
/// signature (TGA).
pub fn decode_bytes(bytes: &[u8], shape: [usize; 3], path: &Path) -> Result<Vec<u8>> {
    decode_with(bytes, shape, path, true)
}

/// [`decode_bytes`] without the reduced-size JPEG decoding ([`decode_jpeg_reduced`]): every
/// pixel decoded, then resized. For comparisons (`bench-decode`, tests).
pub fn decode_bytes_full(bytes: &[u8], shape: [usize; 3], path: &Path) -> Result<Vec<u8>> {
    decode_with(bytes, shape, path, false)
}

fn decode_with(bytes: &[u8], shape: [usize; 3], path: &Path, reduced: bool) -> Result<Vec<u8>> {
    let [c, h, w] = shape;
    if !matches!(c, 1 | 3) {
        return Err(DataError::Invalid(format!(
            "{c} channels: only 1 (grayscale) and 3 (RGB) are supported"
        )));
    }
    if reduced && let Some(img) = decode_jpeg(bytes, Some([h, w]), path)? {
        return Ok(convert_image(&img, [c, h, w]));
    }
    Ok(convert_image(&decode_upright(bytes, path)?, [c, h, w]))
}

/// A JPEG cut short (an interrupted download or copy) still decodes, its missing part filled
/// with grey: refuse it. Walks the file's segments from its start-of-image marker as a decoder
/// does (each marker's length skips its contents, an EXIF thumbnail included; entropy-coded
/// data ends at the first marker that is not a restart) until the end-of-image marker. Bytes
/// after it (cameras and editors append data there) are ignored, as viewers ignore them.
fn check_jpeg_complete(bytes: &[u8], path: &Path) -> Result<()> {
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) || jpeg_end(bytes).is_some() {
        return Ok(());
    }
    Err(DataError::format(
        path,
        "the JPEG is cut short (no end-of-image marker after its image data); expected a complete file",
    ))
}

/// The offset just past the end-of-image marker (FF D9) of the JPEG that `bytes` starts with,
/// or `None` when the file ends first.
fn jpeg_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 2;
    loop {
        // Fill bytes (FF FF …) may precede a marker.
        while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        at += 2;
        match marker {
            0xD9 => return Some(at),
            // Markers without a length: restart markers, TEM.
            0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        let length = u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]) as usize;
        at += length;
        if marker == 0xDA {
            // Entropy-coded data: 0xFF is followed by 0 (a stuffed byte) or a restart marker.
            while *bytes.get(at)? != 0xFF || matches!(*bytes.get(at + 1)?, 0x00 | 0xD0..=0xD7) {
                at += 1;
            }
        }
    }
}

/// Decodes an encoded image as a viewer shows it, at its own size: the format found from the
/// content (or, for formats without a signature such as TGA, from `path`'s extension), the
/// EXIF orientation applied (phone photos are stored sideways). `path` names the image in
/// errors.
///
/// Errors: not an image of a supported format, damaged (for JPEGs: as libjpeg finds them, see
/// [`decode_jpeg`]), or needing more than [`MAX_DECODED_BYTES`] once decoded (checked from the
/// header, before allocating).
pub fn decode_upright(bytes: &[u8], path: &Path) -> Result<DynamicImage> {
    if let Some(img) = decode_jpeg(bytes, None, path)? {
        return Ok(img);
    }
    // JPEGs libjpeg only checked (CMYK, YCCK) are decoded below: refuse those cut short first.
    check_jpeg_complete(bytes, path)?;
    let undecodable = |e: image::ImageError| DataError::format(path, undecodable_why(&e));
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    if reader.format().is_none()
        && let Ok(format) = ImageFormat::from_path(path)
    {
        // Formats without a signature (TGA) are known by their extension only.
        reader.set_format(format);
    }
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    // A header may claim any size: refuse before allocating what it claims.
    let (width, height) = decoder.dimensions();
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        return Err(DataError::format(
            path,
            format!(
                "a {width}×{height} image needs {} MiB decoded, more than the {} MiB allowed per image",
                decoder.total_bytes() >> 20,
                MAX_DECODED_BYTES >> 20
            ),
        ));
    }
    // A broken EXIF block is not worth refusing the picture for: it is shown as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Why an image could not be decoded: a kind of a supported format that is not read (32-bit or
/// floating-point samples, as scientific TIFFs hold) is told apart from what is no image.
fn undecodable_why(e: &image::ImageError) -> String {
    use image::error::{ImageFormatHint, UnsupportedErrorKind};
    let image::ImageError::Unsupported(unsupported) = e else {
        return format!("cannot decode as an image ({e}); expected {IMAGE_FORMATS}");
    };
    let format = match unsupported.format_hint() {
        ImageFormatHint::Exact(f) => format!("{f:?}").to_uppercase(),
        _ => "image".to_string(),
    };
    match unsupported.kind() {
        UnsupportedErrorKind::Color(color) => {
            let samples = match color {
                image::ExtendedColorType::Unknown(bits) => {
                    format!("{bits}-bit samples (floating point, or integers wider than 16 bits)")
                }
                other => format!("{other:?} samples"),
            };
            format!(
                "is a {format} of {samples}, which are not read; expected 8- or 16-bit integer samples (convert the image first)"
            )
        }
        _ => format!("is a kind of {format} that is not read ({e}); expected {IMAGE_FORMATS}"),
    }
}

/// [`decode_upright`] on a file.
///
/// Errors: the file cannot be read (or a folder), or as [`decode_upright`].
pub fn open_upright(path: &Path) -> Result<DynamicImage> {
    if path.is_dir() {
        return Err(DataError::format(path, "is a folder, not an image file"));
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_upright(&bytes, path)
}

/// Decodes a JPEG with libjpeg-turbo, the EXIF orientation applied. With a `target` [height,
/// width] at most a quarter of the stored size, at a reduced scale: the inverse DCT at 1/2, 1/4
/// or 1/8 (libjpeg's scaled IDCT, as Pillow's `draft`), the largest reduction that keeps at least
/// twice the target's pixels in both directions (Pillow's `reducing_gap = 2`), so that the
/// resize that follows still filters — and most of the decoding work is skipped. Else (or
/// without a target) at full size.
///
/// `Ok(None)` for what is not a JPEG, and for CMYK and YCCK JPEGs, which libjpeg decodes once to
/// check them and the `image` crate then converts to RGB.
///
/// Errors: libjpeg cannot read the file — an error, or a warning about data it would otherwise
/// fill in or skip (bytes flipped or spliced in, a marker out of place, data left over before
/// the end marker: a damaged scan can show only as that), a file cut short, an unsupported kind
/// (12-bit) — or the image would need more than [`MAX_DECODED_BYTES`].
pub fn decode_jpeg(
    bytes: &[u8],
    target: Option<[usize; 2]>,
    path: &Path,
) -> Result<Option<DynamicImage>> {
    Ok(plain_jpeg(bytes, target, path)?.map(|(img, _)| img))
}

/// The reduced-size case of [`decode_jpeg`] alone: the image when `target` [height, width] is at
/// most a quarter of a JPEG's size and it decodes, else `None`.
pub fn decode_jpeg_reduced(bytes: &[u8], target: [usize; 2]) -> Option<DynamicImage> {
    match plain_jpeg(bytes, Some(target), Path::new("")) {
        Ok(Some((img, factor))) if factor > 1 => Some(img),
        _ => None,
    }
}

/// What libjpeg made of a JPEG.
enum Libjpeg {
    /// Decoded at `factor` (1, 2, 4 or 8) below the stored size: pixels row by row, luminance
    /// (`gray`) or RGB, still as stored (`orientation` to apply).
    Decoded {
        width: usize,
        height: usize,
        pixels: Vec<u8>,
        factor: usize,
        orientation: Orientation,
        gray: bool,
    },
    /// A CMYK or YCCK JPEG that decodes without complaint.
    Checked,
    /// Larger than [`MAX_DECODED_BYTES`]: width, height, bytes.
    TooLarge(usize, usize, u64),
}

/// [`decode_jpeg`], also giving the reduction factor used.
fn plain_jpeg(
    bytes: &[u8],
    target: Option<[usize; 2]>,
    path: &Path,
) -> Result<Option<(DynamicImage, usize)>> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Ok(None);
    }
    match libjpeg(bytes, target) {
        Ok(Libjpeg::Decoded {
            width,
            height,
            pixels,
            factor,
            orientation,
            gray,
        }) => {
            let (w, h) = (width as u32, height as u32);
            let img = if gray {
                GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
            } else {
                RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
            };
            Ok(img.map(|mut img| {
                img.apply_orientation(orientation);
                (img, factor)
            }))
        }
        Ok(Libjpeg::Checked) => Ok(None),
        Ok(Libjpeg::TooLarge(width, height, needed)) => Err(DataError::format(
            path,
            format!(
                "a {width}×{height} image needs {} MiB decoded, more than the {} MiB allowed per image",
                needed >> 20,
                MAX_DECODED_BYTES >> 20
            ),
        )),
        Err(why) if why.starts_with("Premature end of JPEG file") => Err(DataError::format(
            path,
            format!("the JPEG is cut short (libjpeg: {why}); expected a complete file"),
        )),
        Err(why) => Err(DataError::format(
            path,
            format!(
                "is not a readable JPEG (libjpeg: {why}); expected a complete, undamaged 8-bit JPEG"
            ),
        )),
    }
}

/// Decodes a JPEG with libjpeg-turbo (see [`decode_jpeg`]). libjpeg's errors, and its warnings
/// about corrupt data, unwind out of the library without a panic message and come back as `Err`
/// with libjpeg's message.
fn libjpeg(bytes: &[u8], target: Option<[usize; 2]>) -> std::result::Result<Libjpeg, String> {
    use mozjpeg::{ColorSpace, Marker};
    use mozjpeg_sys::{jpeg_error_mgr, jpeg_std_error};
    let outcome = std::panic::catch_unwind(|| {
        // SAFETY: an all-zero error manager is what jpeg_std_error expects to fill in.
        let mut errors: jpeg_error_mgr = unsafe { std::mem::zeroed() };
        // SAFETY: fills in libjpeg's default handlers and message table.
        unsafe { jpeg_std_error(&mut errors) };
        errors.error_exit = Some(refuse);
        errors.emit_message = Some(refuse_warnings);
        let io = |e: std::io::Error| e.to_string();
        let mut decompress = mozjpeg::Decompress::with_err(errors)
            .with_markers(&[Marker::APP(1)])
            .from_mem(bytes)
            .map_err(io)?;
        let (width, height) = decompress.size();
        let orientation = decompress
            .markers()
            .find_map(|m| m.data.strip_prefix(b"Exif\0\0"))
            .and_then(Orientation::from_exif_chunk)
            .unwrap_or(Orientation::NoTransforms);
        let color = decompress.color_space();
        let channels = match color {
            ColorSpace::JCS_GRAYSCALE => 1,
            ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => 4,
            _ => 3,
        };
        let needed = (width * height * channels) as u64;
        if needed > MAX_DECODED_BYTES {
            return Ok(Libjpeg::TooLarge(width, height, needed));
        }
        if channels == 4 {
            // Checked at 1/8 scale: every byte of the data is still decoded.
            decompress.scale(1);
            let mut started = decompress.to_colorspace(ColorSpace::JCS_CMYK).map_err(io)?;
            started.read_scanlines::<u8>().map_err(io)?;
            started.finish().map_err(io)?;
            return Ok(Libjpeg::Checked);
        }
        let factor = target.map_or(1, |target| scale_factor(width, height, target, orientation));
        decompress.scale((8 / factor) as u8);
        let gray = channels == 1;
        let mut started = if gray {
            decompress.grayscale()
        } else {
            decompress.rgb()
        }
        .map_err(io)?;
        let (w, h) = (started.width(), started.height());
        let pixels = started.read_scanlines::<u8>().map_err(io)?;
        started.finish().map_err(io)?;
        if pixels.len() != w * h * channels
            || (w, h) != (width.div_ceil(factor), height.div_ceil(factor))
        {
            return Err(format!("{} bytes for {w}×{h} pixels", pixels.len()));
        }
        Ok(Libjpeg::Decoded {
            width: w,
            height: h,
            pixels,
            factor,
            orientation,
            gray,
        })
    });
    match outcome {
        Ok(result) => result,
        Err(payload) => Err(payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "the decoder stopped".into())),
    }
}

/// libjpeg's message for its current error or warning.
fn message(cinfo: &mut mozjpeg_sys::jpeg_common_struct) -> String {
    // SAFETY: libjpeg keeps `err` pointing at the error manager set below; its
    // `format_message` writes at most JMSG_LENGTH_MAX (80) bytes, NUL included (the binding
    // declares the buffer shared; libjpeg writes into it, as the mozjpeg crate relies on).
    unsafe {
        let Some(format) = (*cinfo.err).format_message else {
            return format!("message {}", (*cinfo.err).msg_code);
        };
        let buffer = [0u8; 80];
        format(cinfo, &buffer);
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    }
}
/// libjpeg's error exit: unwinds with the message (caught in [`libjpeg`]).
extern "C-unwind" fn refuse(cinfo: &mut mozjpeg_sys::jpeg_common_struct) {
    std::panic::resume_unwind(Box::new(message(cinfo)));
}
/// libjpeg's message hook: a warning unwinds as an error does.
extern "C-unwind" fn refuse_warnings(
    cinfo: &mut mozjpeg_sys::jpeg_common_struct,
    level: std::os::raw::c_int,
) {
    // Level -1 is a warning; 0 and above are trace messages. Every warning is about damage,
    // even bytes left between the image data and the end-of-image marker: a piece of the
    // scan replaced by another decodes "validly" and shows only as such leftover bytes.
    if level < 0 {
        std::panic::resume_unwind(Box::new(message(cinfo)));
    }
}

/// The largest of libjpeg's reduced sizes (1/8, 1/4, 1/2) that still has at least twice the
/// target's pixels across and down (`target` = [height, width], before the EXIF `orientation`
/// turns the picture); 1 (full size) if none has.
fn scale_factor(
    width: usize,
    height: usize,
    [th, tw]: [usize; 2],
    orientation: Orientation,
) -> usize {
    // Orientations 5–8 turn the picture by 90°: the target's height is then across.
    let turned = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (tw, th) = if turned { (th, tw) } else { (tw, th) };
    [8usize, 4, 2]
        .into_iter()
        .find(|f| width.div_ceil(*f) >= 2 * tw && height.div_ceil(*f) >= 2 * th)
        .unwrap_or(1)
}

/// Converts a decoded image to `shape` = [channels, height, width], channel-major u8: alpha
/// flattened onto paper ([`flatten_alpha`]), resized (bilinear, widened when shrinking) to
/// height × width, then luminance for one channel or RGB for three. The image is taken as it is
/// (apply its EXIF orientation first if it has one).
///
/// Panics if `channels` is not 1 or 3 (the callers check it).
pub fn convert_image(img: &DynamicImage, shape: [usize; 3]) -> Vec<u8> {
    let [c, h, w] = shape;
    assert!(matches!(c, 1 | 3), "{c} channels");
    // Copies only where the image changes: composited when it has alpha, resized when its size
    // differs; the conversion below works at the target size.
    let composited;
    let img = if img.color().has_alpha() {
        composited = flatten_alpha(img.clone());
        &composited
    } else {
        img
    };
    let resized;
    let img = if img.width() as usize == w && img.height() as usize == h {
        img
    } else {
        resized = img.resize_exact(w as u32, h as u32, FilterType::Triangle);
        &resized
    };
    if c == 1 {
        return img.to_luma8().into_raw();
    }
    let rgb = img.to_rgb8();
    let plane = h * w;
    let mut out = vec![0u8; 3 * plane];
    for (i, px) in rgb.pixels().enumerate() {
        for (ch, &v) in px.0.iter().enumerate() {
            out[ch * plane + i] = v;
        }
    }
    out
}

/// Transparency flattened as a viewer shows it, on the paper that keeps the picture readable:
/// each pixel blended by its alpha with the paper (v·a + p·(1 − a)), p = 255 (white) or 0 (black).
/// - Mostly transparent (strokes on a transparent canvas): the paper contrasts with the ink, black
///   when the ink's alpha-weighted mean over R, G and B is above mid-grey (a dark-mode drawing
///   app's white ink is not lost white on white), white otherwise.
/// - Mostly opaque (a card or a screenshot with transparent margins or corners): the paper
///   continues the picture's edge, the mean of its opaque pixels (α ≥ 128) next to a transparent
///   one: black under a dark edge, white otherwise.
///
/// Images without alpha are returned as they are.
pub fn flatten_alpha(img: DynamicImage) -> DynamicImage {
    if !img.color().has_alpha() {
        return img;
    }
    let colour = img.color().has_color();
    let rgba = img.into_rgba8();
    let paper = if paper_is_black(&rgba) { 0u32 } else { 255 };
    let blend = |v: u8, a: u8| -> u8 {
        let (v, a) = (u32::from(v), u32::from(a));
        ((v * a + paper * (255 - a) + 127) / 255) as u8
    };
    let (w, h) = rgba.dimensions();
    if colour {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            let [r, g, b, a] = rgba.get_pixel(x, y).0;
            Rgb([blend(r, a), blend(g, a), blend(b, a)])
        }))
    } else {
        DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, y| {
            let [v, _, _, a] = rgba.get_pixel(x, y).0;
            Luma([blend(v, a)])
        }))
    }
}

/// Whether [`flatten_alpha`] puts black paper under `rgba` (see there for the rule).
fn paper_is_black(rgba: &RgbaImage) -> bool {
    let sum = |p: &Rgba<u8>| u64::from(p[0]) + u64::from(p[1]) + u64::from(p[2]);
    let (cover, ink) = rgba.pixels().fold((0u64, 0u64), |(cover, ink), p| {
        let a = u64::from(p[3]);
        (cover + a, ink + sum(p) * a)
    });
    let (w, h) = rgba.dimensions();
    if 2 * cover < 255 * u64::from(w) * u64::from(h) {
        return 2 * ink > 765 * cover;
    }
    let clear = |x: u32, y: u32| x < w && y < h && rgba.get_pixel(x, y)[3] < 128;
    let (mut edge, mut count) = (0u64, 0u64);
    for (x, y, p) in rgba.enumerate_pixels() {
        let beside = clear(x.wrapping_sub(1), y)
            || clear(x + 1, y)
            || clear(x, y.wrapping_sub(1))
            || clear(x, y + 1);
        if p[3] >= 128 && beside {
            edge += sum(p);
            count += 1;
        }
    }
    count > 0 && 2 * edge <= 765 * count
}

/// Decodes many files on all cores, keeping their order.
pub fn decode_all(paths: &[&Path], shape: [usize; 3]) -> Vec<Result<Vec<u8>>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let chunk = paths.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| {
                            // A decoder bug on a hostile file is that file's error, not a crash.
                            std::panic::catch_unwind(|| decode_image(p, shape)).unwrap_or_else(
                                |_| {
                                    Err(DataError::format(
                                        p,
                                        "the image decoder failed on this file",
                                    ))
                                },
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("decoder thread"))
            .collect()
    })
}
