//! The Linux side of the interop harness: network namespaces, TAP devices, child processes,
//! and the kernel's own counters — each thing created is owned by a guard that removes it on
//! drop, so a failing step or a panic still leaves nothing behind.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every namespace name the harness creates starts with this (then `<pid>-<n>`).
pub const NS_PREFIX: &str = "weft-interop-";

/// Monotonic time for deadlines (tokio's clock; the workspace forbids std's `now`).
pub fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Runs a command to completion; its stdout, or an error carrying its stderr.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip ARGS…` in the root namespace.
pub fn ip(args: &[&str]) -> Result<String> {
    run(Command::new("ip").args(args))
}

/// What the harness created and must see gone at the end: namespaces and processes.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Namespaces created (names).
    pub namespaces: Vec<String>,
    /// TAP and other links created (namespace, name).
    pub links: Vec<(String, String)>,
    /// Processes started or found inside our namespaces (pid, its start time in clock ticks
    /// since boot — so a pid the kernel reuses later is not mistaken for ours — and what).
    pub pids: Vec<(u32, Option<u64>, String)>,
}

/// Shared ledger handle.
pub type SharedLedger = Rc<RefCell<Ledger>>;

/// A network namespace of the harness, deleted (with every process still in it) on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
    ledger: SharedLedger,
}

impl Netns {
    /// Creates `weft-interop-<pid>-<n>` with loopback up, IPv6 off (so captures and counters
    /// hold only what a step sends) and forwarding off.
    pub fn create(ledger: &SharedLedger, n: u32) -> Result<Netns> {
        let name = format!("{NS_PREFIX}{}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        ledger.borrow_mut().namespaces.push(name.clone());
        let ns = Netns {
            name,
            ledger: ledger.clone(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        for key in [
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
            "net.ipv4.ip_forward=0",
        ] {
            ns.exec(&["sysctl", "-q", "-w", key])?;
        }
        Ok(ns)
    }

    /// `ip -n NS ARGS…`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &self.name]).args(args);
        run(&mut cmd)
    }

    /// A command that runs inside the namespace (`ip netns exec NS PROGRAM ARGS…`).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `argv` inside the namespace to completion; its stdout.
    pub fn exec(&self, argv: &[&str]) -> Result<String> {
        let (program, args) = argv.split_first().context("empty command")?;
        let mut cmd = self.command(program);
        cmd.args(args);
        run(&mut cmd)
    }

    /// A persistent TAP device `name` in the namespace with `addr` (CIDR) on the Linux side,
    /// up. The weft side attaches to it with TUNSETIFF from inside the namespace.
    pub fn tap(&self, name: &str, linux_cidr: &str) -> Result<()> {
        self.ip(&["tuntap", "add", "mode", "tap", "name", name])?;
        self.ledger
            .borrow_mut()
            .links
            .push((self.name.clone(), name.to_string()));
        self.ip(&["addr", "add", linux_cidr, "dev", name])?;
        self.ip(&["link", "set", name, "up"])?;
        Ok(())
    }

    /// The kernel's packet counters of `dev` (`ip -s -j link show`).
    pub fn link_stats(&self, dev: &str) -> Result<LinkStats> {
        let out = self.ip(&["-s", "-j", "link", "show", "dev", dev])?;
        let v: Value = serde_json::from_str(&out).context("parsing `ip -s -j link show`")?;
        let s = v
            .get(0)
            .and_then(|l| l.get("stats64"))
            .with_context(|| format!("no stats64 for {dev} in {out}"))?;
        let get = |dir: &str, k: &str| s.get(dir).and_then(|d| d.get(k)).and_then(Value::as_u64);
        Ok(LinkStats {
            rx_packets: get("rx", "packets").unwrap_or(0),
            tx_packets: get("tx", "packets").unwrap_or(0),
            rx_bytes: get("rx", "bytes").unwrap_or(0),
            tx_bytes: get("tx", "bytes").unwrap_or(0),
            tx_dropped: get("tx", "dropped").unwrap_or(0),
        })
    }

    /// The link-layer address Linux holds for `addr` on `dev` and the entry's state.
    pub fn neighbour(&self, dev: &str, addr: &str) -> Result<Option<(String, String)>> {
        let out = self.ip(&["-j", "neigh", "show", "dev", dev])?;
        let v: Value = serde_json::from_str(&out).context("parsing `ip -j neigh show`")?;
        let entries = v.as_array().cloned().unwrap_or_default();
        Ok(entries.iter().find_map(|e| {
            (e.get("dst")?.as_str()? == addr).then(|| {
                let mac = e
                    .get("lladdr")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let state = e
                    .get("state")
                    .and_then(Value::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                (mac, state)
            })
        }))
    }

    /// The MAC address of `dev` as Linux sees it.
    pub fn mac_of(&self, dev: &str) -> Result<String> {
        let out = self.ip(&["-j", "link", "show", "dev", dev])?;
        let v: Value = serde_json::from_str(&out).context("parsing `ip -j link show`")?;
        v.get(0)
            .and_then(|l| l.get("address"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("no address for {dev}"))
    }

    /// The namespace's IP/ICMP/UDP counters from /proc/net/snmp ("Icmp.InEchos", …).
    pub fn snmp(&self) -> Result<Snmp> {
        // /proc/net/netstat (TcpExt, IpExt) has the same header/value line pairs.
        let text = self.exec(&["cat", "/proc/net/snmp", "/proc/net/netstat"])?;
        Ok(Snmp::parse(&text))
    }

    /// Pids of processes inside the namespace.
    pub fn pids(&self) -> Vec<u32> {
        ip(&["netns", "pids", &self.name])
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes a step left running (socat's forked children, say) die with the
        // namespace; they are recorded so the final check sees them gone.
        for pid in self.pids() {
            self.ledger.borrow_mut().pids.push((
                pid,
                start_time(pid),
                format!("process left in {}", self.name),
            ));
            let _ = run(Command::new("kill").args(["-KILL", &pid.to_string()]));
        }
        for _ in 0..50 {
            if self.pids().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("interop: cleanup: {e:#}");
        }
    }
}

/// Packet counters of one link.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkStats {
    /// Frames the kernel received on the device (= frames the weft side wrote).
    pub rx_packets: u64,
    /// Frames the kernel sent on the device (= frames the weft side could read).
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Frames the kernel dropped on the way out of the device (a full TAP queue: the weft
    /// side did not read fast enough).
    pub tx_dropped: u64,
}

impl LinkStats {
    /// `self - before`, per field.
    pub fn since(&self, before: &LinkStats) -> LinkStats {
        LinkStats {
            rx_packets: self.rx_packets.saturating_sub(before.rx_packets),
            tx_packets: self.tx_packets.saturating_sub(before.tx_packets),
            rx_bytes: self.rx_bytes.saturating_sub(before.rx_bytes),
            tx_bytes: self.tx_bytes.saturating_sub(before.tx_bytes),
            tx_dropped: self.tx_dropped.saturating_sub(before.tx_dropped),
        }
    }
}

/// /proc/net/snmp as "Group.Field" → value.
#[derive(Debug, Clone, Default)]
pub struct Snmp(BTreeMap<String, i64>);

impl Snmp {
    /// Parses the header/value line pairs of /proc/net/snmp (and /proc/net/netstat).
    pub fn parse(text: &str) -> Snmp {
        let mut map = BTreeMap::new();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let mut n = names.split_whitespace();
            let mut v = values.split_whitespace();
            let (Some(group), Some(_)) = (n.next(), v.next()) else {
                continue;
            };
            let group = group.trim_end_matches(':');
            for (name, value) in n.zip(v) {
                if let Ok(x) = value.parse() {
                    map.insert(format!("{group}.{name}"), x);
                }
            }
        }
        Snmp(map)
    }

    /// A counter (0 when absent).
    pub fn get(&self, key: &str) -> i64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    /// `self[key] - before[key]`.
    pub fn delta(&self, before: &Snmp, key: &str) -> i64 {
        self.get(key) - before.get(key)
    }
}

/// Lines a child wrote, gathered by a reader thread.
#[derive(Debug)]
pub struct Lines {
    rx: Receiver<String>,
    /// Everything read so far (for error reports).
    pub all: Arc<Mutex<Vec<String>>>,
}

impl Lines {
    fn spawn(r: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = channel();
        let all = Arc::new(Mutex::new(Vec::new()));
        let keep = all.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut a) = keep.lock() {
                    a.push(line.clone());
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx, all }
    }

    /// The next line that satisfies `want`, within `timeout`.
    pub fn wait_for(&self, timeout: Duration, want: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(now());
            match self.rx.recv_timeout(left) {
                Ok(l) if want(&l) => return Ok(l),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => bail!("timed out after {timeout:?}"),
                Err(RecvTimeoutError::Disconnected) => bail!("the process closed its output"),
            }
        }
    }

    /// Everything read so far, one string.
    pub fn text(&self) -> String {
        self.all.lock().map(|a| a.join("\n")).unwrap_or_default()
    }
}

/// A child process of the harness, killed and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    pub what: String,
    child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Proc {
    /// Starts `cmd` with piped stdio, recorded in the ledger.
    pub fn spawn(ledger: &SharedLedger, what: &str, mut cmd: Command) -> Result<Proc> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {what}: {cmd:?}"))?;
        ledger
            .borrow_mut()
            .pids
            .push((child.id(), start_time(child.id()), what.to_string()));
        let stdout = Lines::spawn(child.stdout.take().context("no stdout")?);
        let stderr = Lines::spawn(child.stderr.take().context("no stderr")?);
        Ok(Proc {
            what: what.to_string(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        })
    }

    /// Writes `data` to the child's stdin.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let w = self.stdin.as_mut().context("stdin closed")?;
        w.write_all(data)?;
        w.flush()?;
        Ok(())
    }

    /// Sends SIGINT (tcpdump flushes and writes its summary) and waits up to `timeout` for
    /// the process to exit; kills it after that.
    pub fn interrupt(&mut self, timeout: Duration) -> Result<()> {
        let pid = self.child.id().to_string();
        run(Command::new("kill").args(["-INT", &pid]))?;
        self.wait(timeout)
    }

    /// Closes stdin and waits up to `timeout` for the exit; kills it after that. An error
    /// when it had to be killed or exited unsuccessfully.
    pub fn wait(&mut self, timeout: Duration) -> Result<()> {
        self.stdin = None;
        let deadline = now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait()? {
                if st.success() || st.code().is_none() {
                    return Ok(());
                }
                bail!("{} exited with {st}", self.what);
            }
            if now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("{} did not exit within {timeout:?}; killed", self.what);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A tcpdump on `dev` in `ns` writing `file`; stopped (and flushed) by [`Capture::stop`] or
/// on drop.
#[derive(Debug)]
pub struct Capture {
    proc: Proc,
}

impl Capture {
    pub fn start(ledger: &SharedLedger, ns: &Netns, dev: &str, file: &Path) -> Result<Capture> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut cmd = ns.command("tcpdump");
        // -Z root: write as root (tcpdump otherwise drops to its own user, who may not
        // write here); -U and --immediate-mode: each packet reaches the file as it is captured
        // (not a second later, when the kernel would hand over its ring block); -B: a 16 MiB
        // buffer, so that a burst of full-sized segments is not dropped before tcpdump reads it.
        cmd.args([
            "-i",
            dev,
            "-n",
            "-U",
            "--immediate-mode",
            "-B",
            "16384",
            "-s",
            "0",
            "-Z",
            "root",
            "-w",
        ])
        .arg(file);
        let proc = Proc::spawn(ledger, "tcpdump", cmd)?;
        proc.stderr
            .wait_for(Duration::from_secs(5), |l| l.contains("listening on"))
            .with_context(|| format!("tcpdump did not start: {}", proc.stderr.text()))?;
        Ok(Capture { proc })
    }

    /// Stops the capture; tcpdump's "N packets captured" count.
    /// An error when the kernel dropped packets before tcpdump read them (the capture
    /// would miss frames of the step).
    pub fn stop(mut self) -> Result<u64> {
        // Let the last frames of the step reach the capture.
        std::thread::sleep(Duration::from_millis(200));
        self.proc.interrupt(Duration::from_secs(5))?;
        let text = self.proc.stderr.text();
        let count = |what: &str| -> u64 {
            text.lines()
                .find(|l| l.contains(what))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let dropped = count("packets dropped by kernel");
        if dropped > 0 {
            bail!("tcpdump: {dropped} packets dropped by the kernel, the capture is incomplete");
        }
        Ok(count("packets captured"))
    }
}

/// True when this process runs as root (`id -u`).
pub fn is_root() -> bool {
    run(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

/// The programs the harness runs, each checked to be installed.
pub fn check_tools() -> Result<()> {
    let mut missing = Vec::new();
    for (tool, probe) in [
        ("ip (iproute2)", ["ip", "-V"]),
        ("tcpdump", ["tcpdump", "--version"]),
        ("socat", ["socat", "-V"]),
        ("dnsmasq (dnsmasq-base)", ["dnsmasq", "--version"]),
        ("ping (iputils-ping)", ["ping", "-V"]),
        ("nft (nftables)", ["nft", "--version"]),
        ("python3", ["python3", "--version"]),
        ("sha256sum (coreutils)", ["sha256sum", "--version"]),
    ] {
        let [program, arg] = probe;
        let ok = Command::new(program)
            .arg(arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !ok {
            missing.push(tool);
        }
    }
    if !Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun (the tun kernel module)");
    }
    if !missing.is_empty() {
        bail!(
            "missing: {}; run `bash .ci/install` (as root)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// Deletes namespaces of earlier harness runs whose process is gone (a run killed by a
/// signal cannot clean up after itself). Returns their names.
pub fn sweep_stale() -> Vec<String> {
    let mut gone = Vec::new();
    for name in our_namespaces("") {
        let pid = name
            .strip_prefix(NS_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            for p in ip(&["netns", "pids", &name])
                .unwrap_or_default()
                .split_whitespace()
            {
                let _ = run(Command::new("kill").args(["-KILL", p]));
            }
            if ip(&["netns", "del", &name]).is_ok() {
                gone.push(name);
            }
        }
    }
    gone
}

/// Namespaces named `weft-interop-<rest>` whose rest starts with `tail_prefix`.
pub fn our_namespaces(tail_prefix: &str) -> Vec<String> {
    let prefix = format!("{NS_PREFIX}{tail_prefix}");
    ip(&["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// A process that still runs (a zombie has exited: only its status is left).
/// A process's start time (field 22 of /proc/PID/stat, clock ticks since boot).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; starttime is the 20th of them.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

/// What of the ledger is still there: namespaces, links in the root namespace with our
/// names, live processes.
pub fn leftovers(ledger: &Ledger) -> Vec<String> {
    let mut left = Vec::new();
    for ns in our_namespaces(&format!("{}-", std::process::id())) {
        left.push(format!("namespace {ns}"));
    }
    for ns in &ledger.namespaces {
        if Path::new("/run/netns").join(ns).exists() {
            left.push(format!("namespace mount /run/netns/{ns}"));
        }
    }
    let root_links = ip(&["-o", "link", "show"]).unwrap_or_default();
    for (ns, link) in &ledger.links {
        let here = root_links.lines().any(|l| {
            l.split(':')
                .nth(1)
                .map(|n| n.trim().split('@').next() == Some(link.as_str()))
                .unwrap_or(false)
        });
        if here {
            left.push(format!("link {link} (made in {ns}) in the root namespace"));
        }
    }
    for (pid, started, what) in &ledger.pids {
        // The same process: alive and started when it was recorded (not a reused pid).
        if alive(*pid) && (started.is_none() || start_time(*pid) == *started) {
            left.push(format!("process {pid} ({what})"));
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_pairs_parse() {
        let text = "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 17\n\
                    Icmp: InMsgs InEchos\nIcmp: 3 -1\n";
        let s = Snmp::parse(text);
        assert_eq!(s.get("Ip.InReceives"), 17);
        assert_eq!(s.get("Icmp.InEchos"), -1);
        assert_eq!(s.get("Udp.NoPorts"), 0);
        let both = format!("{text}TcpExt: SyncookiesSent TCPSynRetrans\nTcpExt: 0 4\n");
        assert_eq!(Snmp::parse(&both).get("TcpExt.TCPSynRetrans"), 4);
        assert_eq!(Snmp::parse(&both).get("Ip.InReceives"), 17);
    }

    #[test]
    fn our_own_process_is_alive() {
        assert!(alive(std::process::id()));
        assert!(start_time(std::process::id()).is_some());
        assert!(!alive(u32::MAX));
    }

    /// True when a test that needs `what` may run; otherwise prints why it is skipped, or,
    /// under CI=true, fails.
    fn can_run(ok: bool, what: &str) -> bool {
        if !ok {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "this test needs {what}, and CI=true: failing, not skipping"
            );
            println!("skipping: needs {what}");
        }
        ok
    }

    fn has_ip() -> bool {
        run(Command::new("ip").arg("-V")).is_ok()
    }

    /// A child the ledger holds is a leftover while it runs, and no longer once it is gone;
    /// the same pid recorded with another start time (a pid the kernel reused) is not ours.
    #[test]
    fn leftovers_catch_a_live_process() {
        let ledger: SharedLedger = Rc::default();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let p = Proc::spawn(&ledger, "sleep 30", cmd).expect("start sleep");
        let pid = p.child.id();
        let ours = |left: &[String]| {
            left.iter()
                .any(|l| l.starts_with(&format!("process {pid} ")))
        };
        let left = leftovers(&ledger.borrow());
        assert!(
            left.contains(&format!("process {pid} (sleep 30)")),
            "{left:?}"
        );
        let started = ledger.borrow().pids[0].1;
        assert!(started.is_some());
        let reused = Ledger {
            pids: vec![(
                pid,
                started.map(|t| t + 1),
                "an earlier process".to_string(),
            )],
            ..Ledger::default()
        };
        assert!(!ours(&leftovers(&reused)), "{:?}", leftovers(&reused));
        drop(p); // kills and reaps it
        let left = leftovers(&ledger.borrow());
        assert!(!ours(&left), "{left:?}");
    }

    /// A link the ledger names that is in the root namespace is a leftover (`lo` stands in
    /// for a TAP device that escaped its namespace: every namespace has one).
    #[test]
    fn leftovers_catch_a_link_in_the_root_namespace() {
        if !can_run(has_ip(), "`ip` (iproute2)") {
            return;
        }
        let ledger = Ledger {
            links: vec![
                ("weft-interop-test".to_string(), "lo".to_string()),
                ("weft-interop-test".to_string(), "wtap-none".to_string()),
            ],
            ..Ledger::default()
        };
        // Only the link lines: a namespace another test of this process holds at the same
        // moment is listed too.
        let left: Vec<String> = leftovers(&ledger)
            .into_iter()
            .filter(|l| l.starts_with("link "))
            .collect();
        assert_eq!(
            left,
            vec!["link lo (made in weft-interop-test) in the root namespace".to_string()]
        );
    }

    /// A namespace the harness made is a leftover until its guard has deleted it.
    #[test]
    fn leftovers_catch_a_namespace() {
        if !can_run(is_root() && has_ip(), "root and `ip` (iproute2)") {
            return;
        }
        let ledger: SharedLedger = Rc::default();
        // A number no harness step uses.
        let ns = Netns::create(&ledger, 9_901).expect("create a namespace");
        let name = ns.name.clone();
        let left = leftovers(&ledger.borrow());
        assert!(left.contains(&format!("namespace {name}")), "{left:?}");
        assert!(
            left.contains(&format!("namespace mount /run/netns/{name}")),
            "{left:?}"
        );
        drop(ns);
        let left = leftovers(&ledger.borrow());
        assert!(!left.iter().any(|l| l.contains(&name)), "{left:?}");
    }
}
