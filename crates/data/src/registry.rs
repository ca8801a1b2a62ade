//! The registry of the three datasets: names, geometry, files on disk, what to download from where,
//! published checksums, record counts, class names and licence lines.

use std::fmt;
use std::str::FromStr;

use crate::error::DataError;

/// One of the three benchmark datasets of the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// MNIST handwritten digits, 28x28 grey.
    Mnist,
    /// Fashion-MNIST (Zalando) clothing, 28x28 grey.
    FashionMnist,
    /// CIFAR-10, 32x32 RGB, binary version.
    Cifar10,
}

/// How a downloaded file is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// Lower-case hex SHA-256.
    Sha256(&'static str),
    /// Lower-case hex MD5 (used only where no SHA-256 from a reliable source is known).
    Md5(&'static str),
}

/// One file to download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name on the mirror and on disk.
    pub name: &'static str,
    /// Published checksum.
    pub digest: Digest,
    /// Size in bytes, when known (used for the progress bar only).
    pub bytes: Option<u64>,
}

const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];
const CIFAR_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// IDX file stems shared by MNIST and Fashion-MNIST, in the order train images, train labels,
/// test images, test labels.
pub const IDX_STEMS: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// CIFAR-10 binary files: five training batches then the test batch.
pub const CIFAR_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// Optional CIFAR-10 class-name file (one name per line).
pub const CIFAR_META: &str = "batches.meta.txt";

/// Folder inside the CIFAR-10 tarball that holds the binary files.
pub const CIFAR_TAR_FOLDER: &str = "cifar-10-batches-bin";

const MNIST_REMOTE: [RemoteFile; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        digest: Digest::Sha256("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        bytes: Some(9_912_422),
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        digest: Digest::Sha256("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        bytes: Some(28_881),
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        digest: Digest::Sha256("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        bytes: Some(1_648_877),
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        digest: Digest::Sha256("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        bytes: Some(4_542),
    },
];

const FASHION_REMOTE: [RemoteFile; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        digest: Digest::Sha256("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        bytes: Some(26_421_880),
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        digest: Digest::Sha256("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        bytes: Some(29_515),
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        digest: Digest::Sha256("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        bytes: Some(4_422_102),
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        digest: Digest::Sha256("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        bytes: Some(5_148),
    },
];

/// The CIFAR-10 tarball. Its SHA-256 could not be established from a reliable source here, so it is
/// verified by the MD5 published on the CIFAR-10 page.
const CIFAR_REMOTE: [RemoteFile; 1] = [RemoteFile {
    name: "cifar-10-binary.tar.gz",
    digest: Digest::Md5("c32a1d4ab5d03f1284b67883e8d87530"),
    bytes: Some(170_052_171),
}];

impl DatasetKind {
    /// All three, in the paper's order.
    pub const ALL: [DatasetKind; 3] = [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Cifar10,
    ];

    /// Canonical name, also the folder name under the data directory: "mnist", "fashion-mnist", "cifar-10".
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar-10",
        }
    }

    /// Human-readable title.
    pub fn title(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
            DatasetKind::Cifar10 => "CIFAR-10",
        }
    }

    /// Image geometry `(channels, height, width)`: (1, 28, 28) or (3, 32, 32).
    pub fn geometry(self) -> (usize, usize, usize) {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => (1, 28, 28),
            DatasetKind::Cifar10 => (3, 32, 32),
        }
    }

    /// Channels per image.
    pub fn channels(self) -> usize {
        self.geometry().0
    }

    /// Image height.
    pub fn height(self) -> usize {
        self.geometry().1
    }

    /// Image width.
    pub fn width(self) -> usize {
        self.geometry().2
    }

    /// Number of classes (10 for all three).
    pub fn num_classes(self) -> usize {
        10
    }

    /// The standard class names (CIFAR-10 may override them from `batches.meta.txt`).
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Mnist => &MNIST_CLASSES,
            DatasetKind::FashionMnist => &FASHION_CLASSES,
            DatasetKind::Cifar10 => &CIFAR_CLASSES,
        }
    }

    /// Training records (60,000 or 50,000).
    pub fn train_count(self) -> usize {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => 60_000,
            DatasetKind::Cifar10 => 50_000,
        }
    }

    /// Test records (10,000 for all three).
    pub fn test_count(self) -> usize {
        10_000
    }

    /// Validation images taken from the training set by the paper's split (12,000 or 10,000).
    pub fn paper_val_count(self) -> usize {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => 12_000,
            DatasetKind::Cifar10 => 10_000,
        }
    }

    /// Licence / citation line.
    pub fn licence(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "CC BY-SA 3.0, Yann LeCun and Corinna Cortes",
            DatasetKind::FashionMnist => "MIT, Zalando SE 2017 (zalandoresearch/fashion-mnist)",
            DatasetKind::Cifar10 => {
                "CIFAR-10, A. Krizhevsky, V. Nair, G. Hinton; cite \"Learning Multiple Layers of Features from Tiny Images\", 2009"
            }
        }
    }

    /// Default public mirror (base URL, no trailing slash).
    pub fn default_mirror(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "https://ossci-datasets.s3.amazonaws.com/mnist",
            DatasetKind::FashionMnist => {
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
            }
            DatasetKind::Cifar10 => "https://www.cs.toronto.edu/~kriz",
        }
    }

    /// Files to download, with their published checksums.
    pub fn remote_files(self) -> &'static [RemoteFile] {
        match self {
            DatasetKind::Mnist => &MNIST_REMOTE,
            DatasetKind::FashionMnist => &FASHION_REMOTE,
            DatasetKind::Cifar10 => &CIFAR_REMOTE,
        }
    }

    /// Canonical names of the files a complete dataset folder holds (after unpacking, for CIFAR-10).
    pub fn files(self) -> Vec<String> {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => {
                IDX_STEMS.iter().map(|s| format!("{s}.gz")).collect()
            }
            DatasetKind::Cifar10 => CIFAR_FILES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    /// Parses "mnist", "fashion-mnist" (also "fashion_mnist", "fashionmnist") and "cifar-10" (also
    /// "cifar10", "cifar_10"), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "mnist" => Ok(DatasetKind::Mnist),
            "fashion-mnist" | "fashionmnist" => Ok(DatasetKind::FashionMnist),
            "cifar-10" | "cifar10" => Ok(DatasetKind::Cifar10),
            _ => Err(DataError::UnknownDataset(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.name().parse::<DatasetKind>().unwrap(), kind);
            assert_eq!(kind.class_names().len(), kind.num_classes());
        }
        assert_eq!(
            "CIFAR10".parse::<DatasetKind>().unwrap(),
            DatasetKind::Cifar10
        );
        assert!(matches!(
            "imagenet".parse::<DatasetKind>(),
            Err(DataError::UnknownDataset(_))
        ));
    }

    #[test]
    fn geometry_and_counts() {
        assert_eq!(DatasetKind::Mnist.geometry(), (1, 28, 28));
        assert_eq!(DatasetKind::Cifar10.geometry(), (3, 32, 32));
        assert_eq!(
            DatasetKind::FashionMnist.train_count() - DatasetKind::FashionMnist.paper_val_count(),
            48_000
        );
        assert_eq!(
            DatasetKind::Cifar10.train_count() - DatasetKind::Cifar10.paper_val_count(),
            40_000
        );
    }
}
