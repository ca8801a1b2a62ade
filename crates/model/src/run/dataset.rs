//! What a run trains on ([`Dataset`]): one of the three benchmark datasets, or a user's image
//! folder ([`ImageFolder`]: `--images DIR`), with the rules that depend on which: the input
//! shape, the class names, the recipe family, the run folder's name.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use siamese_data::{input_name, parse_input, DatasetKind, Fit};

/// A user's image folder as a run's data: the folder (one subfolder per class, or `train/`,
/// `val/`, `test/` holding them), the network's input and fit, and the class names found when
/// the run started (label i = `class_names[i]`), so a checkpoint knows its classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFolder {
    pub dir: PathBuf,
    /// Input shape (channels, height, width).
    pub input: (usize, usize, usize),
    pub fit: Fit,
    pub class_names: Vec<String>,
}

/// What a run trains on. In JSON a benchmark is its name (`"mnist"`, as every config.json
/// written before folders existed) and a folder an object
/// `{"images": DIR, "input": "1x28x28", "fit": "stretch", "classes": [...]}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dataset {
    Bench(DatasetKind),
    Folder(ImageFolder),
}

impl From<DatasetKind> for Dataset {
    fn from(kind: DatasetKind) -> Self {
        Dataset::Bench(kind)
    }
}

impl Dataset {
    /// The benchmark dataset, or None for a folder.
    pub fn kind(&self) -> Option<DatasetKind> {
        match self {
            Dataset::Bench(k) => Some(*k),
            Dataset::Folder(_) => None,
        }
    }

    /// The benchmark whose recipe (`--recipe ours|paper`: epochs, schedule, augmentation,
    /// embedding) a run starts from. The rule for folders: gray images train as
    /// Fashion-MNIST does, colour images as CIFAR-10 does.
    pub fn family(&self) -> DatasetKind {
        match self {
            Dataset::Bench(k) => *k,
            Dataset::Folder(f) if f.input.0 == 1 => DatasetKind::FashionMnist,
            Dataset::Folder(_) => DatasetKind::Cifar10,
        }
    }

    /// How an image file of another size is brought to the input: a folder's `--fit`; the
    /// default ([`Fit::Stretch`]) for a benchmark.
    pub fn fit(&self) -> Fit {
        match self {
            Dataset::Bench(_) => Fit::default(),
            Dataset::Folder(f) => f.fit,
        }
    }

    /// The network's input (channels, height, width).
    pub fn geometry(&self) -> (usize, usize, usize) {
        match self {
            Dataset::Bench(k) => k.geometry(),
            Dataset::Folder(f) => f.input,
        }
    }

    /// Class names, indexed by label.
    pub fn class_names(&self) -> Vec<String> {
        match self {
            Dataset::Bench(k) => k.class_names().iter().map(|s| s.to_string()).collect(),
            Dataset::Folder(f) => f.class_names.clone(),
        }
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        match self {
            Dataset::Bench(k) => k.num_classes(),
            Dataset::Folder(f) => f.class_names.len(),
        }
    }

    /// A short name for folders and messages: the benchmark's (`mnist`), or the folder's own
    /// name (`flowers` for `--images data/flowers`).
    pub fn name(&self) -> String {
        match self {
            Dataset::Bench(k) => k.name().to_string(),
            Dataset::Folder(f) => f
                .dir
                .file_name()
                .map_or_else(|| "images".into(), |n| n.to_string_lossy().into_owned()),
        }
    }

    /// How reports title it: "MNIST", or "images in DIR".
    pub fn title(&self) -> String {
        match self {
            Dataset::Bench(k) => k.title().to_string(),
            Dataset::Folder(f) => format!("images in {}", f.dir.display()),
        }
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dataset::Bench(k) => f.write_str(k.name()),
            Dataset::Folder(d) => write!(f, "{}", d.dir.display()),
        }
    }
}

/// The JSON form of a folder.
#[derive(Serialize, Deserialize)]
struct FolderJson {
    images: PathBuf,
    input: String,
    fit: String,
    classes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum DatasetJson {
    Name(String),
    Folder(FolderJson),
}

impl Serialize for Dataset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Dataset::Bench(k) => DatasetJson::Name(k.name().into()),
            Dataset::Folder(f) => DatasetJson::Folder(FolderJson {
                images: f.dir.clone(),
                input: input_name(f.input),
                fit: f.fit.name().into(),
                classes: f.class_names.clone(),
            }),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Dataset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        Ok(match DatasetJson::deserialize(d)? {
            DatasetJson::Name(n) => Dataset::Bench(n.parse().map_err(D::Error::custom)?),
            DatasetJson::Folder(f) => {
                if f.classes.len() < 2 {
                    return Err(D::Error::custom("an image folder needs at least 2 classes"));
                }
                Dataset::Folder(ImageFolder {
                    dir: f.images,
                    input: parse_input(&f.input).map_err(D::Error::custom)?,
                    fit: f.fit.parse().map_err(D::Error::custom)?,
                    class_names: f.classes,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(c: usize) -> Dataset {
        Dataset::Folder(ImageFolder {
            dir: PathBuf::from("data/my flowers"),
            input: (c, 40, 36),
            fit: Fit::Crop,
            class_names: (0..300).map(|i| format!("class {i}")).collect(),
        })
    }

    #[test]
    fn json_keeps_benchmark_names_and_round_trips_folders() {
        let m = Dataset::Bench(DatasetKind::FashionMnist);
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"fashion-mnist\"");
        for d in [m, folder(1), folder(3)] {
            let back: Dataset = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            assert_eq!(back, d);
        }
        for bad in [
            "\"imagenet\"",
            r#"{"images":"d","input":"2x28x28","fit":"crop","classes":["a","b"]}"#,
            r#"{"images":"d","input":"1x28x28","fit":"squash","classes":["a","b"]}"#,
            r#"{"images":"d","input":"1x28x28","fit":"crop","classes":["a"]}"#,
        ] {
            assert!(serde_json::from_str::<Dataset>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folders_follow_their_input() {
        let (g, c) = (folder(1), folder(3));
        assert_eq!(
            (g.family(), c.family()),
            (DatasetKind::FashionMnist, DatasetKind::Cifar10)
        );
        assert_eq!((g.geometry(), g.num_classes()), ((1, 40, 36), 300));
        assert_eq!(g.name(), "my flowers");
        assert_eq!(g.kind(), None);
    }
}
