//! The subcommands beyond the paper: `oneshot` (N-way K-shot recognition), `retrieve`
//! (similarity search, recall@k, mAP), `classic` (k-NN and HOG + linear SVM baselines) and
//! `embed` (the test set's embeddings on a picture), plus the `--train-classes` parsing and the
//! seen/unseen/mixed report of `eval`. They parse flags, call siamese-model and print.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use siamese::data::{read_image, split, DatasetKind, ImageSet, Pair};
use siamese::eval::classic::hog::HogParams;
use siamese::eval::classic::hog_svm;
use siamese::eval::classic::svm::SvmParams;
use siamese::eval::embed::{embeddings_csv, embeddings_npy, plot_scatter};
use siamese::eval::groups::GroupEvaluation;
use siamese::eval::knn::{knn_report, pixel_rows, ClassifierReport};
use siamese::eval::oneshot::one_shot;
use siamese::eval::pca::Pca;
use siamese::eval::retrieval::{embed_images, knn_search, retrieval_metrics};
use siamese::model::SnLenet5;

use crate::args::{choice, DataArgs, DATASETS};
use crate::common::{save_png, set_threads};
use crate::CliResult;

type Error = Box<dyn std::error::Error>;

/// Where the data comes from and how the work is split (every command here).
#[derive(Args)]
pub struct WorkArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Images per embedding batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

impl WorkArgs {
    /// Sets up the thread pool and checks the batch.
    fn start(&self) -> CliResult {
        set_threads(self.threads)?;
        if self.batch == 0 {
            return Err("--batch must be at least 1".into());
        }
        Ok(())
    }
}

/// Flags shared by the commands that read a checkpoint and its dataset.
#[derive(Args)]
pub struct SourceArgs {
    /// An SN-LeNet-5 checkpoint written by `siamese train` (best.safetensors).
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    work: WorkArgs,
}

/// The checkpoint's network, its dataset, and the training part of the paper's split (the
/// split seed is the run's seed, so it is the run's own training part, all classes).
struct Loaded {
    model: SnLenet5,
    kind: DatasetKind,
    title: String,
    train: Arc<ImageSet>,
    test: Arc<ImageSet>,
    train_idx: Vec<u32>,
    train_classes: Option<Vec<u8>>,
}

fn load(s: &SourceArgs) -> Result<Loaded, Error> {
    s.work.start()?;
    let (model, cfg) = SnLenet5::from_checkpoint(&s.checkpoint)?;
    let kind = cfg.dataset;
    let data = crate::data_cmds::load(kind, &s.work.data)?;
    let (train, test) = (data.train, data.test);
    let (train_idx, _) = split::paper_split(kind, &train, cfg.seed)?;
    Ok(Loaded {
        model,
        kind,
        title: data.title,
        train: Arc::new(train),
        test: Arc::new(test),
        train_idx,
        train_classes: cfg.train_classes,
    })
}

/// A class list for `kind`: indices, ranges or names.
fn parse_class_list(kind: DatasetKind, spec: &str) -> Result<Vec<u8>, Error> {
    let names: Vec<String> = kind.class_names().iter().map(|s| s.to_string()).collect();
    Ok(split::parse_classes(spec, &names)?)
}

/// `--train-classes` for `kind`: at least two classes (checked here too, so that the mistake
/// shows before any data is read).
pub fn parse_train_classes(kind: DatasetKind, spec: &str) -> Result<Vec<u8>, Error> {
    let classes = parse_class_list(kind, spec)?;
    if classes.len() < 2 {
        return Err(format!("--train-classes needs at least two classes, got '{spec}'").into());
    }
    Ok(classes)
}

/// Prints the seen / unseen / mixed / all pair groups of a run trained on a class subset.
pub fn print_class_groups(classes: &[u8], names: &[String], groups: &[GroupEvaluation]) {
    let list: Vec<&str> = classes
        .iter()
        .map(|&c| names[c as usize].as_str())
        .collect();
    println!("trained on classes {}:", list.join(", "));
    let pct =
        |v: Option<f64>, scale: f64| v.map_or("-".to_string(), |v| format!("{:.4}", v * scale));
    println!(
        "  {:<7} {:>6} {:>6} {:>9} {:>12} {:>8} {:>8}",
        "pairs", "count", "same", "acc@0.5", "acc@thresh", "ROC AUC", "EER %"
    );
    for g in groups {
        println!(
            "  {:<7} {:>6} {:>6} {:>8.2}% {:>11.2}% {:>8} {:>8}",
            g.group,
            g.pairs,
            g.positives,
            g.accuracy_at_half * 100.0,
            g.accuracy_at_threshold * 100.0,
            pct(g.roc_auc, 1.0),
            pct(g.equal_error_rate, 100.0)
        );
    }
}

#[derive(Args)]
pub struct OneShotArgs {
    #[command(flatten)]
    src: SourceArgs,
    /// N: classes per episode.
    #[arg(long, default_value_t = 5)]
    ways: usize,
    /// K: support images per class.
    #[arg(long, default_value_t = 1)]
    shots: usize,
    /// Episodes (one query each).
    #[arg(long, default_value_t = 1000)]
    episodes: usize,
    /// Classes the episodes draw from: indices, ranges or names (default: every class).
    #[arg(long)]
    classes: Option<String>,
    /// Seed of the episodes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run_oneshot(a: OneShotArgs) -> CliResult {
    let mut l = load(&a.src)?;
    let classes = match &a.classes {
        Some(spec) => parse_class_list(l.kind, spec)?,
        None => (0..l.test.num_classes() as u8).collect(),
    };
    let r = one_shot(
        &mut l.model,
        &l.test,
        &classes,
        a.ways,
        a.shots,
        a.episodes,
        a.seed,
        a.src.work.batch,
    )?;
    if a.json {
        println!("{}", siamese::model::json::to_pretty(&r)?);
        return Ok(());
    }
    let seen = |c: &u8| l.train_classes.as_ref().is_none_or(|t| t.contains(c));
    let unseen = classes.iter().filter(|c| !seen(c)).count();
    println!(
        "{}-way {}-shot on {} test images, {} episodes, seed {}, classes {:?} ({} of them unseen in training); chance {:.2}%",
        r.ways,
        r.shots,
        l.title,
        r.episodes,
        r.seed,
        classes,
        unseen,
        r.chance * 100.0
    );
    for m in &r.methods {
        println!(
            "  {:<16} accuracy {:.2}% (95% CI {:.2}-{:.2}%, {} of {})",
            m.method,
            m.accuracy * 100.0,
            m.ci95_low * 100.0,
            m.ci95_high * 100.0,
            m.correct,
            r.episodes
        );
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SplitName {
    Train,
    Test,
}

#[derive(Args)]
pub struct RetrieveArgs {
    #[command(flatten)]
    src: SourceArgs,
    /// The images searched: the training part of the split (48,000 for MNIST) or the test set.
    #[arg(long, value_enum, default_value = "train")]
    gallery: SplitName,
    /// The queries: `test`, `train`, or an image file (PNG, JPEG, BMP, PNM).
    #[arg(long, default_value = "test")]
    query: String,
    /// Neighbours printed for an image query (default: 10).
    #[arg(long)]
    k: Option<usize>,
    /// Use only the first N query images of --query test|train (a quick look; default all).
    #[arg(long)]
    max_queries: Option<usize>,
    /// For an image query: draw the query beside each of its k nearest images, as a PNG.
    #[arg(long)]
    strip: Option<PathBuf>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run_retrieve(a: RetrieveArgs) -> CliResult {
    if matches!(a.query.as_str(), "train" | "test") {
        if a.k.is_some() || a.strip.is_some() {
            return Err("--k and --strip apply to an image query (--query FILE); test or train queries report recall@1/5/10 and mAP".into());
        }
    } else if a.max_queries.is_some() {
        return Err("--max-queries applies to --query test or train, not to an image".into());
    }
    let l = load(&a.src)?;
    let (gset, gids): (&Arc<ImageSet>, Vec<u32>) = match a.gallery {
        SplitName::Train => (&l.train, l.train_idx.clone()),
        SplitName::Test => (&l.test, (0..l.test.len() as u32).collect()),
    };
    let dim = l.model.subnet.dims.embedding();
    let t = Instant::now();
    let gallery = embed_images(&l.model, gset, &gids, a.src.work.batch)?;
    let embed_gallery = t.elapsed().as_secs_f64();
    let gl: Vec<u8> = gids.iter().map(|&i| gset.labels[i as usize]).collect();
    let query = match a.query.as_str() {
        "train" => SplitName::Train,
        "test" => SplitName::Test,
        path => return retrieve_image(&a, &l, Path::new(path), gset, &gids, &gallery, dim),
    };
    if query == a.gallery {
        return Err(
            "--query and --gallery name the same split: every query would find itself".into(),
        );
    }
    let (qset, mut qids): (&Arc<ImageSet>, Vec<u32>) = match query {
        SplitName::Train => (&l.train, l.train_idx.clone()),
        SplitName::Test => (&l.test, (0..l.test.len() as u32).collect()),
    };
    qids.truncate(a.max_queries.unwrap_or(usize::MAX));
    let t = Instant::now();
    let queries = embed_images(&l.model, qset, &qids, a.src.work.batch)?;
    let embed_queries = t.elapsed().as_secs_f64();
    let ql: Vec<u8> = qids.iter().map(|&i| qset.labels[i as usize]).collect();
    let t = Instant::now();
    let nn = knn_search(&queries, &gallery, dim, 10)?;
    let search_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = retrieval_metrics(&queries, &ql, &gallery, &gl, dim, &[1, 5, 10])?;
    let metric_seconds = t.elapsed().as_secs_f64();
    std::hint::black_box(nn);
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        v["embed_seconds"] = (embed_gallery + embed_queries).into();
        v["knn10_search_seconds"] = search_seconds.into();
        v["metrics_seconds"] = metric_seconds.into();
        println!("{}", siamese::model::json::to_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{}: {} queries against {} gallery images, embedding size {dim}, {} threads",
        l.title,
        qids.len(),
        gids.len(),
        rayon::current_num_threads()
    );
    println!(
        "  embedding: {embed_gallery:.2} s gallery + {embed_queries:.2} s queries; exact 10-NN search (blocked GEMM): {search_seconds:.2} s; full rankings for recall@k and mAP: {metric_seconds:.2} s"
    );
    let recall: Vec<String> = r
        .recall_at
        .iter()
        .map(|(k, v)| format!("recall@{k} {:.2}%", v * 100.0))
        .collect();
    println!(
        "  {}, mAP {:.2}%",
        recall.join(", "),
        r.mean_average_precision * 100.0
    );
    Ok(())
}

fn retrieve_image(
    a: &RetrieveArgs, l: &Loaded, path: &Path, gset: &ImageSet, gids: &[u32], gallery: &[f32],
    dim: usize,
) -> CliResult {
    let geometry = (gset.channels, gset.height, gset.width);
    let img = read_image(path, geometry)?;
    if let Some(note) = img.resize_note() {
        eprintln!("{note}");
    }
    let q = l.model.embed(&img.tensor()?)?;
    let nn = knn_search(q.data(), gallery, dim, a.k.unwrap_or(10).max(1))?.remove(0);
    if a.json {
        println!("{}", siamese::model::json::to_pretty(&nn)?);
    } else {
        println!(
            "{} nearest of {} gallery images to {}:",
            nn.len(),
            gids.len(),
            path.display()
        );
        for (r, n) in nn.iter().enumerate() {
            let i = gids[n.index as usize];
            let label = gset.labels[i as usize];
            println!(
                "  {:>2}. image {i:>5}  class {label} ({})  distance {:.4}",
                r + 1,
                gset.class_names[label as usize],
                n.sq_distance.sqrt()
            );
        }
    }
    if let Some(out) = &a.strip {
        // A set of the query (image 0) and its neighbours, drawn as (query, neighbour) pairs.
        let mut pixels: Vec<u8> = img
            .pixels
            .iter()
            .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect();
        let mut labels = vec![0u8];
        for n in &nn {
            let i = gids[n.index as usize] as usize;
            pixels.extend_from_slice(gset.image(i).unwrap_or(&[]));
            labels.push(gset.labels[i]);
        }
        let set = ImageSet::new(pixels, labels.clone(), geometry, gset.class_names.clone())?;
        let pairs: Vec<Pair> = (1..=nn.len() as u32)
            .map(|b| Pair { a: 0, b, y: 0 })
            .collect();
        let text: Vec<Vec<(String, [u8; 3])>> = nn
            .iter()
            .zip(&labels[1..])
            .enumerate()
            .map(|(r, (n, &c))| {
                let name = &gset.class_names[c as usize];
                vec![(
                    format!("{}. {name}, d = {:.3}", r + 1, n.sq_distance.sqrt()),
                    [0, 0, 0],
                )]
            })
            .collect();
        let title = format!(
            "{}: its {} nearest gallery images",
            path.display(),
            nn.len()
        );
        let legend = [(
            "left: the query; right: a gallery image, its class and Euclidean distance".to_string(),
            [0, 0, 0],
        )];
        let cols = nn.len().min(5);
        let pic =
            siamese::data::viz::labelled_pair_grid(&set, &pairs, &text, &title, &legend, cols, 3)?;
        save_png(out, &pic)?;
        println!(
            "wrote {}: the query beside each neighbour, labelled class and distance",
            out.display()
        );
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Method {
    KnnPixels,
    KnnEmbedding,
    HogSvm,
}

#[derive(Args)]
pub struct ClassicArgs {
    /// knn-pixels, knn-embedding (needs --checkpoint) or hog-svm; repeat or comma-separate for several.
    #[arg(long, value_enum, value_delimiter = ',', required = true)]
    method: Vec<Method>,
    /// The dataset (default: the checkpoint's).
    #[arg(long, value_parser = choice::<DatasetKind>(DATASETS))]
    dataset: Option<DatasetKind>,
    /// An SN-LeNet-5 checkpoint (for knn-embedding).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Neighbours of the k-NN vote (default: 3).
    #[arg(long)]
    k: Option<usize>,
    /// Seed of the train/validation split (the training part is the training data).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on a stratified subsample of N training images.
    #[arg(long)]
    limit: Option<usize>,
    /// The SVM's cost C (default: 1).
    #[arg(long)]
    svm_c: Option<f32>,
    /// Most epochs of the SVM's dual coordinate descent (default: 20).
    #[arg(long)]
    svm_epochs: Option<usize>,
    #[command(flatten)]
    work: WorkArgs,
    /// Print the results as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run_classic(a: ClassicArgs) -> CliResult {
    a.work.start()?;
    let model = match &a.checkpoint {
        Some(p) => Some(SnLenet5::from_checkpoint(p)?),
        None => None,
    };
    if a.method.contains(&Method::KnnEmbedding) && model.is_none() {
        return Err("--method knn-embedding needs --checkpoint".into());
    }
    let knn = a.method.iter().any(|m| *m != Method::HogSvm);
    if !knn && a.k.is_some() {
        return Err("--k applies to --method knn-pixels or knn-embedding".into());
    }
    if !a.method.contains(&Method::HogSvm) && (a.svm_c.is_some() || a.svm_epochs.is_some()) {
        return Err("--svm-c and --svm-epochs apply to --method hog-svm".into());
    }
    let k = a.k.unwrap_or(3);
    let kind: DatasetKind = match (&a.dataset, &model) {
        (Some(d), _) => *d,
        (None, Some((_, cfg))) => cfg.dataset,
        (None, None) => return Err("give --dataset or --checkpoint".into()),
    };
    let data = crate::data_cmds::load(kind, &a.work.data)?;
    let (train, test, title) = (data.train, data.test, data.title);
    let (mut idx, _) = split::paper_split(kind, &train, a.seed)?;
    if let Some(n) = a.limit {
        idx = split::limit(&train.labels, &idx, n, a.seed)?;
    }
    let labels: Vec<u8> = idx.iter().map(|&i| train.labels[i as usize]).collect();
    let all: Vec<u32> = (0..test.len() as u32).collect();
    let mut reports: Vec<ClassifierReport> = Vec::new();
    for m in &a.method {
        let r = match m {
            Method::KnnPixels => {
                let (x, q) = (pixel_rows(&train, &idx), pixel_rows(&test, &all));
                let name = format!("knn-pixels (k={k})");
                knn_report(
                    &name,
                    &x,
                    &labels,
                    &q,
                    &test.labels,
                    train.image_len(),
                    k,
                    0.0,
                )?
            }
            Method::KnnEmbedding => {
                let (model, _) = model
                    .as_ref()
                    .ok_or("--method knn-embedding needs --checkpoint")?;
                let t = Instant::now();
                let x = embed_images(model, &train, &idx, a.work.batch)?;
                let fit = t.elapsed().as_secs_f64();
                let q = embed_images(model, &test, &all, a.work.batch)?;
                let dim = model.subnet.dims.embedding();
                let name = format!("knn-embedding (k={k})");
                knn_report(&name, &x, &labels, &q, &test.labels, dim, k, fit)?
            }
            Method::HogSvm => {
                let d = SvmParams::default();
                let sp = SvmParams {
                    c: a.svm_c.unwrap_or(d.c),
                    epochs: a.svm_epochs.unwrap_or(d.epochs),
                    seed: a.seed,
                    ..d
                };
                hog_svm(&train, &idx, &test, &HogParams::default(), &sp)?.0
            }
        };
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
        reports.push(r);
    }
    if a.json {
        println!("{}", siamese::model::json::to_pretty(&reports)?);
    }
    Ok(())
}

#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    src: SourceArgs,
    /// The scatter of the test set's embeddings on their first two principal components (PNG).
    #[arg(long, default_value = "embedding.png")]
    plot: PathBuf,
    /// Also write the embeddings: `.csv` (label, class, e0, …) or `.npy` (float32, n × E).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run_embed(a: EmbedArgs) -> CliResult {
    let l = load(&a.src)?;
    let all: Vec<u32> = (0..l.test.len() as u32).collect();
    let dim = l.model.subnet.dims.embedding();
    let emb = embed_images(&l.model, &l.test, &all, a.src.work.batch)?;
    if let Some(out) = &a.out {
        let bytes = match out.extension().and_then(|e| e.to_str()) {
            Some("csv") => {
                embeddings_csv(&emb, dim, &l.test.labels, &l.test.class_names).into_bytes()
            }
            Some("npy") => embeddings_npy(&emb, dim),
            _ => return Err(format!("{}: --out must end in .csv or .npy", out.display()).into()),
        };
        siamese::model::io::atomic_write(out, &bytes)
            .map_err(|e| format!("{}: {e}", out.display()))?;
        println!(
            "wrote {} ({} embeddings of {dim} values)",
            out.display(),
            l.test.len()
        );
    }
    let pca = Pca::fit(&emb, dim)?;
    let total: f64 = pca.variances.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let share = |j: usize| pca.variances.get(j).copied().unwrap_or(0.0) / total * 100.0;
    let points: Vec<(f64, f64, u8)> = pca
        .project(&emb, 2)
        .into_iter()
        .zip(&l.test.labels)
        .map(|(p, &c)| (p[0], p.get(1).copied().unwrap_or(0.0), c))
        .collect();
    let title = format!(
        "{} test embeddings ({} images, E = {dim}), PCA",
        l.title,
        points.len()
    );
    let axes = (
        format!("PC 1 ({:.1}% of variance)", share(0)),
        format!("PC 2 ({:.1}% of variance)", share(1)),
    );
    plot_scatter(
        &a.plot,
        &title,
        (&axes.0, &axes.1),
        &points,
        &l.test.class_names,
    )?;
    println!(
        "wrote {}: {} test embeddings on their first two principal components ({:.1}% and {:.1}% of the variance)",
        a.plot.display(),
        points.len(),
        share(0),
        share(1)
    );
    Ok(())
}
