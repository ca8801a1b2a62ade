//! `siamese classic`: the classical baselines of the paper's Table 3 (k-NN on pixels or on the
//! embedding, HOG + linear SVM), run by siamese_eval::classic::baselines.

use std::path::PathBuf;

use clap::Args;
use siamese::data::DatasetKind;
use siamese::eval::classic::baselines::{run_baselines, BaselineOptions, Method};
use siamese::eval::classic::hog::HogParams;
use siamese::eval::classic::svm::{SvmParams, DEFAULT_C, DEFAULT_EPOCHS, MAX_C, MAX_EPOCHS};
use siamese::eval::knn::{DEFAULT_K, MAX_K};
use siamese::eval::DEFAULT_SEED;
use siamese::model::run::Dataset;
use siamese::model::run::MAX_LIMIT;
use siamese::model::SnLenet5;
use siamese::pipeline::data::dataset_of;

use crate::args::{choice, DATASETS};
use crate::flags;
use crate::source::WorkArgs;
use crate::CliResult;

#[derive(Args)]
pub struct ClassicArgs {
    /// knn-pixels, knn-embedding (needs --checkpoint) or hog-svm; repeat or comma-separate for several.
    #[arg(long, value_delimiter = ',', required = true, value_parser = choice::<Method>(Method::NAMES))]
    method: Vec<Method>,
    /// The dataset (default: the checkpoint's).
    #[arg(long, value_parser = choice::<DatasetKind>(DATASETS))]
    dataset: Option<DatasetKind>,
    /// An SN-LeNet-5 checkpoint (for knn-embedding).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    // Optional flags whose defaults are the library's: given, they must apply to a method.
    #[arg(long, help = format!("Neighbours of the k-NN vote (default: {DEFAULT_K})"), value_parser = flags::count::<MAX_K>)]
    k: Option<usize>,
    /// Seed of the train/validation split (the training part is the training data).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Train on a stratified subsample of N training images.
    #[arg(long, value_parser = flags::count::<MAX_LIMIT>)]
    limit: Option<usize>,
    #[arg(long, help = format!("The SVM's cost C (default: {DEFAULT_C})"), value_parser = |s: &str| flags::positive_up_to(s, MAX_C))]
    svm_c: Option<f32>,
    #[arg(long, help = format!("Most epochs of the SVM's dual coordinate descent (default: {DEFAULT_EPOCHS})"), value_parser = flags::count::<MAX_EPOCHS>)]
    svm_epochs: Option<usize>,
    #[command(flatten)]
    work: WorkArgs,
    /// Print the results as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Refuses flags that no chosen method uses.
fn check_flags(a: &ClassicArgs) -> CliResult {
    if a.method.contains(&Method::KnnEmbedding) && a.checkpoint.is_none() {
        return Err("--method knn-embedding needs --checkpoint".into());
    }
    let knn = a.method.iter().any(|m| *m != Method::HogSvm);
    if !knn && a.k.is_some() {
        return Err("--k applies to --method knn-pixels or knn-embedding".into());
    }
    if !a.method.contains(&Method::HogSvm) && (a.svm_c.is_some() || a.svm_epochs.is_some()) {
        return Err("--svm-c and --svm-epochs apply to --method hog-svm".into());
    }
    Ok(())
}

pub fn run(a: ClassicArgs) -> CliResult {
    a.work.start()?;
    check_flags(&a)?;
    let model = match &a.checkpoint {
        Some(p) => Some(SnLenet5::from_checkpoint(p)?),
        None => None,
    };
    let d = &a.work.data;
    let dataset: Dataset = match (&a.dataset, &model, &d.images) {
        (Some(kind), _, _) => (*kind).into(),
        (None, Some((_, cfg)), _) => dataset_of(cfg, &d.source())?,
        (None, None, Some(_)) => d.dataset_or(DatasetKind::Mnist)?,
        (None, None, None) => return Err("give --dataset, --images or --checkpoint".into()),
    };
    let data = siamese::pipeline::data::load(&dataset, &d.source())?;
    let options = BaselineOptions {
        methods: a.method.clone(),
        k: a.k.unwrap_or(DEFAULT_K),
        seed: a.seed,
        limit: a.limit,
        svm: SvmParams {
            c: a.svm_c.unwrap_or(DEFAULT_C),
            epochs: a.svm_epochs.unwrap_or(DEFAULT_EPOCHS),
            ..SvmParams::default()
        },
        hog: HogParams::default(),
        batch: a.work.batch,
    };
    let model = model.as_ref().map(|(m, _)| m);
    let (train, test, title) = (&data.train, &data.test, &data.title);
    let reports = run_baselines(
        &options,
        model,
        (&dataset, data.val.as_deref()),
        train,
        test,
        |r| {
            if !a.json {
                println!(
                "{} on {}: {} training, {} test images: accuracy {:.2}%, fit {:.2} s, predict {:.2} s",
                r.method,
                title,
                r.train,
                r.test,
                r.accuracy * 100.0,
                r.fit_seconds,
                r.predict_seconds
            );
            }
        },
    )?;
    if a.json {
        println!("{}", siamese::model::json::to_pretty(&reports)?);
    }
    Ok(())
}
