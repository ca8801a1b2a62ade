//! Embeds every image file of a folder with a trained checkpoint and prints, for each, its
//! embedding and its most similar other image. Feature `images` (on by default).
//!
//! `cargo run --release --example embed_folder -- runs/mnist/best.safetensors my-digits/`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(ck), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: embed_folder <checkpoint> <folder of images>".into());
    };
    let (mut model, _) = siamese::SnLenet5::from_checkpoint(ck.as_ref())?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut images = Vec::new();
    for f in &files {
        match siamese::load_image(f, &model) {
            Ok(x) => images.push((f, x)),
            Err(e) => eprintln!("skipped: {e}"),
        }
    }
    for (f, x) in &images {
        let e = siamese::embed(&model, x)?;
        let v: Vec<String> = e.data().iter().map(|v| format!("{v:.3}")).collect();
        println!("{}: [{}]", f.display(), v.join(", "));
    }
    for (i, (f, x)) in images.iter().enumerate() {
        let mut best: Option<(f32, &PathBuf)> = None;
        for (j, (g, y)) in images.iter().enumerate() {
            if i != j {
                let s = siamese::similarity(&mut model, x, y)?;
                if best.is_none_or(|(b, _)| s > b) {
                    best = Some((s, g));
                }
            }
        }
        if let Some((s, g)) = best {
            println!(
                "{} is most like {} (similarity {s:.3})",
                f.display(),
                g.display()
            );
        }
    }
    Ok(())
}
