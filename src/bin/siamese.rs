//! `siamese`: the command-line program. Subcommands arrive with the model and data crates.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("-h") | Some("--help") | Some("help") => {
            println!("siamese {}", env!("CARGO_PKG_VERSION"));
            println!("A siamese LeNet-5 network, every equation from scratch.");
            println!();
            println!("Usage: siamese <COMMAND>");
            println!();
            println!("Commands are being built; see README.md.");
        }
        Some(other) => {
            eprintln!("error: unknown command '{other}' (try `siamese --help`)");
            std::process::exit(2);
        }
    }
}
