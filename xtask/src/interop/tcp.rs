//! The TCP steps of `cargo xtask interop`: weft's TCP (the direct backend's `TcpNet`, in
//! `interop-host`, commands in [`super::tcp_host`]) against the Linux kernel's, over one TAP
//! in namespace `weft-interop-<pid>-3`: Linux at 10.77.5.1/24, weft at 10.77.5.2/24 with a
//! TCP user timeout of [`USER_TIMEOUT`].
//!
//! The Linux side is socat (echo, bulk transfers, `sha256sum` behind it) and small python3
//! programs ([`PEER_PY`]) where a step needs a socket call socat does not make on cue:
//! `shutdown(SHUT_WR)` then reading on, `SO_LINGER` 0 (an abortive close), `ECONNRESET` and
//! `ECONNREFUSED` as the kernel reports them. Each step asserts, between settled snapshots of
//! both sides: the kernel's `Tcp:` counters in /proc/net/snmp (opens, attempt failures,
//! resets, RSTs sent — exactly), every segment one side sent counted as received by the other
//! (`Tcp.InSegs` = weft's `tcp.tx_segments`, `Tcp.OutSegs` = weft's `tcp.rx_segments`), no
//! checksum or header errors on either side, and the TAP's frame counts (`ip -s -j link`)
//! against the driver's.

use super::tcp_host::{SeededBytes, sha256_hex};
use super::*;
use std::collections::BTreeMap;

/// The TCP steps, in order.
pub const TCP_STEPS: &[&str] = &[
    "tcp_echo_linux_to_weft",
    "tcp_echo_weft_to_linux",
    "tcp_bulk_weft_to_linux",
    "tcp_bulk_linux_to_weft",
    "tcp_bulk_lossy",
    "tcp_half_close_linux_to_weft",
    "tcp_half_close_weft_to_linux",
    "tcp_rst_linux_to_weft",
    "tcp_rst_weft_to_linux",
    "tcp_syn_closed_port_linux_to_weft",
    "tcp_syn_closed_port_weft_to_linux",
    "tcp_vanished_peer",
];

/// Steps not recorded by `--record` (their captures would hold megabytes).
pub const NOT_RECORDED: &[&str] = &[
    "tcp_bulk_weft_to_linux",
    "tcp_bulk_linux_to_weft",
    "tcp_bulk_lossy",
];

const LINUX: &str = "10.77.5.1";
const WEFT: &str = "10.77.5.2";
const MAC: &str = "02:77:00:05:00:02";
/// weft's TCP user timeout in this namespace.
pub const USER_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of each bulk transfer: 10 MiB.
pub const BULK: usize = 10 * 1024 * 1024;
/// Longest a bulk transfer may take.
const BULK_LIMIT: Duration = Duration::from_secs(30);

/// The Linux-side programs socat cannot stand in for; `python3 -c PEER_PY MODE ARGS…`. Each
/// prints `LISTENING` once a server listens and `RESULT k=v …` at the end.
pub const PEER_PY: &str = r#"
import errno, hashlib, socket, struct, sys
mode, args = sys.argv[1], sys.argv[2:]

def pattern(n):  # the host's `pattern`: i mod 251
    return bytes(i % 251 for i in range(n))

def result(**kv):
    print("RESULT " + " ".join("%s=%s" % (k, v) for k, v in kv.items()), flush=True)

def read_all(s):
    h, n = hashlib.sha256(), 0
    while True:
        b = s.recv(65536)
        if not b:
            return n, h.hexdigest()
        n += len(b)
        h.update(b)

def read_until(s, want):
    got = b""
    while not got.endswith(want):
        b = s.recv(64)
        if not b:
            result(error="eof-before-" + want.decode().strip())
            sys.exit(1)
        got += b

def serve(addr, port):
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, int(port)))
    l.listen(1)
    l.settimeout(20)
    print("LISTENING", flush=True)
    c, _ = l.accept()
    l.close()
    c.settimeout(20)
    return c

def connect(host, port):
    return socket.create_connection((host, int(port)), timeout=20)

if mode == "half-close-client":
    # Send N bytes, shut down the sending side (FIN), read the reply to its end.
    s = connect(args[0], args[1])
    data = pattern(int(args[2]))
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    n, h = read_all(s)
    s.close()
    result(sent=len(data), sent_sha256=hashlib.sha256(data).hexdigest(), received=n,
           received_sha256=h)
elif mode == "half-close-server":
    # Read to the peer's FIN, then send M bytes and close.
    c = serve(args[0], args[1])
    n, h = read_all(c)
    data = pattern(int(args[2]))
    c.sendall(data)
    c.close()
    result(received=n, received_sha256=h, sent=len(data),
           sent_sha256=hashlib.sha256(data).hexdigest())
elif mode == "abort-client":
    # Wait for "ready", then close with SO_LINGER 0: an RST, not a FIN.
    s = connect(args[0], args[1])
    read_until(s, b"ready\n")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    result(aborted=1)
elif mode == "reset-server":
    # "hello" in, "ready" out, then read: the peer's RST is ECONNRESET.
    c = serve(args[0], args[1])
    read_until(c, b"hello\n")
    c.sendall(b"ready\n")
    try:
        b = c.recv(64)
        result(error="eof" if not b else "data")
    except ConnectionResetError:
        result(error="ECONNRESET")
elif mode == "connect":
    try:
        connect(args[0], args[1]).close()
        result(error="none")
    except OSError as e:
        result(error=errno.errorcode.get(e.errno, str(e)))
elif mode == "sink":
    # Accept and read whatever comes, until the end or an error.
    c = serve(args[0], args[1])
    n = 0
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        result(received=n, error="eof")
    except OSError as e:
        result(received=n, error=errno.errorcode.get(e.errno, str(e)))
else:
    sys.exit("unknown mode " + mode)
"#;

/// A Linux-side peer program (`python3 -c PEER_PY MODE ARGS…`) in `ns`; when `listens`, once
/// it listens.
fn peer(ctx: &Ctx, ns: &Netns, mode: &str, args: &[&str], listens: bool) -> Result<Proc> {
    let mut cmd = ns.command("python3");
    cmd.args(["-c", PEER_PY, mode]).args(args);
    let p = Proc::spawn(&ctx.ledger, &format!("python3 {mode}"), cmd)?;
    if listens {
        p.stdout
            .wait_for(Duration::from_secs(5), |l| l == "LISTENING")
            .with_context(|| format!("python3 {mode} did not listen: {}", p.stderr.text()))?;
    }
    Ok(p)
}

/// The `RESULT k=v …` line of a peer program, then its exit.
fn peer_result(p: &mut Proc, timeout: Duration) -> Result<BTreeMap<String, String>> {
    let line = p
        .stdout
        .wait_for(timeout, |l| l.starts_with("RESULT"))
        .with_context(|| format!("{}: no result; {}", p.what, p.stderr.text()))?;
    p.wait(Duration::from_secs(5))
        .with_context(|| format!("{}: {}", p.what, p.stderr.text()))?;
    Ok(line
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn get<'a>(r: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    r.get(k).map(String::as_str).unwrap_or("")
}

/// A string field of a JSON answer.
fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// A number field of a JSON answer.
fn n(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

/// Waits until a TCP socket listens on `port` in `ns` (`ss -tln`).
fn wait_tcp_listening(ns: &Netns, port: u16) -> Result<()> {
    let deadline = sys::now() + Duration::from_secs(5);
    loop {
        let out = ns.exec(&["ss", "-Htln", &format!("sport = :{port}")])?;
        if !out.trim().is_empty() {
            return Ok(());
        }
        ensure!(sys::now() < deadline, "nothing listens on TCP {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until neither side's TCP segment counts move for 150 ms (delayed ACKs, a FIN's
/// last ACK), so that a snapshot falls between steps, not inside one.
fn settle(ns: &Netns, host: &mut Host) -> Result<()> {
    settle_for(ns, host, Duration::from_millis(150), Duration::from_secs(3))
}

/// [`settle`] with the quiet time asked for (under loss, a retransmitted FIN or its ACK may
/// come a retransmission timeout later), giving up after `limit`.
fn settle_for(ns: &Netns, host: &mut Host, quiet: Duration, limit: Duration) -> Result<()> {
    let deadline = sys::now() + limit;
    let mut last = None;
    let mut since = sys::now();
    loop {
        let snmp = ns.snmp()?;
        let w = host.counters_now()?;
        let now = (
            snmp.get("Tcp.InSegs"),
            snmp.get("Tcp.OutSegs"),
            cnt(&w, "tcp.rx_segments"),
            cnt(&w, "tcp.tx_segments"),
        );
        if last != Some(now) {
            last = Some(now);
            since = sys::now();
        } else if sys::now().duration_since(since) >= quiet {
            return Ok(());
        }
        if sys::now() >= deadline {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn tcp_before(ns: &Netns, host: &mut Host) -> Result<(LinuxSnap, Value)> {
    settle(ns, host)?;
    before(ns, host)
}

fn tcp_after(ns: &Netns, host: &mut Host) -> Result<(LinuxSnap, Value)> {
    settle(ns, host)?;
    after(ns, host)
}

/// What a step must change, exactly, on both sides.
#[derive(Debug, Default, Clone, Copy)]
struct Expect {
    /// Linux `Tcp.ActiveOpens`.
    active: i64,
    /// Linux `Tcp.PassiveOpens`.
    passive: i64,
    /// Linux `Tcp.AttemptFails`.
    attempt_fails: i64,
    /// Linux `Tcp.EstabResets`.
    estab_resets: i64,
    /// Linux `Tcp.OutRsts`.
    out_rsts: i64,
    /// weft `tcp.connects`.
    weft_connects: u64,
    /// weft `tcp.passive_opens`.
    weft_passive: u64,
    /// weft `tcp.rst_sent` (RSTs for segments of no connection).
    weft_rst_sent: u64,
    /// Segments Linux sends are dropped before the TAP (the vanished peer): `Tcp.OutSegs`
    /// is not compared with weft's count.
    linux_out_dropped: bool,
    /// Segments weft sent that nftables dropped before Linux's TCP saw them.
    nft_dropped_in: u64,
    /// Segments Linux's TCP sent (and counted in `Tcp.OutSegs`) that nftables dropped before
    /// the TAP.
    nft_dropped_out: u64,
}

/// Asserts `e` and the segment and error counts; the counts as text.
fn check_tcp(s0: &LinuxSnap, s1: &LinuxSnap, w0: &Value, w1: &Value, e: &Expect) -> Result<String> {
    let l = |k: &str| s1.snmp.delta(&s0.snmp, &format!("Tcp.{k}"));
    let w = |k: &str| delta(w0, w1, &format!("tcp.{k}"));
    // Late RSTs. When weft closes first, Linux closes last and keeps no TIME-WAIT: its socket
    // is gone once weft's ACK of its FIN arrives, and Linux answers anything weft sends after
    // that with an RST. Under loss weft may still send then: Linux's retransmissions of data
    // weft already holds (out of order, before a hole was filled) can be in flight when weft
    // acknowledges the FIN, and weft, in TIME-WAIT by then, answers each such old duplicate
    // with an ACK (RFC 9293 §3.10.7.4; counted in `time_wait_acks`). So Linux may send one RST
    // more per such ACK, never more. The first RST that reaches weft ends its TIME-WAIT
    // (§3.10.7.4 again); old duplicates arriving after it find no connection and weft
    // answers them with RSTs of its own (counted in `rx_no_socket`).
    let tw_acks = i64::try_from(delta(w0, w1, "tcp_conns.time_wait_acks")).unwrap_or(i64::MAX);
    let late_rsts = l("OutRsts") - e.out_rsts;
    ensure!(
        (0..=tw_acks).contains(&late_rsts),
        "Linux Tcp.OutRsts +{}, expected +{} (and at most one more per ACK weft sent in \
         TIME-WAIT: {tw_acks})",
        l("OutRsts"),
        e.out_rsts
    );
    let weft_late_rsts = if late_rsts > 0 {
        w("rst_sent").saturating_sub(e.weft_rst_sent)
    } else {
        0
    };
    ensure!(
        weft_late_rsts <= w("rx_no_socket"),
        "weft tcp.rst_sent +{}: {weft_late_rsts} more than expected after Linux's late RSTs, \
         for {} segments of no connection",
        w("rst_sent"),
        w("rx_no_socket")
    );
    for (k, want) in [
        ("ActiveOpens", e.active),
        ("PassiveOpens", e.passive),
        ("AttemptFails", e.attempt_fails),
        ("EstabResets", e.estab_resets),
        ("InErrs", 0),
        ("InCsumErrors", 0),
    ] {
        ensure!(l(k) == want, "Linux Tcp.{k} +{}, expected +{want}", l(k));
    }
    for (k, want) in [
        ("connects", e.weft_connects),
        ("passive_opens", e.weft_passive),
        ("rst_sent", e.weft_rst_sent + weft_late_rsts),
        ("rx_bad_checksum", 0),
        ("rx_malformed", 0),
        ("backlog_drops", 0),
    ] {
        ensure!(w(k) == want, "weft tcp.{k} +{}, expected +{want}", w(k));
    }
    let (wtx, wrx) = (w("tx_segments"), w("rx_segments"));
    let (lout, lsent, synack_rtx) = linux_sent(s0, s1);
    let lin = l("InSegs");
    let (din, dout) = (e.nft_dropped_in, e.nft_dropped_out);
    ensure!(
        i64::try_from(wtx).ok() == i64::try_from(din).ok().map(|d| lin + d),
        "weft sent {wtx} TCP segments, Linux received {lin} (Tcp.InSegs) and nftables dropped \
         {din}"
    );
    // A segment Linux sent can also be dropped by the kernel at the TAP itself when its
    // queue is full (the weft side read too slowly, on a loaded machine): the device's TX
    // dropped counter has it, and TCP sends it again like any other loss. The counter counts
    // every frame the device dropped (an ARP frame too), so it bounds the TCP segments lost
    // there from above: exact when it is 0.
    let tap_dropped = s1.link.since(&s0.link).tx_dropped;
    if !e.linux_out_dropped {
        let arrived = i64::try_from(wrx + dout).unwrap_or(i64::MAX);
        let at_most = i64::try_from(wrx + dout + tap_dropped).unwrap_or(i64::MAX);
        ensure!(
            (arrived..=at_most).contains(&lsent),
            "Linux sent {lsent} TCP segments (Tcp.OutSegs + RetransSegs - {synack_rtx} \
             SYN-ACKs sent again), nftables dropped {dout}, the TAP dropped {tap_dropped} \
             frames (TX dropped), weft received {wrx}"
        );
    }
    let mut tap = link_agreement(&s1.link.since(&s0.link), w0, w1)?;
    if tap_dropped > 0 {
        tap.push_str(&format!(" (TX dropped {tap_dropped})"));
    }
    let late = if late_rsts > 0 {
        format!(
            " ({late_rsts} late: answers to weft's {tw_acks} ACKs from TIME-WAIT; weft's own \
             late RSTs {weft_late_rsts})"
        )
    } else {
        String::new()
    };
    Ok(format!(
        "Linux Tcp ActiveOpens +{} PassiveOpens +{} AttemptFails +{} EstabResets +{} \
         OutRsts +{}{late} InSegs +{lin} OutSegs +{lout} RetransSegs +{}; weft tcp connects +{} \
         passive_opens +{} rst_sent +{} rx_no_socket +{} rx_segments +{wrx} tx_segments +{wtx}; \
         {tap}",
        l("ActiveOpens"),
        l("PassiveOpens"),
        l("AttemptFails"),
        l("EstabResets"),
        l("OutRsts"),
        l("RetransSegs"),
        w("connects"),
        w("passive_opens"),
        w("rst_sent"),
        w("rx_no_socket"),
    ))
}

/// TCP segments Linux sent between two snapshots: (`Tcp.OutSegs`, every segment, SYN-ACKs
/// sent again). Linux counts a retransmission in `RetransSegs` and not in `OutSegs`, except a
/// SYN-ACK sent again: `tcp_make_synack` counts every SYN-ACK it builds in `OutSegs` and
/// `tcp_rtx_synack` counts the repeat in `RetransSegs` too (and in `TcpExt.TCPSynRetrans`).
/// `TCPSynRetrans` also counts the SYNs of Linux's own connects sent again (in `RetransSegs`
/// only): it is taken for SYN-ACKs when Linux opened no connection itself.
fn linux_sent(s0: &LinuxSnap, s1: &LinuxSnap) -> (i64, i64, i64) {
    let d = |k: &str| s1.snmp.delta(&s0.snmp, k);
    let out = d("Tcp.OutSegs");
    let synack_rtx = if d("Tcp.ActiveOpens") == 0 {
        d("TcpExt.TCPSynRetrans")
    } else {
        0
    };
    (out, out + d("Tcp.RetransSegs") - synack_rtx, synack_rtx)
}

/// A table of the namespace's nftables dropping everything Linux sends on `dev` (the
/// vanished peer); removed on drop.
struct Blackhole<'a> {
    ns: &'a Netns,
}

const NFT_TABLE: &str = "weftloss";

impl<'a> Blackhole<'a> {
    fn install(ns: &'a Netns, dev: &str) -> Result<Blackhole<'a>> {
        ns.exec(&["nft", "add", "table", "inet", NFT_TABLE])?;
        let b = Blackhole { ns };
        ns.exec(&[
            "nft",
            "add",
            "chain",
            "inet",
            NFT_TABLE,
            "out",
            "{ type filter hook output priority 0 ; policy accept ; }",
        ])?;
        ns.exec(&[
            "nft", "add", "rule", "inet", NFT_TABLE, "out", "oifname", dev, "counter", "drop",
        ])?;
        Ok(b)
    }

    /// Packets dropped so far (the rule's counter).
    fn dropped(&self) -> Result<u64> {
        let out = self
            .ns
            .exec(&["nft", "-j", "list", "table", "inet", NFT_TABLE])?;
        let v: Value = serde_json::from_str(&out).context("parsing `nft -j list table`")?;
        v.get("nftables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.pointer("/rule/expr")?.as_array())
            .flatten()
            .find_map(|x| x.pointer("/counter/packets")?.as_u64())
            .with_context(|| format!("no counter in {out}"))
    }
}

impl Drop for Blackhole<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.ns.exec(&["nft", "delete", "table", "inet", NFT_TABLE]) {
            eprintln!("interop: cleanup: {e:#}");
        }
    }
}

type Step = fn(&Ctx, &Netns, &mut Host, &Path) -> Result<String>;

impl Ctx {
    /// The TCP steps: one namespace, one weft stack with a user timeout of [`USER_TIMEOUT`].
    pub(super) fn tcp_steps(&self, report: &mut Report) -> Result<()> {
        let ns = Netns::create(&self.ledger, 3)?;
        ns.tap(TAP, &format!("{LINUX}/24"))?;
        let tmp = TempDir::new("tcp")?;
        let ut = USER_TIMEOUT.as_millis().to_string();
        let mut host = Host::start_with(
            self,
            &ns,
            TAP,
            MAC,
            Some(&format!("{WEFT}/24")),
            &["--user-timeout-ms", &ut],
        )?;
        // Each side resolves the other first: the steps hold TCP only (ARP is the static
        // steps' subject).
        host.cmd(&format!("ping {LINUX} 1 3000"), Duration::from_secs(5))?;
        ns.exec(&["ping", "-c", "1", "-W", "3", WEFT])?;
        let steps: [(&str, Step); 12] = [
            ("tcp_echo_linux_to_weft", step_echo_linux_client),
            ("tcp_echo_weft_to_linux", step_echo_weft_client),
            ("tcp_bulk_weft_to_linux", step_bulk_weft_to_linux),
            ("tcp_bulk_linux_to_weft", step_bulk_linux_to_weft),
            ("tcp_bulk_lossy", step_bulk_lossy),
            ("tcp_half_close_linux_to_weft", step_half_close_linux_first),
            ("tcp_half_close_weft_to_linux", step_half_close_weft_first),
            ("tcp_rst_linux_to_weft", step_rst_from_linux),
            ("tcp_rst_weft_to_linux", step_rst_from_weft),
            ("tcp_syn_closed_port_linux_to_weft", step_closed_weft_port),
            ("tcp_syn_closed_port_weft_to_linux", step_closed_linux_port),
            ("tcp_vanished_peer", step_vanished_peer),
        ];
        for (name, f) in steps {
            self.step(report, name, &ns, TAP, || f(self, &ns, &mut host, &tmp.0));
        }
        host.quit()
    }
}

/// Lines socat sends to weft's echo: one small, one of a full segment, one of many segments.
const ECHO_LINES: [usize; 3] = [64, 1460, 20_000];

fn step_echo_linux_client(ctx: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    host.cmd("tcp-echo 7", Duration::from_secs(2))?;
    let (s0, w0) = tcp_before(ns, host)?;
    let mut cmd = ns.command("socat");
    cmd.args(["-b", "65536", "-t", "5", "-T", "10", "STDIO"])
        .arg(format!("TCP4:{WEFT}:7"));
    let mut socat = Proc::spawn(&ctx.ledger, "socat echo client", cmd)?;
    let mut total = 0;
    for size in ECHO_LINES {
        // size - 1 printable bytes and a newline; socat prints the echo.
        let line: String = (0..size - 1)
            .map(|i| char::from(b'a' + u8::try_from(i % 26).unwrap_or(0)))
            .collect();
        socat.write(format!("{line}\n").as_bytes())?;
        socat
            .stdout
            .wait_for(Duration::from_secs(3), |l| l == line)
            .with_context(|| {
                format!(
                    "no echo of the {size}-byte line from weft; socat: {}",
                    socat.stderr.text()
                )
            })?;
        total += size;
    }
    // socat's end of stdin becomes its FIN; weft's server closes after it; socat exits.
    socat
        .wait(Duration::from_secs(5))
        .with_context(|| format!("socat: {}", socat.stderr.text()))?;
    let stats = host.cmd("tcp-echo-stats 7", Duration::from_secs(2))?;
    let served = stats.get("served").and_then(Value::as_u64).unwrap_or(0);
    let bytes = stats.get("bytes").and_then(Value::as_u64).unwrap_or(0);
    ensure!(
        served >= 1 && bytes as usize >= total,
        "weft's echo server: {stats}"
    );
    let (s1, w1) = tcp_after(ns, host)?;
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            active: 1,
            weft_passive: 1,
            ..Expect::default()
        },
    )?;
    Ok(format!(
        "socat sent lines of {ECHO_LINES:?} bytes, each echoed, then its FIN; weft's echo server \
         served {served} connection, {bytes} bytes, and closed; {counts}"
    ))
}

/// Bytes weft sends to socat's echo (and gets back).
const ECHO_BYTES: usize = 30_000;

fn step_echo_weft_client(ctx: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    let mut cmd = ns.command("socat");
    cmd.args(["-t", "5", "-T", "10"])
        .arg(format!("TCP4-LISTEN:7007,bind={LINUX},reuseaddr,fork"))
        .arg("PIPE");
    let _server = Proc::spawn(&ctx.ledger, "socat echo server", cmd)?;
    wait_tcp_listening(ns, 7007)?;
    let (s0, w0) = tcp_before(ns, host)?;
    let want = SeededBytes::sha256(11, ECHO_BYTES, None)?;
    let r = host.cmd(
        &format!("tcp-client {LINUX}:7007 {ECHO_BYTES} 11 10000"),
        Duration::from_secs(12),
    )?;
    ensure!(
        s(&r, "/sent_sha256") == want,
        "weft sent bytes hashing to {}, expected {want}",
        s(&r, "/sent_sha256")
    );
    ensure!(
        n(&r, "/received") as usize == ECHO_BYTES && s(&r, "/received_sha256") == want,
        "socat's echo: {} bytes, SHA-256 {}; sent {ECHO_BYTES}, {want}",
        n(&r, "/received"),
        s(&r, "/received_sha256")
    );
    let (s1, w1) = tcp_after(ns, host)?;
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            passive: 1,
            weft_connects: 1,
            ..Expect::default()
        },
    )?;
    Ok(format!(
        "weft sent {ECHO_BYTES} bytes to socat's echo (TCP4-LISTEN … PIPE) and its FIN, read \
         the same {ECHO_BYTES} bytes back (SHA-256 {}…) and socat's FIN in {:.1} ms; {counts}",
        want.get(..16).unwrap_or(""),
        n(&r, "/eof_ms")
    ))
}

/// MB/s of `bytes` in `ms`.
fn rate(bytes: usize, ms: f64) -> f64 {
    bytes as f64 / 1e6 / (ms / 1000.0)
}

/// One bulk transfer's outcome, with both sides' counters checked by [`check_tcp`].
struct Bulk {
    /// The host's answer to `tcp-client`.
    r: Value,
    /// From sending the command to its answer.
    wall: Duration,
    /// [`check_tcp`]'s text.
    counts: String,
    /// Linux's counters around the transfer.
    s0: LinuxSnap,
    s1: LinuxSnap,
    /// weft's counters around the transfer.
    w0: Value,
    w1: Value,
    /// What nftables saw and dropped during the transfer (zero without [`Lossy`]).
    loss: LossCounts,
    /// Linux's `TcpExt` counters (/proc/net/netstat) around the transfer, under loss.
    ext: (Snmp, Snmp),
}

impl Bulk {
    /// Settled snapshots of both sides (and of the loss counters) before a transfer.
    fn before(
        ns: &Netns,
        host: &mut Host,
        lossy: Option<&Lossy<'_>>,
    ) -> Result<(LinuxSnap, Value, LossCounts, Snmp)> {
        match lossy {
            None => {
                let (s, w) = tcp_before(ns, host)?;
                Ok((s, w, LossCounts::default(), Snmp::default()))
            }
            Some(l) => {
                settle_for(ns, host, LOSSY_QUIET, LOSSY_SETTLE)?;
                let c = l.counts()?;
                let ext = netstat(ns)?;
                let (s, w) = before(ns, host)?;
                Ok((s, w, c, ext))
            }
        }
    }

    /// [`Bulk::before`] after a transfer.
    fn after(
        ns: &Netns,
        host: &mut Host,
        lossy: Option<&Lossy<'_>>,
    ) -> Result<(LinuxSnap, Value, LossCounts, Snmp)> {
        match lossy {
            None => {
                let (s, w) = tcp_after(ns, host)?;
                Ok((s, w, LossCounts::default(), Snmp::default()))
            }
            Some(l) => {
                settle_for(ns, host, LOSSY_QUIET, LOSSY_SETTLE)?;
                let (s, w) = after(ns, host)?;
                Ok((s, w, l.counts()?, netstat(ns)?))
            }
        }
    }

    /// MB/s from the connection to Linux's FIN.
    fn rate(&self) -> f64 {
        rate(BULK, n(&self.r, "/eof_ms"))
    }

    /// Seconds from the connection to Linux's FIN.
    fn secs(&self) -> f64 {
        n(&self.r, "/eof_ms") / 1000.0
    }
}

/// [`BULK`] seeded bytes from weft to `socat | sha256sum` on `port`, under `lossy` when given.
fn bulk_weft_to_linux(
    ctx: &Ctx,
    ns: &Netns,
    host: &mut Host,
    port: u16,
    seed: u64,
    limit: Duration,
    lossy: Option<&Lossy<'_>>,
) -> Result<Bulk> {
    let want = SeededBytes::sha256(seed, BULK, None)?;
    let mut cmd = ns.command("sh");
    cmd.arg("-c").arg(format!(
        "socat -u -b 131072 TCP4-LISTEN:{port},bind={LINUX},reuseaddr STDOUT | sha256sum"
    ));
    let mut sink = Proc::spawn(&ctx.ledger, "socat | sha256sum", cmd)?;
    wait_tcp_listening(ns, port)?;
    let (s0, w0, l0, x0) = Bulk::before(ns, host, lossy)?;
    let t = sys::now();
    let r = host.cmd(
        &format!(
            "tcp-client {LINUX}:{port} {BULK} {seed} {}",
            limit.as_millis()
        ),
        limit + Duration::from_secs(2),
    )?;
    let wall = sys::now().duration_since(t);
    let linux = sink
        .stdout
        .wait_for(Duration::from_secs(5), |l| l.len() >= 64)
        .with_context(|| format!("no hash from sha256sum: {}", sink.stderr.text()))?;
    sink.wait(Duration::from_secs(5))?;
    let linux = linux.split_whitespace().next().unwrap_or("");
    ensure!(
        s(&r, "/sent_sha256") == want,
        "weft sent bytes hashing to {}, expected {want}",
        s(&r, "/sent_sha256")
    );
    ensure!(
        linux == want,
        "Linux received bytes hashing to {linux}, weft sent {want}"
    );
    let (s1, w1, l1, x1) = Bulk::after(ns, host, lossy)?;
    let loss = l1.since(&l0);
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            passive: 1,
            weft_connects: 1,
            nft_dropped_in: loss.in_dropped,
            nft_dropped_out: loss.out_dropped,
            // Under loss, Linux may be in LAST-ACK when weft's window update comes.
            ..Expect::default()
        },
    )?;
    Ok(Bulk {
        r,
        wall,
        counts,
        s0,
        s1,
        w0,
        w1,
        loss,
        ext: (x0, x1),
    })
}

/// [`BULK`] seeded bytes from socat (a file in `tmp`) on `port` to weft, under `lossy` when
/// given.
#[allow(clippy::too_many_arguments)]
fn bulk_linux_to_weft(
    ctx: &Ctx,
    ns: &Netns,
    host: &mut Host,
    tmp: &Path,
    port: u16,
    seed: u64,
    limit: Duration,
    lossy: Option<&Lossy<'_>>,
) -> Result<(Bulk, String)> {
    let file = tmp.join(format!("bulk-{seed}.bin"));
    let want = {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file)?);
        let h = SeededBytes::sha256(seed, BULK, Some(&mut f))?;
        std::io::Write::flush(&mut f)?;
        h
    };
    // The file's hash as coreutils has it: the same function on both sides.
    let coreutils = sys::run(Command::new("sha256sum").arg(&file))?;
    let coreutils = coreutils.split_whitespace().next().unwrap_or("");
    ensure!(
        coreutils == want,
        "sha256sum says {coreutils}, the harness {want}"
    );
    let mut cmd = ns.command("socat");
    cmd.args(["-u", "-b", "131072"])
        .arg(format!("OPEN:{}", file.display()))
        .arg(format!("TCP4-LISTEN:{port},bind={LINUX},reuseaddr"));
    let mut source = Proc::spawn(&ctx.ledger, "socat file source", cmd)?;
    wait_tcp_listening(ns, port)?;
    let (s0, w0, l0, x0) = Bulk::before(ns, host, lossy)?;
    let t = sys::now();
    let r = host.cmd(
        &format!("tcp-client {LINUX}:{port} 0 0 {}", limit.as_millis()),
        limit + Duration::from_secs(2),
    )?;
    let wall = sys::now().duration_since(t);
    source
        .wait(Duration::from_secs(5))
        .with_context(|| format!("socat: {}", source.stderr.text()))?;
    let _ = std::fs::remove_file(&file);
    ensure!(
        n(&r, "/received") as usize == BULK && s(&r, "/received_sha256") == want,
        "weft received {} bytes hashing to {}; Linux sent {BULK}, {want}",
        n(&r, "/received"),
        s(&r, "/received_sha256")
    );
    let (s1, w1, l1, x1) = Bulk::after(ns, host, lossy)?;
    let loss = l1.since(&l0);
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            passive: 1,
            weft_connects: 1,
            nft_dropped_in: loss.in_dropped,
            nft_dropped_out: loss.out_dropped,
            ..Expect::default()
        },
    )?;
    Ok((
        Bulk {
            r,
            wall,
            counts,
            s0,
            s1,
            w0,
            w1,
            loss,
            ext: (x0, x1),
        },
        want,
    ))
}

fn step_bulk_weft_to_linux(ctx: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    let b = bulk_weft_to_linux(ctx, ns, host, 7010, 21, BULK_LIMIT, None)?;
    Ok(format!(
        "{BULK} seeded bytes weft → socat | sha256sum: {} on both sides; {:.2} s to Linux's \
         FIN, {:.1} MB/s ({:.2} s wall); weft retransmitted {} segments; {}",
        s(&b.r, "/sent_sha256"),
        b.secs(),
        b.rate(),
        b.wall.as_secs_f64(),
        n(&b.r, "/flow/stats/retransmitted_segs"),
        b.counts
    ))
}

fn step_bulk_linux_to_weft(ctx: &Ctx, ns: &Netns, host: &mut Host, tmp: &Path) -> Result<String> {
    let (b, want) = bulk_linux_to_weft(ctx, ns, host, tmp, 7011, 22, BULK_LIMIT, None)?;
    Ok(format!(
        "{BULK} seeded bytes socat → weft: SHA-256 {want} as sha256sum has it; {:.2} s to \
         Linux's FIN, {:.1} MB/s ({:.2} s wall); {}",
        b.secs(),
        b.rate(),
        b.wall.as_secs_f64(),
        b.counts
    ))
}

/// Percent of TCP frames dropped each way in `tcp_bulk_lossy`.
const LOSS_PERCENT: u64 = 2;
/// Longest one lossy transfer may take.
const LOSSY_LIMIT: Duration = Duration::from_secs(25);
/// Quiet time of the snapshots under loss: longer than Linux's retransmission timeouts at
/// the end of a connection (a lost last ACK brings the FIN again).
const LOSSY_QUIET: Duration = Duration::from_millis(1000);
const LOSSY_SETTLE: Duration = Duration::from_secs(5);
/// The nftables table of the loss.
const LOSSY_TABLE: &str = "weftlossy";
/// Where the egress chain sends the frames it drops: one end of a veth pair that stays
/// down, whose transmit discards them.
const LOSSY_SINK: &str = "wdrop0";
const LOSSY_SINK_PEER: &str = "wdrop1";

/// Packets nftables saw and dropped on the TAP (TCP only), by direction: `in` is weft →
/// Linux (the TAP's ingress), `out` Linux → weft (its egress).
#[derive(Debug, Default, Clone, Copy)]
struct LossCounts {
    in_seen: u64,
    in_dropped: u64,
    out_seen: u64,
    out_dropped: u64,
}

impl LossCounts {
    fn since(&self, b: &LossCounts) -> LossCounts {
        LossCounts {
            in_seen: self.in_seen.saturating_sub(b.in_seen),
            in_dropped: self.in_dropped.saturating_sub(b.in_dropped),
            out_seen: self.out_seen.saturating_sub(b.out_seen),
            out_dropped: self.out_dropped.saturating_sub(b.out_dropped),
        }
    }

    fn add(&self, b: &LossCounts) -> LossCounts {
        LossCounts {
            in_seen: self.in_seen + b.in_seen,
            in_dropped: self.in_dropped + b.in_dropped,
            out_seen: self.out_seen + b.out_seen,
            out_dropped: self.out_dropped + b.out_dropped,
        }
    }

    /// Reads the counters from `nft -j list table netdev LOSSY_TABLE`: in each chain, the
    /// rule without a verdict counts what it sees, the one with a verdict what it drops.
    fn parse(json: &str) -> Result<LossCounts> {
        let v: Value = serde_json::from_str(json).context("parsing `nft -j list table`")?;
        let mut c = LossCounts::default();
        let mut found = 0;
        for rule in v
            .get("nftables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("rule"))
        {
            let exprs = rule.get("expr").and_then(Value::as_array);
            let exprs = exprs.map(Vec::as_slice).unwrap_or_default();
            let Some(packets) = exprs
                .iter()
                .find_map(|x| x.pointer("/counter/packets")?.as_u64())
            else {
                continue;
            };
            let verdict = exprs
                .iter()
                .any(|x| x.get("drop").is_some() || x.get("fwd").is_some());
            let slot = match (rule.get("chain").and_then(Value::as_str), verdict) {
                (Some("ingress"), false) => &mut c.in_seen,
                (Some("ingress"), true) => &mut c.in_dropped,
                (Some("egress"), false) => &mut c.out_seen,
                (Some("egress"), true) => &mut c.out_dropped,
                _ => continue,
            };
            *slot = packets;
            found += 1;
        }
        ensure!(found == 4, "{found} of the 4 loss counters in {json}");
        Ok(c)
    }
}

/// Random loss of TCP frames on the TAP, both ways, with nftables (netem is not in this
/// kernel): a `netdev` table with chains on the TAP's ingress hook (frames weft wrote,
/// before Linux's IP sees them) and egress hook (frames Linux's TCP sent, after it counted
/// them as sent), each a counting rule and `numgen random mod 100 < LOSS_PERCENT`. Ingress
/// drops; egress must not, or Linux's TCP would see a local transmit error and send again
/// at once (not a loss): it forwards the frame to a veth end that is down instead, which
/// discards it, as a lossy wire does. The TAP's `gso_max_segs` is 1 meanwhile, so that
/// Linux's TCP hands the device one segment at a time (not a GSO train the egress hook
/// would drop whole). Everything is undone on drop.
struct Lossy<'a> {
    ns: &'a Netns,
    dev: String,
    /// The TAP's `gso_max_segs` before, restored on drop.
    gso_max_segs: u64,
    sink: bool,
    table: bool,
}

impl<'a> Lossy<'a> {
    fn install(ctx: &Ctx, ns: &'a Netns, dev: &str, dir: &Path) -> Result<Lossy<'a>> {
        let gso_max_segs = gso_max_segs(ns, dev)?;
        let mut l = Lossy {
            ns,
            dev: dev.to_string(),
            gso_max_segs,
            sink: false,
            table: false,
        };
        ns.ip(&[
            "link",
            "add",
            LOSSY_SINK,
            "type",
            "veth",
            "peer",
            "name",
            LOSSY_SINK_PEER,
        ])?;
        l.sink = true;
        for link in [LOSSY_SINK, LOSSY_SINK_PEER] {
            ctx.ledger
                .borrow_mut()
                .links
                .push((ns.name.clone(), link.to_string()));
        }
        ns.ip(&["link", "set", dev, "gso_max_segs", "1"])?;
        let p = LOSS_PERCENT;
        let rules = format!(
            "table netdev {LOSSY_TABLE} {{\n\
             \tchain ingress {{\n\
             \t\ttype filter hook ingress device \"{dev}\" priority 0; policy accept;\n\
             \t\tip protocol tcp counter\n\
             \t\tip protocol tcp numgen random mod 100 < {p} counter drop\n\
             \t}}\n\
             \tchain egress {{\n\
             \t\ttype filter hook egress device \"{dev}\" priority 0; policy accept;\n\
             \t\tip protocol tcp counter\n\
             \t\tip protocol tcp numgen random mod 100 < {p} counter fwd to \"{LOSSY_SINK}\"\n\
             \t}}\n\
             }}\n"
        );
        let file = dir.join("lossy.nft");
        std::fs::write(&file, rules)?;
        ns.exec(&["nft", "-f", &file.to_string_lossy()])?;
        l.table = true;
        Ok(l)
    }

    fn counts(&self) -> Result<LossCounts> {
        let out = self
            .ns
            .exec(&["nft", "-j", "list", "table", "netdev", LOSSY_TABLE])?;
        LossCounts::parse(&out)
    }

    /// Removes everything (see [`Drop`]) and checks that nothing of it is left.
    fn remove(mut self) -> Result<()> {
        let (ns, dev, gso) = (self.ns, self.dev.clone(), self.gso_max_segs);
        self.undo();
        let tables = ns.exec(&["nft", "list", "tables"])?;
        ensure!(
            !tables.contains(LOSSY_TABLE),
            "nftables table {LOSSY_TABLE} left: {tables}"
        );
        let links = ns.ip(&["-o", "link", "show"])?;
        ensure!(
            !links.contains(LOSSY_SINK) && !links.contains(LOSSY_SINK_PEER),
            "veth {LOSSY_SINK} left: {links}"
        );
        let now = gso_max_segs(ns, &dev)?;
        ensure!(now == gso, "{dev}: gso_max_segs {now}, was {gso}");
        Ok(())
    }

    fn undo(&mut self) {
        let mut errors = Vec::new();
        if std::mem::take(&mut self.table)
            && let Err(e) = self
                .ns
                .exec(&["nft", "delete", "table", "netdev", LOSSY_TABLE])
        {
            errors.push(e);
        }
        if std::mem::take(&mut self.sink)
            && let Err(e) = self.ns.ip(&["link", "del", LOSSY_SINK])
        {
            errors.push(e);
        }
        let gso = self.gso_max_segs.to_string();
        if let Err(e) = self
            .ns
            .ip(&["link", "set", &self.dev, "gso_max_segs", &gso])
        {
            errors.push(e);
        }
        for e in errors {
            eprintln!("interop: cleanup: {e:#}");
        }
    }
}

impl Drop for Lossy<'_> {
    fn drop(&mut self) {
        if self.table || self.sink {
            self.undo();
        }
    }
}

/// A link's `gso_max_segs` (`ip -d -j link show`).
fn gso_max_segs(ns: &Netns, dev: &str) -> Result<u64> {
    let out = ns.ip(&["-d", "-j", "link", "show", "dev", dev])?;
    let v: Value = serde_json::from_str(&out).context("parsing `ip -d -j link show`")?;
    v.pointer("/0/gso_max_segs")
        .and_then(Value::as_u64)
        .with_context(|| format!("no gso_max_segs for {dev} in {out}"))
}

/// `dropped` of `seen` is roughly [`LOSS_PERCENT`]: between half and one and a half times
/// it (thousands of frames each way: many standard deviations from the edges).
fn check_loss(what: &str, dropped: u64, seen: u64) -> Result<f64> {
    ensure!(seen > 0, "nftables saw no {what} TCP frames");
    let pct = dropped as f64 * 100.0 / seen as f64;
    let p = LOSS_PERCENT as f64;
    ensure!(
        dropped > 0 && pct >= p / 2.0 && pct <= p * 1.5,
        "nftables dropped {dropped} of {seen} {what} TCP frames ({pct:.2}%), expected about \
         {p}%"
    );
    Ok(pct)
}

/// weft's retransmission counters of a `tcp-client` answer, as text.
fn weft_retx(r: &Value) -> String {
    format!(
        "retransmitted {} segments ({} fast retransmits, {} RTOs; at the end RTO {:.0} ms, \
         SRTT {:.2} ms, cwnd {}), {} dup ACKs in, {} out-of-order segments in",
        n(r, "/flow/stats/retransmitted_segs"),
        n(r, "/flow/stats/fast_retransmits"),
        n(r, "/flow/stats/rto_expirations"),
        n(r, "/flow/send/rto_ms"),
        n(r, "/flow/send/srtt_ms"),
        n(r, "/flow/send/cwnd"),
        n(r, "/flow/stats/dup_acks"),
        n(r, "/flow/stats/ooo_segments"),
    )
}

/// Linux's `TcpExt` counters (/proc/net/netstat, the same layout as /proc/net/snmp).
fn netstat(ns: &Netns) -> Result<Snmp> {
    Ok(Snmp::parse(&ns.exec(&["cat", "/proc/net/netstat"])?))
}

/// Linux's loss recovery as a sender and its out-of-order handling as a receiver during a
/// transfer, as text (for comparison with weft's).
fn linux_recovery(b: &Bulk) -> String {
    let (x0, x1) = &b.ext;
    [
        "TCPTimeouts",
        "TCPLossProbes",
        "TCPRenoRecovery",
        "TCPSackRecovery",
        "TCPFastRetrans",
        "TCPRenoReorder",
        "TCPSACKReorder",
        "TCPOFOQueue",
        "TCPOFODrop",
        "TCPBacklogCoalesce",
        "TCPBacklogDrop",
        "DelayedACKs",
        "TCPDSACKOldSent",
    ]
    .iter()
    .map(|k| format!("{k} +{}", x1.delta(x0, &format!("TcpExt.{k}"))))
    .collect::<Vec<_>>()
    .join(" ")
}

fn step_bulk_lossy(ctx: &Ctx, ns: &Netns, host: &mut Host, tmp: &Path) -> Result<String> {
    let t = sys::now();
    let lossy = Lossy::install(ctx, ns, TAP, tmp)?;
    let out = bulk_weft_to_linux(ctx, ns, host, 7050, 41, LOSSY_LIMIT, Some(&lossy))
        .context("weft → Linux")?;
    let (inn, _) = bulk_linux_to_weft(ctx, ns, host, tmp, 7051, 42, LOSSY_LIMIT, Some(&lossy))
        .context("Linux → weft")?;
    lossy.remove()?;
    let wall = sys::now().duration_since(t);
    let mut lines = Vec::new();
    for (what, b) in [("weft → Linux", &out), ("Linux → weft", &inn)] {
        // Every frame weft wrote went through the ingress chain; every segment Linux's TCP
        // sent, one per frame, through the egress chain.
        let wtx = delta(&b.w0, &b.w1, "tcp.tx_segments");
        ensure!(
            b.loss.in_seen == wtx,
            "{what}: weft sent {wtx} TCP segments, nftables' ingress chain saw {}",
            b.loss.in_seen
        );
        let (_, lsent, synack_rtx) = linux_sent(&b.s0, &b.s1);
        ensure!(
            i64::try_from(b.loss.out_seen).ok() == Some(lsent),
            "{what}: Linux sent {lsent} TCP segments (OutSegs + RetransSegs - {synack_rtx} \
             SYN-ACKs sent again), nftables' egress chain saw {} (one segment per frame?)",
            b.loss.out_seen
        );
        ensure!(
            b.loss.in_dropped > 0 && b.loss.out_dropped > 0,
            "{what}: nftables dropped {} frames weft → Linux and {} Linux → weft",
            b.loss.in_dropped,
            b.loss.out_dropped
        );
        lines.push(format!(
            "{what}: {:.2} s to Linux's FIN, {:.1} MB/s ({:.2} s wall), nftables dropped {}/{} \
             weft → Linux and {}/{} Linux → weft; Linux RetransSegs +{} ({}); weft {}; {}",
            b.secs(),
            b.rate(),
            b.wall.as_secs_f64(),
            b.loss.in_dropped,
            b.loss.in_seen,
            b.loss.out_dropped,
            b.loss.out_seen,
            b.s1.snmp.delta(&b.s0.snmp, "Tcp.RetransSegs"),
            linux_recovery(b),
            weft_retx(&b.r),
            b.counts
        ));
    }
    let all = out.loss.add(&inn.loss);
    let pin = check_loss("weft → Linux", all.in_dropped, all.in_seen)?;
    let pout = check_loss("Linux → weft", all.out_dropped, all.out_seen)?;
    // Each sender lost data and sent it again.
    let l_retx = snmp_at_least(&inn.s0.snmp, &inn.s1.snmp, "Tcp.RetransSegs", 1)
        .context("Linux → weft under loss")?;
    let w_retx = n(&out.r, "/flow/stats/retransmitted_segs");
    ensure!(
        w_retx >= 1.0,
        "weft → Linux under loss: weft retransmitted {w_retx} segments"
    );
    Ok(format!(
        "{BULK} seeded bytes each way with {LOSS_PERCENT}% random loss each way (nftables \
         netdev ingress/egress on {TAP}): SHA-256 equal on both ends both ways; dropped \
         {pin:.2}% weft → Linux ({}/{}) and {pout:.2}% Linux → weft ({}/{}); Linux \
         retransmitted {l_retx}, weft {w_retx}; {:.2} s in all, table and veth removed. {}",
        all.in_dropped,
        all.in_seen,
        all.out_dropped,
        all.out_seen,
        wall.as_secs_f64(),
        lines.join(". ")
    ))
}

/// Bytes of the half-close exchanges: the first sender's, the replier's.
const HALF_CLOSE_REQUEST: usize = 20_000;
const HALF_CLOSE_REPLY: usize = 50_000;

fn step_half_close_linux_first(ctx: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    host.cmd("tcp-listen 7020", Duration::from_secs(2))?;
    let (s0, w0) = tcp_before(ns, host)?;
    let len = HALF_CLOSE_REQUEST.to_string();
    let mut client = peer(ctx, ns, "half-close-client", &[WEFT, "7020", &len], false)?;
    let r = host.cmd("tcp-accept 7020 after-eof 10000", Duration::from_secs(12))?;
    let py = peer_result(&mut client, Duration::from_secs(10))?;
    let want = sha256_hex(&super::host::pattern(HALF_CLOSE_REQUEST));
    ensure!(
        n(&r, "/received") as usize == HALF_CLOSE_REQUEST && s(&r, "/sha256") == want,
        "weft read {} bytes ({}) before Linux's FIN; Linux sent {HALF_CLOSE_REQUEST} ({want})",
        n(&r, "/received"),
        s(&r, "/sha256")
    );
    let state = s(&r, "/at_eof/state");
    ensure!(
        state == "CloseWait",
        "weft's connection at Linux's FIN: {state}, expected CloseWait"
    );
    ensure!(
        get(&py, "received") == len && get(&py, "received_sha256") == want,
        "Linux read {} bytes ({}) after its FIN; weft sent back {len} ({want})",
        get(&py, "received"),
        get(&py, "received_sha256")
    );
    let (s1, w1) = tcp_after(ns, host)?;
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            active: 1,
            weft_passive: 1,
            ..Expect::default()
        },
    )?;
    Ok(format!(
        "Linux sent {len} bytes and shut down its sending side; weft read them to the end \
         (CloseWait), sent them back and closed; Linux read all {len} after its FIN; {counts}"
    ))
}

fn step_half_close_weft_first(ctx: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    const SEED: u64 = 31;
    let reply = HALF_CLOSE_REPLY.to_string();
    let mut server = peer(ctx, ns, "half-close-server", &[LINUX, "7021", &reply], true)?;
    let (s0, w0) = tcp_before(ns, host)?;
    let r = host.cmd(
        &format!("tcp-client {LINUX}:7021 {HALF_CLOSE_REQUEST} {SEED} 10000"),
        Duration::from_secs(12),
    )?;
    let py = peer_result(&mut server, Duration::from_secs(10))?;
    let sent = SeededBytes::sha256(SEED, HALF_CLOSE_REQUEST, None)?;
    let want = sha256_hex(&super::host::pattern(HALF_CLOSE_REPLY));
    ensure!(
        get(&py, "received") == HALF_CLOSE_REQUEST.to_string()
            && get(&py, "received_sha256") == sent,
        "Linux read {} bytes ({}) up to weft's FIN; weft sent {HALF_CLOSE_REQUEST} ({sent})",
        get(&py, "received"),
        get(&py, "received_sha256")
    );
    ensure!(
        n(&r, "/received") as usize == HALF_CLOSE_REPLY && s(&r, "/received_sha256") == want,
        "weft read {} bytes ({}) after its FIN; Linux sent {reply} ({want})",
        n(&r, "/received"),
        s(&r, "/received_sha256")
    );
    let (s1, w1) = tcp_after(ns, host)?;
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            passive: 1,
            weft_connects: 1,
            ..Expect::default()
        },
    )?;
    Ok(format!(
        "weft sent {HALF_CLOSE_REQUEST} bytes and shut down its sending side ({:.1} ms); Linux \
         read to weft's FIN, then sent {reply} bytes, all read by weft (FIN-WAIT-2) by {:.1} ms; \
         {counts}",
        n(&r, "/sent_ms"),
        n(&r, "/eof_ms"),
    ))
}

fn step_rst_from_linux(ctx: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    host.cmd("tcp-listen 7030", Duration::from_secs(2))?;
    let (s0, w0) = tcp_before(ns, host)?;
    let mut client = peer(ctx, ns, "abort-client", &[WEFT, "7030"], false)?;
    let r = host.cmd("tcp-accept 7030 ready-read 10000", Duration::from_secs(12))?;
    let py = peer_result(&mut client, Duration::from_secs(10))?;
    ensure!(get(&py, "aborted") == "1", "Linux's client: {py:?}");
    let error = s(&r, "/error");
    ensure!(
        error == "ConnectionReset",
        "weft's read after Linux's abort: {error}, expected ConnectionReset ({r})"
    );
    let (s1, w1) = tcp_after(ns, host)?;
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            active: 1,
            weft_passive: 1,
            estab_resets: 1,
            out_rsts: 1,
            ..Expect::default()
        },
    )?;
    Ok(format!(
        "Linux closed with SO_LINGER 0 (RST); weft's read returned {error}; {counts}"
    ))
}

fn step_rst_from_weft(ctx: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    let mut server = peer(ctx, ns, "reset-server", &[LINUX, "7031"], true)?;
    let (s0, w0) = tcp_before(ns, host)?;
    host.cmd(
        &format!("tcp-client-abort {LINUX}:7031 10000"),
        Duration::from_secs(12),
    )?;
    let py = peer_result(&mut server, Duration::from_secs(10))?;
    let error = get(&py, "error");
    ensure!(
        error == "ECONNRESET",
        "Linux's recv after weft's abort: {error}, expected ECONNRESET"
    );
    let (s1, w1) = tcp_after(ns, host)?;
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            passive: 1,
            weft_connects: 1,
            estab_resets: 1,
            ..Expect::default()
        },
    )?;
    Ok(format!(
        "weft aborted (DirectFlow::abort, RST); Linux's recv failed with {error}; {counts}"
    ))
}

fn step_closed_weft_port(ctx: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    let (s0, w0) = tcp_before(ns, host)?;
    let mut p = peer(ctx, ns, "connect", &[WEFT, "9"], false)?;
    let py = peer_result(&mut p, Duration::from_secs(10))?;
    let error = get(&py, "error");
    ensure!(
        error == "ECONNREFUSED",
        "Linux's connect to weft's port 9: {error}, expected ECONNREFUSED"
    );
    let (s1, w1) = tcp_after(ns, host)?;
    at_least(
        "weft tcp.rx_no_socket",
        delta(&w0, &w1, "tcp.rx_no_socket"),
        1,
    )?;
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            active: 1,
            attempt_fails: 1,
            weft_rst_sent: 1,
            ..Expect::default()
        },
    )?;
    Ok(format!(
        "Linux's SYN to weft's port 9 (nobody listens) answered with RST: {error}; {counts}"
    ))
}

fn step_closed_linux_port(_: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    let (s0, w0) = tcp_before(ns, host)?;
    let r = host.cmd(
        &format!("tcp-refused {LINUX}:9 5000"),
        Duration::from_secs(7),
    )?;
    let (s1, w1) = tcp_after(ns, host)?;
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            out_rsts: 1,
            weft_connects: 1,
            ..Expect::default()
        },
    )?;
    Ok(format!(
        "weft's SYN to Linux's port 9 answered with RST: ConnectError::Refused after {:.2} ms; \
         {counts}",
        n(&r, "/ms")
    ))
}

fn step_vanished_peer(ctx: &Ctx, ns: &Netns, host: &mut Host, _: &Path) -> Result<String> {
    let _sink = peer(ctx, ns, "sink", &[LINUX, "7040"], true)?;
    let c = host.cmd(
        &format!("tcp-connect {LINUX}:7040 5000"),
        Duration::from_secs(7),
    )?;
    let id = c
        .get("id")
        .and_then(Value::as_u64)
        .context("no connection id")?;
    // Some data first, acknowledged: the connection has an RTT measurement and its RTO.
    let w = host.cmd(&format!("tcp-write {id} 3000 5000"), Duration::from_secs(7))?;
    let rto_ms = n(&w, "/flow/send/rto_ms");
    let (s0, w0) = tcp_before(ns, host)?;
    let blackhole = Blackhole::install(ns, TAP)?;
    let limit = USER_TIMEOUT * 3;
    let r = host.cmd(
        &format!("tcp-write-until-error {id} {}", limit.as_millis()),
        limit + Duration::from_secs(2),
    )?;
    let dropped = blackhole.dropped()?;
    let (s1, w1) = tcp_after(ns, host)?;
    drop(blackhole);
    let error = s(&r, "/error");
    ensure!(
        error == "TimedOut",
        "weft's write failed with {error} ({}), expected TimedOut",
        s(&r, "/message")
    );
    let elapsed = Duration::from_secs_f64(n(&r, "/elapsed_ms") / 1000.0);
    let first_rto = n(&r, "/first_rto_ms");
    let rtos = n(&r, "/last/stats/rto_expirations");
    let retx = n(&r, "/last/stats/retransmitted_segs");
    // Not before the user timeout, and not long after it. weft-core fails the connection
    // at the first retransmission timeout that finds the user timeout passed, counted from
    // the first retransmission: here 200 ms + 0.4 + 0.8 + 1.6 + 3.2 s, 6.2 s after the write
    // (Linux's TCP_USER_TIMEOUT counts from the unacknowledged transmission and shortens the
    // last RTO to end at the timeout).
    ensure!(
        elapsed >= USER_TIMEOUT,
        "the timeout came after {elapsed:?}, before the user timeout of {USER_TIMEOUT:?}"
    );
    ensure!(
        elapsed <= USER_TIMEOUT * 2,
        "the timeout came after {elapsed:?}, more than twice the user timeout of \
         {USER_TIMEOUT:?}"
    );
    ensure!(
        rtos >= 3.0,
        "{rtos} retransmission timeouts before the error"
    );
    let wrx = delta(&w0, &w1, "tcp.rx_segments");
    ensure!(
        wrx == 0,
        "weft received {wrx} segments while Linux's were dropped"
    );
    let lout = s1.snmp.delta(&s0.snmp, "Tcp.OutSegs");
    ensure!(
        i64::try_from(dropped).ok() == Some(lout),
        "Linux sent {lout} segments (Tcp.OutSegs), nftables dropped {dropped}"
    );
    let counts = check_tcp(
        &s0,
        &s1,
        &w0,
        &w1,
        &Expect {
            linux_out_dropped: true,
            ..Expect::default()
        },
    )?;
    Ok(format!(
        "after an acknowledged exchange (RTO {rto_ms:.0} ms), everything Linux sent on {TAP} \
         dropped (nftables: {dropped} packets); weft kept writing and got {error} {:.2} s \
         after the first unacknowledged write, {:.2} s past the user timeout of {:.0} s \
         (first RTO at {first_rto:.0} ms; {rtos} RTOs and {retx} segments retransmitted \
         before the error); {counts}",
        elapsed.as_secs_f64(),
        elapsed.saturating_sub(USER_TIMEOUT).as_secs_f64(),
        USER_TIMEOUT.as_secs_f64(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interop_loss_counters_parse() {
        // The shape of `nft -j list table netdev weftlossy` (nftables 1.0.6), trimmed.
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
          {"table": {"family": "netdev", "name": "weftlossy", "handle": 1}},
          {"chain": {"family": "netdev", "table": "weftlossy", "name": "ingress"}},
          {"rule": {"chain": "ingress", "expr": [{"match": {}},
            {"counter": {"packets": 1000, "bytes": 9}}]}},
          {"rule": {"chain": "ingress", "expr": [{"match": {}}, {"match": {}},
            {"counter": {"packets": 21, "bytes": 9}}, {"drop": null}]}},
          {"rule": {"chain": "egress", "expr": [{"match": {}},
            {"counter": {"packets": 500, "bytes": 9}}]}},
          {"rule": {"chain": "egress", "expr": [{"match": {}},
            {"counter": {"packets": 9, "bytes": 9}}, {"fwd": {"dev": "wdrop0"}}]}}]}"#;
        let c = LossCounts::parse(json).unwrap();
        assert_eq!(
            (c.in_seen, c.in_dropped, c.out_seen, c.out_dropped),
            (1000, 21, 500, 9)
        );
        let d = c.since(&LossCounts {
            in_seen: 100,
            ..LossCounts::default()
        });
        assert_eq!(d.in_seen, 900);
        assert!(LossCounts::parse(r#"{"nftables": []}"#).is_err());
        assert!(check_loss("x", 21, 1000).is_ok());
        assert!(check_loss("x", 0, 1000).is_err());
        assert!(check_loss("x", 40, 1000).is_err());
        assert!(check_loss("x", 0, 0).is_err());
    }
}
