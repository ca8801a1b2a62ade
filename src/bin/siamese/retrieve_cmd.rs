//! `siamese retrieve`: recall@1/5/10 and mAP of split queries against a split gallery, or the
//! gallery images nearest one image file (siamese_eval::retrieval), by the distance the model
//! was trained with.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;
use siamese::data::{read_image_fit, ImageSet};
use siamese::eval::retrieval::{
    nearest_images, search_split, FoundImage, SplitSearch, MAX_NEIGHBOURS, MAX_QUERIES,
};
use siamese::model::config::Distance;
use siamese::pipeline::folder::load_queries;

use crate::common::{check_outputs, check_png_name, save_png};
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
    /// The queries: `test`, `train`, an image file (PNG, JPEG, BMP, PNM), or a folder of class folders (recall@k and mAP of all its images, labelled by class name; classes the gallery lacks are left out).
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
    if let Some(strip) = &a.strip {
        check_png_name(strip, "--strip")?;
    }
    let l = load(&a.src)?;
    let Some(query) = query else {
        if Path::new(&a.query).is_dir() {
            return retrieve_folder(&a, &l, Path::new(&a.query));
        }
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
    print_search(&a, &l, &r)
}

/// `--query DIR`: every image of the folder against the gallery.
fn retrieve_folder(a: &RetrieveArgs, l: &Loaded, dir: &Path) -> CliResult {
    if a.k.is_some() || a.strip.is_some() {
        return Err("--k and --strip apply to an image query (--query FILE); a folder of queries reports recall@1/5/10 and mAP".into());
    }
    let (gset, gids) = images(l, a.gallery);
    let geometry = (gset.channels, gset.height, gset.width);
    let names = &gset.class_names;
    let (qset, left_out) = load_queries(dir, geometry, l.dataset.fit(), names)?;
    if left_out > 0 {
        eprintln!(
            "note: {left_out} images of {} are of classes the gallery lacks: left out",
            dir.display()
        );
    }
    let mut qids: Vec<u32> = (0..qset.len() as u32).collect();
    qids.truncate(a.max_queries.unwrap_or(usize::MAX));
    let r = search_split(&l.model, (gset, &gids), (&qset, &qids), a.src.work.batch)?;
    print_search(a, l, &r)
}

/// The report of a search of many queries: recall@k and mAP, as text or JSON.
fn print_search(a: &RetrieveArgs, l: &Loaded, r: &SplitSearch) -> CliResult {
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

/// `--json` of an image query: the query, the gallery it searched and what it found.
#[derive(Serialize)]
struct ImageQueryJson<'a> {
    query: &'a Path,
    /// "train" or "test": `found[].image` is an index in that split's image file.
    gallery: &'a str,
    distance: &'a str,
    found: &'a [FoundImage],
}

fn retrieve_image(a: &RetrieveArgs, l: &Loaded, path: &Path) -> CliResult {
    let (gset, gids) = images(l, a.gallery);
    let img = read_image_fit(
        path,
        (gset.channels, gset.height, gset.width),
        l.dataset.fit(),
    )?;
    if let Some(note) = img.resize_note() {
        eprintln!("{note}");
    }
    let k = a.k.unwrap_or(10);
    let nn = nearest_images(&l.model, gset, &gids, &img.tensor()?, k, a.src.work.batch)?;
    let gallery = match a.gallery {
        SplitName::Train => "train",
        SplitName::Test => "test",
    };
    let distance = match l.model.config.distance {
        Distance::Euclidean => "Euclidean",
        Distance::Cosine => "cosine",
    };
    if a.json {
        let j = ImageQueryJson {
            query: path,
            gallery,
            distance,
            found: &nn,
        };
        println!("{}", siamese::model::json::to_pretty(&j)?);
    } else {
        print_neighbours(gallery, gids.len(), &nn, path, distance);
    }
    if let Some(out) = &a.strip {
        let shown: Vec<(usize, f32)> = nn.iter().map(|n| (n.image as usize, n.distance)).collect();
        let title = format!(
            "{}: its {} nearest gallery images",
            path.display(),
            nn.len()
        );
        let pic = siamese::data::viz::query_strip(gset, &img.pixels, &shown, &title, distance)?;
        save_png(out, &pic)?;
        println!(
            "wrote {}: the query beside each neighbour, labelled class and distance",
            out.display()
        );
    }
    Ok(())
}

/// The text of an image query: `image` is the index in the gallery split's file, as in `--json`.
fn print_neighbours(gallery: &str, n: usize, nn: &[FoundImage], path: &Path, distance: &str) {
    println!(
        "{} nearest of {n} {gallery} images to {} ({distance} distance; image: its index in the {gallery} file):",
        nn.len(),
        path.display(),
    );
    for (r, f) in nn.iter().enumerate() {
        println!(
            "  {:>2}. image {:>5}  class {} ({})  distance {:.4}",
            r + 1,
            f.image,
            f.label,
            f.class,
            f.distance
        );
    }
}
