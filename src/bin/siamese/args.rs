//! The flag groups several commands share (each command's own `Args` is in its file). Each
//! subcommand accepts only the flags it uses; every choice flag lists its values in `--help`
//! (`[possible values: …]`) and a bad value is one clap error line and exit code 2. `--out`
//! means one kind of thing per subcommand: a folder for `train` and `train-baseline`, a PNG
//! file for `show` and `pairs`, a JSON-lines file for `sweep`.

use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;
use siamese::data::{DatasetKind, Fit};
use siamese::model::config::{
    Activation, Distance, EmbeddingActivation, Head, HeadInit, LossKind, Mining, Pooling,
};
use siamese::model::run::{Augment, Dataset, Recipe, Schedule, TrainConfig, PAPER_BATCH, PAPER_LR};
use siamese::pipeline::data::DataSource;
use siamese::pipeline::folder::describe;

use crate::flags;

/// A parser that accepts exactly `names` (shown in `--help`) and gives the value they name.
pub fn choice<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Debug,
{
    PossibleValuesParser::new(names).map(|s| s.parse::<T>().expect("every listed name parses"))
}

/// The paper's MNIST run, whose settings are the defaults of the run flags that no recipe
/// changes (written once, there).
fn paper() -> TrainConfig {
    TrainConfig::paper(DatasetKind::Mnist)
}

/// The dataset names `--dataset` accepts.
pub const DATASETS: &[&str] = &["mnist", "fashion-mnist", "cifar-10"];

const LOSS_HELP: &str = "Training loss; y = 1 means SAME class for all three. \
contrastive-sigmoid (the paper): reads the output module's similarity s = sigmoid(w*BN(d)+b) in (0,1), \
L = mean(y*max(1-s,0)^2 + (1-y)*s^2), margin 1. \
contrastive-distance (Hadsell et al.): reads the raw Euclidean distance d, L = mean(y*d^2 + (1-y)*max(1-d,0)^2), \
the output module learns to read d through a BCE term. \
bce: binary cross-entropy on s. \
triplet (metric learning, for unseen classes): over the batch's images and their classes, mean max(D_ap - D_an + m, 0) \
over the triplets --mining chooses (D on unit-length embeddings with --distance cosine); the output module learns through BCE";

const DATA_DIR_HELP: &str = "Data root holding mnist/, fashion-mnist/, cifar-10/ (default: $SIAMESE_DATA_DIR, else ./datasets); a missing dataset is downloaded there unless --offline";

const IMAGES_HELP: &str = "A folder of your own images instead of a dataset: one subfolder per class \
(the class name), or train/, val/ and test/ subfolders each holding the class folders. PNG, JPEG, BMP and \
PNM, recognised by content. Without test/, 15% of each class's images (rounded down; a share of 1 becomes \
2, or 0 below 4 images) are the test set, the same for every seed, or, when every class is that small, \
15% of the classes; without val/, the rest is split so again by --seed. A class of one image serves as a \
negative and a one-shot query, never as an anchor. Decoded pixels are cached in \
$SIAMESE_CACHE_DIR, else $XDG_CACHE_HOME/siamese/images, else ~/.cache/siamese/images; a changed folder \
is decoded again";

/// Where the data comes from (every subcommand that reads a dataset).
#[derive(Args, Clone)]
pub struct DataArgs {
    #[arg(long, help = DATA_DIR_HELP)]
    pub data_dir: Option<PathBuf>,
    /// Never download: fail when the dataset is missing (also SIAMESE_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
    #[arg(long, value_name = "DIR", help = IMAGES_HELP, conflicts_with = "data_dir")]
    pub images: Option<PathBuf>,
    /// With --images: the network's input CxHxW (1 = gray, 3 = RGB) (default: 1x28x28 when every image is gray, else 3x32x32; a checkpoint's own input for the commands that read one).
    #[arg(long, value_name = "CxHxW", requires = "images", value_parser = flags::input_shape)]
    pub input: Option<(usize, usize, usize)>,
    /// With --images: how an image of another size becomes the input's size: stretch (resize the whole image) or crop (the largest centred region of the input's aspect ratio, then resize) (default: stretch; a checkpoint's own for the commands that read one).
    #[arg(long, requires = "images", value_parser = choice::<Fit>(&["stretch", "crop"]))]
    pub fit: Option<Fit>,
}

impl DataArgs {
    /// `--images` (its classes, and its input by `--input` or the default rule:
    /// [`siamese::pipeline::folder::describe`]), else `kind`.
    pub fn dataset_or(&self, kind: DatasetKind) -> Result<Dataset, Box<dyn std::error::Error>> {
        Ok(match &self.images {
            Some(dir) => Dataset::Folder(describe(dir, self.input, self.fit.unwrap_or_default())?),
            None => kind.into(),
        })
    }

    /// Where the library reads the data from.
    pub fn source(&self) -> DataSource {
        DataSource {
            data_dir: self.data_dir.clone(),
            offline: self.offline,
            images: self.images.clone(),
            input: self.input,
            fit: self.fit,
        }
    }
}

/// The subnet's layers (train, sweep, train-baseline).
#[derive(Args, Clone)]
pub struct SubnetArgs {
    /// Activation of the subnet.
    #[arg(long, default_value_t = paper().model.activation, value_parser = choice::<Activation>(Activation::NAMES))]
    pub act: Activation,
    /// Pooling of the subnet.
    #[arg(long, default_value_t = paper().model.pooling, value_parser = choice::<Pooling>(Pooling::NAMES))]
    pub pool: Pooling,
    /// LeNet-5 with K times the channels and dense units (conv1 6K, conv2 16K, fc1 120K, fc2 84K filters or units); 1 is the paper's; 1 to 8.
    #[arg(long, value_name = "K", default_value_t = paper().model.widen)]
    pub width: usize,
}

/// What only the siamese network has (train, sweep): the embedding, the comparison module,
/// the loss and the pairs.
#[derive(Args, Clone)]
pub struct PairArgs {
    /// Embedding size E (default: the recipe's; 10, the paper's, but 32 for CIFAR-10 in ours).
    #[arg(long)]
    pub embedding: Option<usize>,
    /// After the subnet's last dense layer.
    #[arg(long, default_value_t = paper().model.embedding_activation, value_parser = choice::<EmbeddingActivation>(EmbeddingActivation::NAMES))]
    pub emb_act: EmbeddingActivation,
    /// Comparison module.
    #[arg(long, default_value_t = paper().model.distance, value_parser = choice::<Distance>(Distance::NAMES))]
    pub distance: Distance,
    #[arg(long, default_value_t = paper().loss, help = LOSS_HELP, value_parser = choice::<LossKind>(LossKind::NAMES))]
    pub loss: LossKind,
    /// Which triplets --loss triplet trains on: all, batch-hard (per anchor its farthest positive and nearest negative) or semi-hard (per positive pair the nearest negative beyond it) (default: semi-hard; batch-hard collapsed on MNIST).
    #[arg(long, value_parser = choice::<Mining>(Mining::NAMES))]
    pub mining: Option<Mining>,
    /// Margin m of --loss triplet, L = mean max(D_ap - D_an + m, 0) (default: 1 for --distance euclidean, 0.5 for cosine, whose unit-length embeddings lie at most 2 apart).
    #[arg(long)]
    pub margin: Option<f32>,
    /// Keep the same training pairs every epoch (default: new pairs each epoch).
    #[arg(long)]
    pub fixed_pairs: bool,
    /// Validate every N epochs (and after the last).
    #[arg(long, default_value_t = paper().val_every)]
    pub val_every: usize,
    /// Training-time augmentation: none (the paper), shift (up to 2 px) or shift-flip (up to 4 px + mirror, for CIFAR-10) (default: the recipe's).
    #[arg(long, value_parser = choice::<Augment>(Augment::NAMES))]
    pub augment: Option<Augment>,
    /// Output module (ours, the paper leaves it open): bn = sigmoid(w*BN(d)+b), plain = sigmoid(w*d+b).
    #[arg(long, default_value_t = paper().model.head, value_parser = choice::<Head>(Head::NAMES))]
    pub head: Head,
    /// Output module's initial weight (ours): sign-aware (negative for euclidean) or glorot (as drawn; some seeds collapse).
    #[arg(long, default_value_t = paper().model.init, value_parser = choice::<HeadInit>(HeadInit::NAMES))]
    pub init: HeadInit,
}

/// What every training subcommand shares.
#[derive(Args, Clone)]
pub struct RunArgs {
    /// The dataset (or --images DIR: your own).
    #[arg(long, default_value = "mnist", value_parser = choice::<DatasetKind>(DATASETS), conflicts_with = "images")]
    pub dataset: DatasetKind,
    /// The settings a run starts from before the other flags: ours (our best measured recipe per dataset: MNIST --epochs 20 --schedule cosine --augment shift; Fashion-MNIST --epochs 12 --schedule cosine --augment shift; CIFAR-10 --epochs 15 --schedule cosine --embedding 32) or paper (the paper's: constant lr, no augmentation; 50 / 100 / 1,500 epochs). Flags typed beside it override its settings.
    #[arg(long, default_value_t = Recipe::Ours, value_parser = choice::<Recipe>(Recipe::NAMES))]
    pub recipe: Recipe,
    /// Learning-rate schedule over the run's steps (cosine: down to 1% of the starting rate) (default: the recipe's).
    #[arg(long, value_parser = choice::<Schedule>(Schedule::NAMES))]
    pub schedule: Option<Schedule>,
    /// Seed of every random choice (init, split, pairs, shuffling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Train on a stratified subsample of N training images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Train, validate and test on these classes only: indices, ranges or names (`0-6`, `7,8,9`, `Trouser,Bag`); `eval` of an SN-LeNet-5 run then also scores unseen-class and mixed pairs.
    #[arg(long, value_name = "CLASSES")]
    pub train_classes: Option<String>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub subnet: SubnetArgs,
}

impl RunArgs {
    /// What the run trains on ([`DataArgs::dataset_or`]).
    pub fn dataset(&self) -> Result<Dataset, Box<dyn std::error::Error>> {
        self.data.dataset_or(self.dataset)
    }
}

/// Adam's step and the batch (train, train-baseline; `sweep` takes lists instead).
#[derive(Args, Clone)]
pub struct StepArgs {
    /// Batch size (pairs for train, images for train-baseline).
    #[arg(long, default_value_t = PAPER_BATCH)]
    pub batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = PAPER_LR)]
    pub lr: f32,
}

/// The layout of a picture of pairs (`pairs`, `show`).
#[derive(Args)]
pub struct GridArgs {
    /// Pairs per row.
    #[arg(long, default_value_t = 4)]
    pub cols: usize,
    /// Pixel enlargement factor.
    #[arg(long, default_value_t = 3)]
    pub scale: usize,
}

/// `--shard I/N`: this process runs jobs I, I + N, I + 2N, … of a command's job list (0-based),
/// so that N independent processes (a Slurm job array, any scheduler) share the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The most shards accepted.
    pub const MAX: usize = 4096;

    /// One process doing every job.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether job `job` (0-based, in the command's order) is this shard's.
    pub fn picks(self, job: usize) -> bool {
        job % self.count == self.index
    }

    /// This shard's jobs of `all`, in their order.
    pub fn share<T>(self, all: impl IntoIterator<Item = T>) -> Vec<T> {
        (all.into_iter().enumerate())
            .filter(|&(k, _)| self.picks(k))
            .map(|(_, job)| job)
            .collect()
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "'{s}' is not I/N with 0 <= I < N <= {} (e.g. 0/3)",
                Self::MAX
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || count > Self::MAX || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod shard_tests {
    use super::Shard;

    #[test]
    fn shards_split_the_jobs_with_none_twice_and_none_left() {
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for job in 0..10 {
            assert_eq!(
                shards.iter().filter(|s| s.picks(job)).count(),
                1,
                "job {job}"
            );
        }
        assert!(shards[1].picks(4) && !shards[1].picks(5));
        let one: Shard = "0/1".parse().unwrap();
        assert!((0..5).all(|j| one.picks(j)));
        assert_eq!(one, Shard::WHOLE);
        assert_eq!(shards[1].share(10..17), [11, 14]);
    }

    #[test]
    fn a_bad_shard_is_refused_with_the_form() {
        for s in ["3/3", "0/0", "1", "a/2", "-1/2", "0/5000", "1/2/3"] {
            let e = s.parse::<Shard>().unwrap_err();
            assert!(e.contains("I/N"), "{s}: {e}");
        }
    }
}
