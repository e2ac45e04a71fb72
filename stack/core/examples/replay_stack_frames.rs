//! Replays one `stack_frames` fuzz input on stable and prints what the stack did:
//! `cargo run -p weft-core --features fuzzing --example replay_stack_frames -- FILE`
//! (`WEFT_FUZZ_TRACE=1` prints every step).

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!(
            "usage: replay_stack_frames FILE (a fuzz/corpus/stack_frames or fuzz/regressions/stack_frames input)"
        );
        return ExitCode::from(2);
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            println!("{:?}", weft_core::fuzzing::run(&bytes));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("reading {path}: {e}");
            ExitCode::from(2)
        }
    }
}
