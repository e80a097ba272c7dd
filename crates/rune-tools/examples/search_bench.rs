//! `text_search` against ripgrep, side by side in one run, on generated data.
//!
//! ```sh
//! scripts/install-bench-tools.sh
//! cargo run --release -p rune-tools --example search_bench -- --rounds 7
//! ```
//!
//! Data (generated once, reused; never in the repository) goes under
//! `$TMPDIR/rune-search-bench` unless `--dir` says otherwise:
//! - `big-v2.txt`: one text file of `--file-mb` MiB (default 200);
//! - `tree-v2/`: `--files` source-like files (default 20000) in nested directories, with a
//!   `.gitignore`d `build/` directory.
//!
//! Each case runs once on each side to warm the page cache, then `--rounds` times
//! alternating Rune and rg. Rune is `rune_tools::search::search` called in this process plus
//! the rendering of its text result (what the tool returns, before JSON framing); rg is a
//! child process whose output is read through a pipe (not `/dev/null`, which rg notices and
//! stops at the first match), from spawn to exit. Both report line and column; both honour
//! `.gitignore` and skip hidden and binary files. Every round checks that both found the same
//! number of matching lines.

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rune_tools::Roots;
use rune_tools::search::{SearchOptions, TextSearchArgs, Unobserved, render_text, search};

struct Opts {
    dir: PathBuf,
    rounds: usize,
    file_mb: usize,
    files: usize,
    rg: String,
    only: Option<String>,
}

fn parse() -> Opts {
    let mut o = Opts {
        dir: std::env::temp_dir().join("rune-search-bench"),
        rounds: 5,
        file_mb: 200,
        files: 20_000,
        rg: "rg".to_owned(),
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--dir" => o.dir = PathBuf::from(val()),
            "--rounds" => o.rounds = val().parse().unwrap(),
            "--file-mb" => o.file_mb = val().parse().unwrap(),
            "--files" => o.files = val().parse().unwrap(),
            "--rg" => o.rg = val(),
            "--only" => o.only = Some(val()),
            "-h" | "--help" => {
                println!(
                    "search_bench [--dir DIR] [--rounds N] [--file-mb MB] [--files N] [--rg PATH] \
                     [--only NAME-SUBSTRING]"
                );
                std::process::exit(0);
            }
            _ => panic!("unknown argument {a}"),
        }
    }
    o
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "that",
    "with",
    "on",
    "as",
    "by",
    "this",
    "from",
    "value",
    "result",
    "error",
    "return",
    "match",
    "self",
    "let",
    "mut",
    "struct",
    "impl",
    "fn",
    "pub",
    "use",
    "crate",
    "super",
    "where",
    "type",
    "trait",
    "enum",
    "const",
    "static",
    "async",
    "await",
    "move",
    "loop",
    "while",
    "break",
    "continue",
    "if",
    "else",
    "Some",
    "None",
    "Ok",
    "Err",
    "Vec",
    "String",
    "Option",
    "Result",
    "Box",
    "Arc",
    "Mutex",
    "buffer",
    "reader",
    "writer",
    "config",
    "handler",
    "request",
    "response",
    "server",
    "client",
    "message",
    "frame",
    "stream",
    "socket",
    "thread",
    "worker",
    "queue",
    "cache",
    "index",
    "offset",
    "length",
    "count",
    "parse",
    "encode",
    "decode",
    "read",
    "write",
    "flush",
    "close",
    "open",
    "path",
    "file",
    "dir",
    "root",
    "tree",
    "node",
    "edge",
    "graph",
    "search",
    "find",
    "filter",
    "map",
    "fold",
    "collect",
    "iter",
    "into",
    "from_str",
    "to_string",
    "clone",
    "drop",
    "new",
    "default",
    "build",
    "run",
];

/// One line of code-like text; now and then a needle, a ticket id, or a shouting NEEDLE.
fn line(r: &mut Rng, out: &mut String) {
    let indent = r.below(4) * 4;
    for _ in 0..indent {
        out.push(' ');
    }
    let n = 3 + r.below(10);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        let k = r.below(12_000);
        match k {
            0 => out.push_str("needle"),
            1 => out.push_str("Needle"),
            2 => {
                out.push_str(&format!("TKT-{:04}", r.below(10000)));
            }
            3 => out.push_str("NEEDLE"),
            _ => out.push_str(WORDS[r.below(WORDS.len())]),
        }
        if r.below(8) == 0 {
            out.push_str(["(", ");", ",", " {", " }", ";"][r.below(6)]);
        }
    }
    out.push('\n');
}

fn generate(o: &Opts) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(&o.dir).unwrap();
    let big = o.dir.join("big-v2.txt");
    let want = (o.file_mb as u64) << 20;
    if std::fs::metadata(&big).map(|m| m.len()).unwrap_or(0) < want {
        eprintln!("generating {} ({} MiB)", big.display(), o.file_mb);
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut f =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&big).unwrap());
        let mut written = 0u64;
        let mut s = String::new();
        while written < want {
            s.clear();
            for _ in 0..1000 {
                line(&mut r, &mut s);
            }
            f.write_all(s.as_bytes()).unwrap();
            written += s.len() as u64;
        }
        f.flush().unwrap();
    }
    let tree = o.dir.join("tree-v2");
    let stamp = tree.join(format!(".complete-{}", o.files));
    if !stamp.exists() {
        eprintln!("generating {} ({} files)", tree.display(), o.files);
        let _ = std::fs::remove_dir_all(&tree);
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join(".gitignore"), "build/\n*.tmp\n").unwrap();
        let mut r = Rng(0x1234_5678_9abc_def1);
        let exts = ["rs", "py", "js", "go", "c", "h", "md", "toml"];
        let mut s = String::new();
        for i in 0..o.files {
            // Three levels: 20 top directories, 10 below each, files spread over them.
            let top = i % 20;
            let mid = (i / 20) % 10;
            let dir = if i % 50 == 49 {
                tree.join(format!("m{top:02}/build"))
            } else {
                tree.join(format!("m{top:02}/s{mid}/p{}", (i / 200) % 10))
            };
            std::fs::create_dir_all(&dir).unwrap();
            s.clear();
            let lines = 20 + r.below(140);
            for _ in 0..lines {
                line(&mut r, &mut s);
            }
            let name = format!("file{i}.{}", exts[i % exts.len()]);
            std::fs::write(dir.join(name), &s).unwrap();
        }
        std::fs::write(&stamp, "").unwrap();
    }
    (big, tree)
}

struct Case {
    name: &'static str,
    path: PathBuf,
    args: TextSearchArgs,
    rg_flags: Vec<&'static str>,
    threads: usize,
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Who a CPU time is read for.
#[derive(Clone, Copy)]
enum Who {
    /// This process, all its threads.
    Me,
    /// Its children that were waited for.
    Children,
}

/// CPU time (user + system) from `/proc/self/stat`, in clock ticks (100 per second here;
/// the table shows means over the rounds, so the resolution is 10 ms / rounds).
fn cpu(who: Who) -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(4)
        .map(|x| x.parse().unwrap())
        .collect();
    let ticks = match who {
        Who::Me => f[0] + f[1],
        Who::Children => f[2] + f[3],
    };
    Duration::from_millis(ticks * 10)
}

/// One run: wall time, CPU time, matching lines.
struct Run {
    wall: Duration,
    cpu: Duration,
    lines: usize,
}

fn run_rune(roots: &Roots, c: &Case) -> Run {
    let opts = SearchOptions {
        threads: c.threads,
        ..Default::default()
    };
    let c0 = cpu(Who::Me);
    let t = Instant::now();
    let out = search(roots, &c.args, &opts, &Unobserved).unwrap();
    let text = render_text(&out);
    let d = t.elapsed();
    let used = cpu(Who::Me) - c0;
    assert!(
        !out.truncated,
        "{}: Rune's result was cut: {:?}",
        c.name, out.note
    );
    std::hint::black_box(text);
    Run {
        wall: d,
        cpu: used,
        lines: out.matches.len(),
    }
}

fn run_rg(o: &Opts, c: &Case) -> Run {
    let mut cmd = Command::new(&o.rg);
    cmd.args([
        "--no-config",
        "-n",
        "--column",
        "--no-heading",
        "--with-filename",
    ])
    .args(["--color", "never", "--no-require-git", "--no-ignore-global"]);
    if c.threads != 0 {
        cmd.args(["-j", &c.threads.to_string()]);
    }
    cmd.args(&c.rg_flags)
        .args(["-e", c.args.pattern.as_deref().unwrap()])
        .arg(&c.path)
        .stdout(Stdio::piped());
    let c0 = cpu(Who::Children);
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let d = t.elapsed();
    let used = cpu(Who::Children) - c0;
    assert!(out.status.code().unwrap_or(2) <= 1, "{}: rg failed", c.name);
    Run {
        wall: d,
        cpu: used,
        lines: memchr::memchr_iter(b'\n', &out.stdout).count(),
    }
}

fn main() {
    let o = parse();
    let version = Command::new(&o.rg).arg("--version").output();
    let Ok(version) = version else {
        eprintln!("{} not found: run scripts/install-bench-tools.sh", o.rg);
        std::process::exit(1);
    };
    let (big, tree) = generate(&o);
    let roots = Roots::new([&o.dir]).unwrap();
    let mk = |pattern: &str, path: &Path, f: &dyn Fn(&mut TextSearchArgs)| {
        let mut a = TextSearchArgs::new(pattern);
        a.path = path.to_string_lossy().into_owned();
        a.max_results = 10_000;
        a.max_bytes = 4 << 20;
        f(&mut a);
        a
    };
    let regex = |a: &mut TextSearchArgs| a.regex = true;
    let fold = |a: &mut TextSearchArgs| a.case_insensitive = true;
    let plain = |_: &mut TextSearchArgs| {};
    let mut cases = vec![
        Case {
            name: "file literal",
            path: big.clone(),
            args: mk("needle", &big, &plain),
            rg_flags: vec!["-F"],
            threads: 0,
        },
        Case {
            name: "file literal, 1 thread",
            path: big.clone(),
            args: mk("needle", &big, &plain),
            rg_flags: vec!["-F"],
            threads: 1,
        },
        Case {
            name: "file regex",
            path: big.clone(),
            args: mk(r"TKT-[0-9]{3}7", &big, &regex),
            rg_flags: vec![],
            threads: 0,
        },
        Case {
            name: "file regex, 1 thread",
            path: big.clone(),
            args: mk(r"TKT-[0-9]{3}7", &big, &regex),
            rg_flags: vec![],
            threads: 1,
        },
        Case {
            name: "file -i",
            path: big.clone(),
            args: mk("needle", &big, &fold),
            rg_flags: vec!["-F", "-i"],
            threads: 0,
        },
        Case {
            name: "file -i, 1 thread",
            path: big.clone(),
            args: mk("needle", &big, &fold),
            rg_flags: vec!["-F", "-i"],
            threads: 1,
        },
        Case {
            name: "tree literal",
            path: tree.clone(),
            args: mk("needle", &tree, &plain),
            rg_flags: vec!["-F"],
            threads: 0,
        },
        Case {
            name: "tree regex",
            path: tree.clone(),
            args: mk(r"TKT-[0-9]{4}", &tree, &regex),
            rg_flags: vec![],
            threads: 0,
        },
        Case {
            name: "tree -i",
            path: tree.clone(),
            args: mk("needle", &tree, &fold),
            rg_flags: vec!["-F", "-i"],
            threads: 0,
        },
    ];
    if let Some(only) = &o.only {
        cases.retain(|c| c.name.contains(only.as_str()));
    }
    println!(
        "{} ({} CPUs), {} rounds: median wall time, mean CPU time; ratio = rg / Rune \
         (above 1: Rune faster or cheaper)",
        String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or("rg"),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        o.rounds
    );
    println!(
        "{:<24} {:>7} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7}",
        "case", "matches", "Rune wall", "rg wall", "ratio", "Rune CPU", "rg CPU", "ratio"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for c in &cases {
        // Warm-up: page cache, and both sides' first-run costs.
        let n_rune = run_rune(&roots, c).lines;
        let n_rg = run_rg(&o, c).lines;
        assert_eq!(
            n_rune, n_rg,
            "{}: Rune and rg disagree on the matches",
            c.name
        );
        let (mut rw, mut rc, mut gw, mut gc) = (vec![], vec![], vec![], vec![]);
        for _ in 0..o.rounds {
            let r = run_rune(&roots, c);
            assert_eq!(r.lines, n_rg);
            rw.push(r.wall);
            rc.push(r.cpu);
            let g = run_rg(&o, c);
            assert_eq!(g.lines, n_rg);
            gw.push(g.wall);
            gc.push(g.cpu);
        }
        // CPU times come in 10 ms ticks: their mean over the rounds is finer than a median.
        let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len().max(1) as u32;
        let (rc, gc) = (mean(&rc), mean(&gc));
        let (rw, gw) = (median(&mut rw), median(&mut gw));
        println!(
            "{:<24} {:>7} {:>8.1}ms {:>8.1}ms {:>6.2}× {:>8.1}ms {:>8.1}ms {:>6.2}×",
            c.name,
            n_rg,
            ms(rw),
            ms(gw),
            gw.as_secs_f64() / rw.as_secs_f64(),
            ms(rc),
            ms(gc),
            gc.as_secs_f64() / rc.as_secs_f64().max(1e-9)
        );
    }
}
