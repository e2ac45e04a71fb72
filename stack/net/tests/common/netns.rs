#![allow(clippy::panic, clippy::unwrap_used)] // test harness: a failed setup is a failed test
//! Network namespaces for the TAP tests: each test runs on a thread that moved itself into a
//! new, empty network namespace with `unshare(CLONE_NEWNET)`; the `ip` processes it starts
//! inherit it, and it vanishes with the thread, so nothing can be left behind.
#![allow(dead_code)] // each test file uses a part
#![allow(unsafe_code)] // unshare(2)

use std::future::Future;
use std::io;
use std::process::Command;

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_SYS_ADMIN: u32 = 21;

// --- Gating and namespaces ------------------------------------------------------------------

/// The thread's effective capabilities, from /proc.
pub fn effective_caps() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

pub fn has_ip() -> bool {
    Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// True when the privileged tests can run; otherwise skips (prints why) or, under `CI=true`,
/// fails.
pub fn privileged() -> bool {
    let caps = effective_caps();
    let why = if caps & (1 << CAP_NET_ADMIN) == 0 || caps & (1 << CAP_SYS_ADMIN) == 0 {
        "needs root (CAP_NET_ADMIN)"
    } else if !has_ip() {
        "needs `ip` (iproute2)"
    } else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "TAP test {why}: CI must run the weft-net TAP tests as root (they create their \
             own network namespaces)"
        );
    }
    println!("skipping: {why}");
    false
}

/// Runs the future `make` builds on a new thread inside a new, empty network namespace (with
/// `lo` up), on a current-thread tokio runtime. The namespace is the thread's alone and goes
/// away with it.
pub fn in_netns<F, Fut>(make: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let joined = std::thread::spawn(move || {
        // SAFETY: unshare takes no pointers; CLONE_NEWNET moves only this thread (network
        // namespaces are per thread) into a new namespace, which nothing else in the process
        // shares.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            io::Error::last_os_error()
        );
        ip(&["link", "set", "lo", "up"]);
        // A LocalSet, so the direct backend can spawn its driver with spawn_local.
        weft_net::tokio_rt::block_on_local(make()).expect("tokio runtime");
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `ip` with `args` (in the calling thread's namespace) and returns its output.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
