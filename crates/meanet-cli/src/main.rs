//! The `meanet` binary: command-line parsing over the `meanet_cli` composition root.

#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use meanet_cli::cmd::{self, Output};
use meanet_cli::settings::Settings;
use meanet_core::manifest::DatasetKind;

/// Complexity-aware edge-cloud inference (MEANet): easy classes exit at a small main block,
/// hard classes go on to an extension block, and what the edge is unsure of goes to the cloud.
#[derive(Debug, Parser)]
#[command(name = "meanet", version)]
struct Cli {
    /// Configuration file (TOML; see meanet.example.toml). Layers: defaults < file <
    /// MEANET_SECTION__KEY environment variables < --set.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Override one setting, e.g. --set cloud.deadline_ms=300 (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// No progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Get a data set (idempotent): Fashion-MNIST from --data, Debian's /usr/share/datasets, or
    /// `apt-get download dataset-fashion-mnist` into the cache; other kinds are checked at
    /// --data.
    Fetch {
        /// fashion-mnist, mnist, cifar10, cifar100 or folder.
        kind: DatasetKind,
        /// Its directory (required except for fashion-mnist).
        #[arg(long, value_name = "PATH")]
        data: Option<PathBuf>,
        /// Where fetched data sets are kept (default: `datasets/` under `$MEANET_CACHE`, else under
        /// the checkout's `.cache` when run inside it, else under the user's cache directory).
        #[arg(long, default_value_os_t = meanet_data::default_dataset_cache())]
        cache: PathBuf,
    },
    /// Write a generated ImageNet-style folder (`train/<class>/` and `val/<class>/` of JPEG files
    /// of mixed sizes and aspect ratios) to try the `folder` workflow, or measure the data
    /// pipeline, where ImageNet is not at hand.
    Generate(cmd::data::GenerateArgs),
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Data sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a MEANet deployment (main, extension with adaptive block, cloud) on a data set and
    /// write it as a bundle: three ONNX files, meanet.toml, results.json and train.log.
    #[cfg(feature = "train")]
    Train(Box<cmd::train::TrainArgs>),
    /// Count MACs, parameters, bytes and energy per layer of an ONNX model.
    ///
    /// Prices use the 45 nm table of Horowitz (ISSCC 2014) with weights read from DRAM.
    /// Operators that cannot be counted are listed, never counted as zero.
    Profile {
        /// The ONNX model file.
        model: PathBuf,
        /// Batch size to infer shapes for (the dynamic batch dimension).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        batch: u32,
    },
    /// Serve an ONNX model (or a bundle's cloud model) over the Open Inference Protocol v2
    /// (HTTP) and optionally QUIC, with dynamic batching.
    Serve(Box<cmd::serve::ServeArgs>),
    /// Choose thresholds for a target on validation samples and write them into the bundle:
    /// --target offload=0.2 | energy=JOULES_PER_SAMPLE | accuracy=0.9.
    #[cfg(feature = "eval")]
    Calibrate(Box<cmd::calibrate::CalibrateArgs>),
    /// Write an int8 bundle: main and extension (and with --cloud the cloud model) as static
    /// QDQ graphs calibrated on the bundle's training data, each kept only where it is faster
    /// than f32 here; thresholds re-calibrated. See docs/quantize.md.
    #[cfg(feature = "eval")]
    Quantize(Box<cmd::quantize::QuantizeArgs>),
    /// Run the edge runtime on inputs, offloading over the configured cloud link; prints one
    /// outcome per sample (class, exit, energy, degraded).
    Run(Box<cmd::run::RunArgs>),
    /// Serve the edge runtime as an Open Inference Protocol v2 model ("meanet"): clients post
    /// images and get, per sample, the class, the exit, whether it was degraded and its energy
    /// receipt. Offloads go over the configured cloud link; Prometheus metrics on /metrics.
    Edge(Box<cmd::edge::EdgeArgs>),
    /// Evaluate MEANet and every baseline (main only, cloud only, main + extension, entropy
    /// exit) on the test split with a real loopback cloud server and the energy model; writes
    /// report.json, report.md and plots.
    #[cfg(feature = "eval")]
    Eval(Box<cmd::eval::EvalArgs>),
    /// The end-to-end demo: fetch Fashion-MNIST, load the reference bundle, start a cloud server
    /// on loopback, evaluate every method, print the table and write the report.
    #[cfg(feature = "eval")]
    Demo(Box<cmd::eval::EvalArgs>),
    /// Deployment files: a Triton model repository for the cloud model, or Kubernetes
    /// manifests (KServe for the cloud, a Deployment for `meanet edge`). See docs/deploy.md.
    #[command(subcommand)]
    Export(cmd::export::ExportCommand),
    /// Show which inference backend meanet uses (runtime.backend: ort or tract) and check that
    /// it loads; for ONNX Runtime, which library.
    Runtime {
        /// Execution provider to check (cpu, cuda, tensorrt, coreml, openvino) [runtime.provider].
        #[arg(long, value_enum)]
        provider: Option<meanet_cli::settings::Provider>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    meanet_cli::logging::init();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of our output went away (`meanet profile M.onnx | head`): the output is
        // over, as for any Unix tool, and that is no failure.
        Err(e) if meanet_cli::stdout::is_closed_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            meanet_cli::stdout::note(format_args!("Error: {e:?}"));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let out = Output {
        quiet: cli.quiet,
        json: cli.json,
    };
    let settings = || Settings::load(cli.config.as_deref(), &cli.overrides);
    match cli.command {
        Command::Data(DataCommand::Fetch { kind, data, cache }) => {
            cmd::data::fetch(kind, data.as_deref(), &cache, out)
        }
        Command::Data(DataCommand::Generate(args)) => cmd::data::generate(&args, out),
        #[cfg(feature = "train")]
        Command::Train(mut args) => {
            args.quiet |= cli.quiet || cli.json;
            cmd::train::run(&args, &settings()?, out)
        }
        Command::Profile { model, batch } => cmd::profile::run(&model, batch as usize, cli.json),
        Command::Serve(args) => cmd::serve::run(&args, &settings()?, out),
        #[cfg(feature = "eval")]
        Command::Calibrate(args) => cmd::calibrate::run(&args, &settings()?, out),
        #[cfg(feature = "eval")]
        Command::Quantize(args) => cmd::quantize::run(&args, &settings()?, out),
        Command::Run(args) => cmd::run::run(&args, &settings()?, out),
        Command::Edge(args) => cmd::edge::run(&args, &settings()?, out),
        #[cfg(feature = "eval")]
        Command::Eval(args) => cmd::eval::eval(&args, &settings()?, out).map(drop),
        #[cfg(feature = "eval")]
        Command::Demo(args) => cmd::eval::demo(&args, &settings()?, out).map(drop),
        Command::Export(command) => cmd::export::run(&command, &settings()?, cli.json),
        Command::Runtime { provider } => cmd::runtime::run(&settings()?, provider, cli.json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// The shell commands of the fenced `sh` blocks in `text`, with the line each starts on:
    /// continuation lines joined, split at `&&`, `||`, `|`, `;` and `&`.
    fn shell_commands(text: &str) -> Vec<(usize, Vec<String>)> {
        let mut out = Vec::new();
        let mut in_sh = false;
        let mut pending: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if let Some(info) = trimmed.strip_prefix("```") {
                in_sh = !in_sh && info.trim() == "sh";
                continue;
            }
            if !in_sh {
                continue;
            }
            let (start, mut joined) = pending.take().unwrap_or((n + 1, String::new()));
            joined.push_str(trimmed.trim_end_matches('\\'));
            joined.push(' ');
            if trimmed.ends_with('\\') {
                pending = Some((start, joined));
                continue;
            }
            let Some(words) = shlex::split(&joined) else {
                panic!("line {start}: not shell words: {joined}");
            };
            let mut command = Vec::new();
            for w in words {
                if w.starts_with('#') {
                    break;
                }
                if ["&&", "||", "|", ";", "&"].contains(&w.as_str()) {
                    out.push((start, std::mem::take(&mut command)));
                } else {
                    command.push(w);
                }
            }
            out.push((start, command));
        }
        out
    }

    /// The arguments a shell command passes to `meanet`, if it runs it: directly (`meanet`,
    /// `.../meanet`, `$B`, `$bin`, `$meanet`), or through `cargo run -p meanet-cli ... --`;
    /// leading `VAR=value` words are the environment.
    fn meanet_args(words: &[String]) -> Option<Vec<String>> {
        let words: Vec<&str> = words
            .iter()
            .map(String::as_str)
            .skip_while(|w| w.contains('=') && !w.starts_with('-'))
            .collect();
        let (first, rest) = words.split_first()?;
        let direct = *first == "meanet"
            || first.ends_with("/meanet")
            || ["$B", "$bin", "$meanet"].contains(first);
        if direct {
            return Some(rest.iter().map(|w| (*w).to_string()).collect());
        }
        if *first == "cargo" && rest.first() == Some(&"run") && rest.contains(&"meanet-cli") {
            let after = rest.iter().position(|w| *w == "--")?;
            return Some(rest[after + 1..].iter().map(|w| (*w).to_string()).collect());
        }
        None
    }

    /// Every `meanet` command shown in a fenced `sh` block of the README or docs/ parses with
    /// the real command line (clap, no `--help`): a shown command that does not parse fails here.
    /// (Needs the full command set: the default features.)
    #[cfg(all(feature = "eval", feature = "train"))]
    #[test]
    fn every_command_shown_in_the_readme_and_docs_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = vec![root.join("README.md")];
        let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        docs.sort();
        files.extend(docs);
        let (mut parsed, mut failures) = (0, Vec::new());
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            for (line, words) in shell_commands(&text) {
                let Some(args) = meanet_args(&words) else {
                    continue;
                };
                let argv = std::iter::once("meanet".to_string()).chain(args);
                match Cli::try_parse_from(argv) {
                    Ok(_) => parsed += 1,
                    Err(e) => failures.push(format!(
                        "{}:{line}: {}\n  {}",
                        f.strip_prefix(&root).unwrap_or(f).display(),
                        words.join(" "),
                        e.to_string().lines().next().unwrap_or_default()
                    )),
                }
            }
        }
        assert!(
            failures.is_empty(),
            "commands shown in the docs that do not parse:\n{}",
            failures.join("\n")
        );
        // The count keeps the test from passing on nothing (a changed fence, say).
        assert!(parsed >= 30, "only {parsed} commands found in the docs");
        #[allow(clippy::print_stderr)] // test output
        {
            eprintln!("{parsed} commands parsed from {} files", files.len());
        }
    }

    #[test]
    fn the_doc_command_reader_finds_what_a_shell_would_run() {
        let text = "x\n```sh\nA=1 meanet serve b \\\n  --http 127.0.0.1:0 && ./scripts/setup\ncargo run --release -p meanet-cli -- demo # comment\n```\n```toml\nmeanet = 1\n```\n";
        let cmds = shell_commands(text);
        let found: Vec<(usize, Option<Vec<String>>)> =
            cmds.iter().map(|(l, w)| (*l, meanet_args(w))).collect();
        let args = |v: &[&str]| Some(v.iter().map(|s| (*s).to_string()).collect::<Vec<_>>());
        assert_eq!(
            found,
            vec![
                (3, args(&["serve", "b", "--http", "127.0.0.1:0"])),
                (3, None),
                (5, args(&["demo"])),
            ]
        );
    }
}
