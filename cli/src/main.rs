//! `weft`: decode captures (simulation commands arrive with the simulator).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use weft_cli::decode::{decode_bytes, print};
use weft_cli::render::RenderOptions;

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "weft: a deterministic TCP/IP stack and its harness"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Decode a pcap or pcapng capture: one line per frame (like tcpdump) and totals.
    Decode {
        /// The capture file.
        file: PathBuf,
        /// One JSON object per frame, with every field, then a totals object.
        #[arg(long)]
        json: bool,
        /// Absolute TCP sequence numbers (default: relative, as tcpdump prints them).
        #[arg(short = 'S', long)]
        absolute: bool,
        /// Nanosecond timestamps.
        #[arg(long)]
        nano: bool,
    },
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Decode {
            file,
            json,
            absolute,
            nano,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let decoded = decode_bytes(&bytes)
                .with_context(|| format!("{} is not a capture weft can read", file.display()))?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let printed = print(&decoded, json, RenderOptions { absolute, nano }, &mut out)
                .and_then(|()| out.flush());
            match printed {
                // `weft decode x.pcap | head` closes the pipe early: not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(ExitCode::SUCCESS);
                }
                other => other?,
            }
            // A corrupt record ends the read: everything before it was printed; say so in
            // the exit status.
            Ok(if decoded.error.is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
