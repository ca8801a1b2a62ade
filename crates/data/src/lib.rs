//! # siamese-data
//!
//! Everything between files on disk and a batch of image pairs. The pieces, in data-flow order:
//!
//! - [`registry`]: the three datasets ([`DatasetKind`]): geometry, class names, record counts,
//!   files, published checksums, mirrors, licence lines;
//! - `fetch` (feature `fetch`): `siamese fetch`: resumable, checksum-verified downloads (temp file then rename),
//!   CIFAR-10 tarball unpacking, `SIAMESE_MIRROR` override for loopback tests;
//! - [`gzip`]: a streaming gzip reader (CRC-32 and size checked) on `miniz_oxide`;
//! - [`idx`] and [`cifar`]: readers for IDX (MNIST, Fashion-MNIST; gzip detected by content) and the
//!   CIFAR-10 binary version, with a typed [`DataError`] naming the file for every kind of bad input;
//! - [`dataset`]: [`ImageSet`] (pixels kept as u8) and [`load`], which reads `--data-dir` when given,
//!   else `SIAMESE_DATA_DIR`, else `./datasets`;
//! - [`input`]: a folder-trained network's input shape (`--input CxHxW`) and [`Fit`] (stretch or
//!   centre-crop);
//! - [`split`]: the paper's stratified, seeded 48k/12k (40k/10k) train/validation split and `--limit`;
//! - [`pairs`]: one positive and one negative pair per anchor, balanced, seeded; fixed test pairs;
//! - [`pair_list`]: a user's CSV list of image-file pairs (`path_a,path_b[,label]`), streamed
//!   or read whole, every error one line naming the list and the line;
//! - [`batch`]: [`PairBatches`], shuffled per epoch, normalised to \[0,1\] NCHW tensors by a prefetch
//!   thread, and [`fill_images`] for allocation-free loops;
//! - `viz` (feature `plot`): the pair grid of the paper's Figure 2 (POS/NEG, hand-coded bitmap font);
//! - `image_file` (feature `images`): a user's PNG/JPEG/BMP/PNM file as a model input (`read_image`: channels
//!   converted, resized to the model's size with a note, scaled to \[0,1\]; `decode_pixels`: u8 planes, stretched
//!   or centre-cropped by a `Fit`);
//! - `folder` (feature `images`): a folder of the user's images, one subfolder per class or `train/`, `val/`,
//!   `test/` (`scan_folder`), decoded in parallel into u8 pixels and u32 labels (`load_folder`), through a cache
//!   keyed by the full file list (`default_cache_dir`).
//!
//! Every random choice uses `ChaCha8Rng::seed_from_u64`, so results do not depend on the machine or
//! on the number of threads.

/// A class index: `u32`, so a user's image folder may hold more than 256 classes (the
/// benchmark files store one byte per label; readers widen it).
pub type Label = u32;

pub mod batch;
pub mod cifar;
pub mod dataset;
pub mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
#[cfg(feature = "images")]
pub mod folder;
pub mod gzip;
pub mod idx;
#[cfg(feature = "images")]
pub mod image_file;
pub mod input;
pub mod pair_list;
pub mod pairs;
#[cfg(feature = "plot")]
pub mod picture;
pub mod registry;
pub mod split;
#[cfg(feature = "plot")]
pub mod viz;

pub use batch::{fill_images, images_tensor, scale_pixel, BatchOptions, PairBatch, PairBatches};
pub use dataset::{load, load_dir, locate, ImageSet, DATA_DIR_ENV};
pub use error::{DataError, Result};
#[cfg(feature = "fetch")]
pub use fetch::{fetch, FetchOptions, MIRROR_ENV};
#[cfg(feature = "images")]
pub use folder::{
    default_cache_dir, default_input, load as load_folder, scan as scan_folder, FolderImages,
    FolderOptions, Layout, Part,
};
#[cfg(feature = "images")]
pub use image_file::{read_image, read_image_fit, InputImage};
pub use input::{input_name, parse_input, Fit};
pub use pairs::{check_pair_indices, make_pairs, test_pairs, Pair, PairMode};
pub use registry::DatasetKind;
pub use split::{paper_split, stratified, ValSize};
