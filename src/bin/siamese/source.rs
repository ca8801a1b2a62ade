//! What `oneshot`, `retrieve`, `classic` and `embed` share (not a command): the work flags
//! (data, batch, threads), the checkpoint flag, and reading a checkpoint with its dataset and
//! the training part of its run's split.

use siamese::data::Label;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use siamese::data::{split, ImageSet};
use siamese::eval::EMBED_BATCH;
use siamese::model::config::MAX_EVAL_BATCH;
use siamese::model::run::{validation_split, Dataset};
use siamese::model::SnLenet5;
use siamese::pipeline::data::dataset_of;

use crate::args::DataArgs;
use crate::common::set_threads;
use crate::flags;
use crate::CliResult;

pub type Error = Box<dyn std::error::Error>;

/// Where the data comes from and how the work is split (every command here).
#[derive(Args)]
pub struct WorkArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Images per embedding batch.
    #[arg(long, default_value_t = EMBED_BATCH, value_parser = flags::count::<MAX_EVAL_BATCH>)]
    pub batch: usize,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = flags::threads)]
    pub threads: Option<usize>,
}

impl WorkArgs {
    /// Sets up the thread pool (the flags were checked by their parsers).
    pub fn start(&self) -> CliResult {
        set_threads(self.threads)
    }
}

/// Flags shared by the commands that read a checkpoint and its dataset.
#[derive(Args)]
pub struct SourceArgs {
    /// An SN-LeNet-5 checkpoint written by `siamese train` (best.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub work: WorkArgs,
}

/// The checkpoint's network, its dataset, and the training part of the paper's split (the
/// split seed is the run's seed, so it is the run's own training part, all classes).
pub struct Loaded {
    pub model: SnLenet5,
    /// What was read: the run's data, or `--images`.
    pub dataset: Dataset,
    pub title: String,
    pub train: Arc<ImageSet>,
    pub test: Arc<ImageSet>,
    pub train_idx: Vec<u32>,
    pub train_classes: Option<Vec<Label>>,
}

pub fn load(s: &SourceArgs) -> Result<Loaded, Error> {
    load_checked(s, |_| Ok(()))
}

/// [`load`], running `check` on the data's description before the data is read (for the
/// flags that depend on it, such as a class list).
pub fn load_checked(
    s: &SourceArgs, check: impl FnOnce(&Dataset) -> Result<(), Error>,
) -> Result<Loaded, Error> {
    s.work.start()?;
    let (model, cfg) = SnLenet5::from_checkpoint(&s.checkpoint)?;
    let dataset = dataset_of(&cfg, &s.work.data.source())?;
    check(&dataset)?;
    let data = siamese::pipeline::data::load(&dataset, &s.work.data.source())?;
    let (train, test) = (data.train, data.test);
    let (train_idx, _) = validation_split(&dataset, &train, data.val.as_deref(), cfg.seed)?;
    Ok(Loaded {
        model,
        dataset,
        title: data.title,
        train: Arc::new(train),
        test: Arc::new(test),
        train_idx,
        train_classes: cfg.train_classes,
    })
}

/// A class list for `dataset`: indices, ranges or names.
pub fn parse_class_list(dataset: &Dataset, spec: &str) -> Result<Vec<Label>, Error> {
    Ok(split::parse_classes(spec, &dataset.class_names())?)
}
