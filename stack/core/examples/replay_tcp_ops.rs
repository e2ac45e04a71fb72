//! Replays one `tcp_ops` fuzz input on stable and prints how far it got:
//! `cargo run -p weft-core --features fuzzing --example replay_tcp_ops -- FILE`
//! (`WEFT_FUZZ_TRACE=1` prints every segment, call and event).

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!(
            "usage: replay_tcp_ops FILE (a fuzz/corpus/tcp_ops or fuzz/regressions/tcp_ops input)"
        );
        return ExitCode::from(2);
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            println!("{:?}", weft_core::fuzzing::tcp_ops::run(&bytes));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("reading {path}: {e}");
            ExitCode::from(2)
        }
    }
}
