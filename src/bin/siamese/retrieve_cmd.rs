//! `siamese retrieve`: recall@1/5/10 and mAP of split queries against a split gallery, or the
//! gallery images nearest one image file (siamese_eval::retrieval), by the distance the model
//! was trained with.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use siamese::data::{read_image, ImageSet};
use siamese::eval::retrieval::{
    nearest_images, search_split, Neighbour, MAX_NEIGHBOURS, MAX_QUERIES,
};
use siamese::model::config::Distance;

use crate::common::{check_outputs, save_png};
use crate::flags;
use crate::source::{load, Loaded, SourceArgs};
use crate::CliResult;

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
    #[arg(long, value_parser = flags::count::<MAX_NEIGHBOURS>)]
    k: Option<usize>,
    /// Use only the first N query images of --query test|train (a quick look; default all).
    #[arg(long, value_parser = flags::count::<MAX_QUERIES>)]
    max_queries: Option<usize>,
    /// For an image query: draw the query beside each of its k nearest images, as a PNG.
    #[arg(long)]
    strip: Option<PathBuf>,
    /// Print the result as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The images of a split: the run's training part or the whole test set.
fn images(l: &Loaded, split: SplitName) -> (&ImageSet, Vec<u32>) {
    match split {
        SplitName::Train => (&l.train, l.train_idx.clone()),
        SplitName::Test => (&l.test, (0..l.test.len() as u32).collect()),
    }
}

pub fn run(a: RetrieveArgs) -> CliResult {
    let query = match a.query.as_str() {
        "train" => Some(SplitName::Train),
        "test" => Some(SplitName::Test),
        _ => None,
    };
    if query.is_some() {
        if a.k.is_some() || a.strip.is_some() {
            return Err("--k and --strip apply to an image query (--query FILE); test or train queries report recall@1/5/10 and mAP".into());
        }
    } else if a.max_queries.is_some() {
        return Err("--max-queries applies to --query test or train, not to an image".into());
    } else if let Some(strip) = &a.strip {
        check_outputs(
            &[("--strip", strip)],
            &[
                ("--query", Path::new(&a.query)),
                ("--checkpoint", &a.src.checkpoint),
            ],
        )?;
    }
    let l = load(&a.src)?;
    let Some(query) = query else {
        return retrieve_image(&a, &l, Path::new(&a.query));
    };
    if query == a.gallery {
        return Err(
            "--query and --gallery name the same split: every query would find itself".into(),
        );
    }
    let (gset, gids) = images(&l, a.gallery);
    let (qset, mut qids) = images(&l, query);
    qids.truncate(a.max_queries.unwrap_or(usize::MAX));
    let r = search_split(&l.model, (gset, &gids), (qset, &qids), a.src.work.batch)?;
    if a.json {
        println!("{}", siamese::model::json::to_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{}: {} queries against {} gallery images, embedding size {}, {} threads",
        l.title,
        r.query_images,
        r.metrics.gallery,
        l.model.subnet.dims.embedding(),
        rayon::current_num_threads()
    );
    println!(
        "  embedding: {:.2} s gallery + {:.2} s queries; exact search and full rankings for recall@k and mAP (blocked GEMM): {:.2} s",
        r.gallery_embed_seconds,
        r.embed_seconds - r.gallery_embed_seconds,
        r.metrics_seconds
    );
    let recall: Vec<String> = r
        .metrics
        .recall_at
        .iter()
        .map(|(k, v)| format!("recall@{k} {:.2}%", v * 100.0))
        .collect();
    println!(
        "  {}, mAP {:.2}%",
        recall.join(", "),
        r.metrics.mean_average_precision * 100.0
    );
    Ok(())
}

fn retrieve_image(a: &RetrieveArgs, l: &Loaded, path: &Path) -> CliResult {
    let (gset, gids) = images(l, a.gallery);
    let img = read_image(path, (gset.channels, gset.height, gset.width))?;
    if let Some(note) = img.resize_note() {
        eprintln!("{note}");
    }
    let k = a.k.unwrap_or(10);
    let nn = nearest_images(&l.model, gset, &gids, &img.tensor()?, k, a.src.work.batch)?;
    if a.json {
        println!("{}", siamese::model::json::to_pretty(&nn)?);
    } else {
        print_neighbours(gset, &gids, &nn, path);
    }
    if let Some(out) = &a.strip {
        let shown: Vec<(usize, f32)> = nn
            .iter()
            .map(|n| (gids[n.index as usize] as usize, n.distance))
            .collect();
        let title = format!(
            "{}: its {} nearest gallery images",
            path.display(),
            nn.len()
        );
        let name = match l.model.config.distance {
            Distance::Euclidean => "Euclidean",
            Distance::Cosine => "cosine",
        };
        let pic = siamese::data::viz::query_strip(gset, &img.pixels, &shown, &title, name)?;
        save_png(out, &pic)?;
        println!(
            "wrote {}: the query beside each neighbour, labelled class and distance",
            out.display()
        );
    }
    Ok(())
}

fn print_neighbours(gset: &ImageSet, gids: &[u32], nn: &[Neighbour], path: &Path) {
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
            n.distance
        );
    }
}
