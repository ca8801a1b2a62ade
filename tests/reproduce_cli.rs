//! `siamese reproduce` spread over processes: `--shard I/N` runs every N-th (row, seed) job
//! into one runs folder and leaves the doc alone; `--report-only` then writes the same tables
//! as one unsharded run.

// Not every helper of the shared module is used here.
#[allow(dead_code)]
mod common;
use common::{real_data, scratch, siamese, text};

/// The tables of `doc` with what depends on the machine's speed masked: the headline rows'
/// seconds per epoch and scoring times, and the seconds of each sensitivity cell.
fn tables_without_times(doc: &std::path::Path) -> String {
    let text = std::fs::read_to_string(doc).unwrap();
    let begin = text.find("<!-- reproduce:begin -->").expect(&text);
    text[begin..]
        .lines()
        .map(|l| {
            let mut cells: Vec<String> = l.split(" | ").map(str::to_string).collect();
            if l.starts_with("| mnist-quick |") {
                cells[6] = "T".into();
                cells[7] = "T".into();
            }
            for c in &mut cells {
                // The row's last cell keeps the closing " |".
                let end = if c.ends_with(" |") { " |" } else { "" };
                let body = &c[..c.len() - end.len()];
                if let Some(at) = body.rfind(" / ").filter(|_| body.ends_with(" s")) {
                    *c = format!("{}{end}", &body[..at]);
                }
            }
            cells.join(" | ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[ignore = "needs the real datasets: set SIAMESE_DATA_DIR"]
fn three_shards_then_report_only_give_the_tables_of_one_unsharded_run() {
    let data = real_data();
    let dir = scratch("reproduce-shards");
    let run = |runs: &str, extra: &[&str]| {
        let runs = dir.join(runs);
        let mut args = vec!["reproduce", "--quick", "--runs"];
        args.push(runs.to_str().unwrap());
        // --report-only trains nothing: it refuses --quiet with the other training flags.
        if !extra.contains(&"--report-only") {
            args.push("--quiet");
        }
        args.extend_from_slice(extra);
        let out = siamese(&args);
        let (o, e) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{args:?}:\n{o}\n{e}");
        o
    };
    let one = dir.join("one.md");
    run(
        "one",
        &[
            "--data-dir",
            &data,
            "--commit",
            "c0ffee0",
            "--doc",
            one.to_str().unwrap(),
        ],
    );
    let sharded = dir.join("sharded.md");
    let mut trained = 0;
    for i in 0..3 {
        let shard = format!("{i}/3");
        let o = run(
            "sharded",
            &[
                "--data-dir",
                &data,
                "--commit",
                "c0ffee0",
                "--shard",
                &shard,
            ],
        );
        trained += o.matches("training into").count();
        assert!(o.contains("--report-only"), "{o}");
        assert!(!sharded.exists(), "a shard wrote the doc");
    }
    assert_eq!(
        trained, 5,
        "each of the quick profile's 5 jobs in exactly one shard"
    );
    run(
        "sharded",
        &["--report-only", "--doc", sharded.to_str().unwrap()],
    );
    assert_eq!(tables_without_times(&sharded), tables_without_times(&one));
    let tables = std::fs::read_to_string(&one).unwrap();
    let unseen = tables
        .lines()
        .find(|l| l.starts_with("| mnist-quick-0-6-triplet | 0,1,2,3,4,5,6 |"));
    assert!(unseen.is_some_and(|l| !l.contains("| – |")), "{tables}");
    let again = run(
        "sharded",
        &["--data-dir", &data, "--commit", "c0ffee0", "--shard", "1/3"],
    );
    assert!(!again.contains("training into"), "{again}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_bad_shard_is_one_line_before_any_work() {
    for bad in ["3/3", "0/0", "x"] {
        let out = siamese(&["reproduce", "--quick", "--shard", bad]);
        let e = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {e}");
        assert!(e.contains("I/N"), "{bad}: {e}");
        assert!(text(&out.stdout).is_empty(), "{bad}");
    }
    let out = siamese(&["reproduce", "--shard", "0/2", "--report-only"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
