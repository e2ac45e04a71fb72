//! The TAP adapter against the Linux kernel.
//!
//! Error paths that need no privileges run everywhere. The rest need root (CAP_NET_ADMIN and
//! CAP_SYS_ADMIN) and `ip` (iproute2): each runs on its own thread that first calls
//! `unshare(CLONE_NEWNET)`, so the thread (and the `ip` processes it starts, which inherit it)
//! sees a fresh, empty network namespace; the TAP device, its addresses and every frame stay in
//! there, and the namespace disappears when the thread ends, even after a failed assertion.
//! Without those privileges the tests print "skipping: …" and pass, except under `CI=true`,
//! where they fail.
//!
//! Inside a namespace the kernel side of `wtap0` is 10.200.0.1/24; our side (frames we write
//! with weft-wire) is 10.200.0.2 at 02:00:00:00:00:02, entered as a permanent neighbour. IPv6
//! is switched off on the device so the kernel sends nothing we did not ask for.

#![cfg(all(feature = "tap", target_os = "linux"))]
#![allow(unsafe_code)] // unshare(2) and capset(2) in the test harness
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use weft_core::link::{ChecksumState, Link, RxToken, TxMeta, TxToken};
use weft_net::link::AsyncLink;
use weft_net::tap::{NameProblem, TapError, TapLink};
use weft_wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use weft_wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use weft_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use weft_wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use weft_wire::{ChecksumMode, MacAddr};

const DEV: &str = "wtap0";
const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const OUR_MAC_TEXT: &str = "02:00:00:00:00:02";

mod common;
use common::netns::{CAP_NET_ADMIN, CAP_SYS_ADMIN, effective_caps, in_netns, ip, privileged};

/// Gives the kernel side of `dev` its address and our permanent neighbour entry, without
/// IPv6, and brings it up.
fn configure(dev: &str) {
    // /proc/sys/net resolves to the namespace of the thread opening it.
    match std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1") {
        Err(e) if e.kind() != io::ErrorKind::NotFound => panic!("disable IPv6 on {dev}: {e}"),
        _ => {}
    }
    ip(&["addr", "add", "10.200.0.1/24", "dev", dev]);
    ip(&["link", "set", dev, "up"]);
    ip(&[
        "neigh",
        "replace",
        "10.200.0.2",
        "lladdr",
        OUR_MAC_TEXT,
        "dev",
        dev,
        "nud",
        "permanent",
    ]);
}

/// The kernel side's MAC address.
fn kernel_mac(dev: &str) -> MacAddr {
    let out = ip(&["-o", "link", "show", dev]);
    let text = out
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no link/ether in {out:?}"));
    let mut mac = [0u8; 6];
    for (m, part) in mac.iter_mut().zip(text.split(':')) {
        *m = u8::from_str_radix(part, 16).unwrap();
    }
    MacAddr(mac)
}

/// The kernel's (bytes, packets) for `dev`, received and sent, from `ip -s link show`.
fn kernel_stats(dev: &str) -> ((u64, u64), (u64, u64)) {
    let out = ip(&["-s", "link", "show", dev]);
    let after = |label: &str| {
        let mut lines = out
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(label));
        lines.next();
        let nums: Vec<u64> = lines
            .next()
            .unwrap_or_else(|| panic!("no {label} line in {out}"))
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        (nums[0], nums[1])
    };
    (after("RX:"), after("TX:"))
}

// --- Frames ---------------------------------------------------------------------------------

fn arp_request_for(target: Ipv4Addr) -> Vec<u8> {
    let arp = ArpRepr::request(OUR_MAC, OUR_IP, target);
    let eth = EthernetRepr {
        dst: MacAddr::BROADCAST,
        src: OUR_MAC,
        vlans: Default::default(),
        ethertype: EtherType::ARP,
    };
    let mut frame = vec![0u8; eth.header_len() + arp.buffer_len()];
    let at = eth.emit(&mut frame).unwrap();
    arp.emit(&mut frame[at..]).unwrap();
    frame
}

fn echo_request(dst_mac: MacAddr, ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    let ip = Ipv4Repr {
        src: OUR_IP,
        dst: KERNEL_IP,
        protocol: IpProtocol::ICMP,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: seq_no,
        reserved_flag: false,
        dont_frag: true,
        more_frags: false,
        frag_offset_units: 0,
        options: Default::default(),
        options_padding: &[],
        payload_len: icmp.buffer_len(),
    };
    let eth = EthernetRepr {
        dst: dst_mac,
        src: OUR_MAC,
        vlans: Default::default(),
        ethertype: EtherType::IPV4,
    };
    let mut frame = vec![0u8; eth.header_len() + ip.buffer_len()];
    let l2 = eth.emit(&mut frame).unwrap();
    let l3 = ip.emit(&mut frame[l2..]).unwrap();
    icmp.emit(&mut frame[l2 + l3..]).unwrap();
    frame
}

/// The ARP packet in `frame`, if it is one.
fn as_arp(frame: &[u8]) -> Option<(EthernetRepr, ArpRepr)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::ARP {
        return None;
    }
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
    Some((EthernetRepr::parse(&eth), arp))
}

/// The IPv4 header and payload in `frame`, checksum verified, if it is IPv4.
fn as_ipv4(frame: &[u8]) -> Option<(EthernetRepr, Ipv4Addr, Ipv4Addr, IpProtocol, Vec<u8>)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let packet = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let repr = Ipv4Repr::parse(&packet, ChecksumMode::Verify).ok()?;
    Some((
        EthernetRepr::parse(&eth),
        repr.src,
        repr.dst,
        repr.protocol,
        packet.payload().to_vec(),
    ))
}

// --- Link helpers ---------------------------------------------------------------------------

fn send(link: &mut TapLink, frame: &[u8]) {
    let tx = link.transmit().expect("the link has room");
    tx.consume(frame.len(), TxMeta::default(), |buf| {
        buf.copy_from_slice(frame)
    });
}

/// Receives until `pred` accepts a frame (others are dropped), waiting on `poll_recv_ready`;
/// fails after 5 s.
async fn recv_matching(link: &mut TapLink, what: &str, pred: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        while let Some(rx) = link.receive() {
            let frame = rx.consume(|f, meta| {
                assert_eq!(meta.checksum, ChecksumState::Unknown);
                f.to_vec()
            });
            if pred(&frame) {
                return frame;
            }
        }
        // The timer first, so that a lost wake-up fails instead of being rescued by the
        // timer's own wake-up.
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(deadline) => panic!("no {what} within 5 s"),
            () = poll_fn(|cx| link.poll_recv_ready(cx)) => {}
        }
    }
}

/// Polls `poll_recv_ready` once with a waker that does nothing.
fn poll_recv_once(link: &mut TapLink) -> Poll<()> {
    link.poll_recv_ready(&mut Context::from_waker(Waker::noop()))
}

/// A UDP socket on the kernel side (in the calling thread's namespace).
fn kernel_udp() -> UdpSocket {
    UdpSocket::bind((KERNEL_IP, 0)).unwrap()
}

fn is_udp_to_us(frame: &[u8]) -> bool {
    as_ipv4(frame).is_some_and(|(_, src, dst, proto, _)| {
        src == KERNEL_IP && dst == OUR_IP && proto == IpProtocol::UDP
    })
}

// --- Without privileges ---------------------------------------------------------------------

#[test]
fn tap_bad_names_are_refused_before_the_device_is_touched() {
    // The clone device path does not exist: any attempt to open it would be DeviceMissing.
    let nowhere = "/nonexistent/weft/tun";
    let cases = [
        ("", NameProblem::Empty),
        ("a234567890123456", NameProblem::TooLong { len: 16 }),
        ("wt\0ap", NameProblem::Nul),
        ("w/tap", NameProblem::Slash),
        ("wtap0:1", NameProblem::Colon),
        ("w tap", NameProblem::Whitespace),
        ("..", NameProblem::Dots),
        ("wtap%s", NameProblem::Percent),
        ("w%d%d", NameProblem::Percent),
    ];
    for (name, want) in cases {
        match TapLink::open_at(nowhere, name) {
            Err(TapError::BadName { name: got, problem }) => {
                assert_eq!(got, name);
                assert_eq!(problem, want, "{name:?}");
            }
            other => panic!("{name:?}: expected BadName({want:?}), got {other:?}"),
        }
    }
    let e = TapLink::open_at(nowhere, "w/tap").unwrap_err().to_string();
    assert!(e.contains("\"w/tap\"") && e.contains('/'), "{e}");
    // The longest valid name (15 bytes) passes the check and reaches the (missing) device.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _in_rt = rt.enter();
    let longest = TapLink::open_at(nowhere, "a23456789012345");
    assert!(
        matches!(longest, Err(TapError::DeviceMissing { .. })),
        "{longest:?}"
    );
}

#[test]
fn tap_missing_clone_device_says_how_to_get_one() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _in_rt = rt.enter();
    let nowhere = Path::new("/nonexistent/weft/tun");
    match TapLink::open_at(nowhere, DEV) {
        Err(e @ TapError::DeviceMissing { .. }) => {
            let TapError::DeviceMissing { path, source } = &e else {
                unreachable!()
            };
            assert_eq!(path, nowhere);
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
            let text = e.to_string();
            assert!(text.contains("modprobe tun"), "{text}");
            assert!(text.contains("mknod"), "{text}");
        }
        other => panic!("expected DeviceMissing, got {other:?}"),
    }
    // A path that opens but is no TUN/TAP clone device: TUNSETIFF fails with ENOTTY.
    match TapLink::open_at("/dev/null", DEV) {
        Err(TapError::DeviceMissing { path, source }) => {
            assert_eq!(path, Path::new("/dev/null"));
            assert_eq!(source.raw_os_error(), Some(libc::ENOTTY));
        }
        other => panic!("expected DeviceMissing for /dev/null, got {other:?}"),
    }
}

#[test]
fn tap_open_outside_a_runtime_is_an_error() {
    let e = TapLink::open_at("/nonexistent/weft/tun", DEV).unwrap_err();
    assert!(matches!(e, TapError::NoRuntime), "{e:?}");
    assert!(e.to_string().contains("tokio runtime"), "{e}");
}

/// Removes CAP_NET_ADMIN from the calling thread's effective set (capabilities are per
/// thread; nothing else in the process is affected).
fn drop_net_admin_in_this_thread() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget writes one header and, for version 3, two data structs; both live in
    // this frame for the call. pid 0 is the calling thread.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "capget: {}", io::Error::last_os_error());
    data[0].effective &= !(1 << CAP_NET_ADMIN);
    // SAFETY: as above; capset reads the same structs, pid 0 changes this thread only.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", io::Error::last_os_error());
    assert_eq!(effective_caps() & (1 << CAP_NET_ADMIN), 0);
}

#[test]
fn tap_permission_denied_without_cap_net_admin() {
    fn check(result: Result<TapLink, TapError>) {
        match result {
            Err(e @ TapError::PermissionDenied { .. }) => {
                let text = e.to_string();
                assert!(text.contains("CAP_NET_ADMIN"), "{text}");
                assert!(text.contains("ip tuntap add dev weftnoperm0"), "{text}");
            }
            other => panic!("expected PermissionDenied, got {other:?}"),
        }
    }
    let caps = effective_caps();
    if caps & (1 << CAP_SYS_ADMIN) != 0 && caps & (1 << CAP_NET_ADMIN) != 0 {
        // Root: give up CAP_NET_ADMIN on a thread of its own, in a namespace of its own.
        in_netns(|| async {
            drop_net_admin_in_this_thread();
            check(TapLink::open("weftnoperm0"));
        });
    } else if caps & (1 << CAP_NET_ADMIN) == 0 {
        if !Path::new("/dev/net/tun").exists() {
            println!("skipping: /dev/net/tun is absent here");
            return;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _in_rt = rt.enter();
        check(TapLink::open("weftnoperm0"));
    } else {
        println!("skipping: CAP_NET_ADMIN without CAP_SYS_ADMIN cannot be tested apart");
    }
}

// --- With root, each in its own network namespace -------------------------------------------

#[test]
fn tap_kernel_answers_arp_and_echo() {
    if !privileged() {
        return;
    }
    in_netns(|| async {
        let mut link = TapLink::open(DEV).unwrap();
        assert_eq!(link.name(), DEV);
        assert_eq!(link.max_frame_len(), 1514);
        configure(DEV);
        let kmac = kernel_mac(DEV);

        // Nothing has been sent to us: no frame, and interest is registered.
        assert!(link.receive().is_none());
        assert_eq!(poll_recv_once(&mut link), Poll::Pending);

        // ARP: who has 10.200.0.1? The kernel answers through the device.
        let request = arp_request_for(KERNEL_IP);
        send(&mut link, &request);
        let reply = recv_matching(&mut link, "ARP reply", |f| {
            as_arp(f).is_some_and(|(_, a)| a.operation == ArpOperation::REPLY)
        })
        .await;
        let (eth, arp) = as_arp(&reply).unwrap();
        assert_eq!(eth.dst, OUR_MAC);
        assert_eq!(eth.src, kmac);
        assert_eq!(arp.sender_ip, KERNEL_IP);
        assert_eq!(arp.sender_mac, kmac);
        assert_eq!(arp.target_ip, OUR_IP);
        assert_eq!(arp.target_mac, OUR_MAC);

        // ICMP echo to the kernel's address: the reply comes back with our data.
        let data = b"weft tap echo payload";
        let echo = echo_request(kmac, 0x7765, 1, data);
        send(&mut link, &echo);
        let reply = recv_matching(&mut link, "echo reply", |f| {
            as_ipv4(f)
                .is_some_and(|(_, src, _, proto, _)| src == KERNEL_IP && proto == IpProtocol::ICMP)
        })
        .await;
        let (eth, src, dst, _, payload) = as_ipv4(&reply).unwrap();
        assert_eq!((eth.src, eth.dst), (kmac, OUR_MAC));
        assert_eq!((src, dst), (KERNEL_IP, OUR_IP));
        let icmp = Icmpv4Packet::new_checked(&payload[..]).unwrap();
        match Icmpv4Repr::parse(&icmp, ChecksumMode::Verify).unwrap() {
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data: got,
            } => {
                assert_eq!((ident, seq_no), (0x7765, 1));
                assert_eq!(got, data);
            }
            other => panic!("expected an echo reply, got {other:?}"),
        }

        // Our counters and the kernel's agree: everything we wrote it received, everything
        // it sent we read.
        let c = link.counters();
        assert_eq!(c.tx_frames, 2);
        assert_eq!(c.tx_bytes, (request.len() + echo.len()) as u64);
        assert_eq!(
            c.tx_errors + c.tx_would_block + c.rx_errors + c.rx_truncated,
            0
        );
        assert!(c.rx_frames >= 2);
        assert!(c.rx_bytes >= (42 + reply.len()) as u64);
        let ((k_rx_bytes, k_rx_packets), (k_tx_bytes, k_tx_packets)) = kernel_stats(DEV);
        assert_eq!((k_rx_bytes, k_rx_packets), (c.tx_bytes, c.tx_frames));
        assert_eq!((k_tx_bytes, k_tx_packets), (c.rx_bytes, c.rx_frames));
        assert!(link.take_last_error().is_none());
        assert!(!link.is_gone());
    });
}

#[test]
fn tap_recv_ready_wakes_when_a_frame_arrives() {
    if !privileged() {
        return;
    }
    in_netns(|| async {
        let mut link = TapLink::open(DEV).unwrap();
        configure(DEV);
        while link.receive().is_some() {}
        assert_eq!(poll_recv_once(&mut link), Poll::Pending);
        let socket = kernel_udp();
        // Round 0 starts with no readiness; after it tokio still holds the readable readiness
        // of the read that succeeded, so round 1 starts stale. Before round 2 a frame arrives
        // and the reactor sees it, but `receive` reads it directly (readiness stays set).
        for round in 0..3u8 {
            if round == 2 {
                socket.send_to(b"read directly", (OUR_IP, 9)).unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                let frame = link
                    .receive()
                    .expect("the frame")
                    .consume(|f, _| f.to_vec());
                assert!(frame.ends_with(b"read directly"));
                assert!(link.receive().is_none());
            }
            // Another thread sends a datagram (its socket belongs to this namespace) once our
            // first poll has returned Pending: only the reactor can wake us after that.
            let socket = socket.try_clone().unwrap();
            let (polled, first_poll_done) = std::sync::mpsc::channel::<()>();
            let sender = std::thread::spawn(move || {
                first_poll_done.recv().unwrap();
                socket.send_to(&[b'w', round], (OUR_IP, 9)).unwrap();
            });
            let mut first = None;
            // The timer comes first: should it fire, the reactor never woke us (a late poll
            // would find the frame anyway and hide the lost wake-up).
            tokio::select! {
                biased;
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    panic!("round {round}: poll_recv_ready was never woken")
                }
                () = poll_fn(|cx| {
                    let r = link.poll_recv_ready(cx);
                    if first.is_none() {
                        first = Some(r);
                        polled.send(()).unwrap();
                    }
                    r
                }) => {}
            }
            sender.join().unwrap();
            assert_eq!(
                first,
                Some(Poll::Pending),
                "round {round}: nothing was sent yet"
            );
            let frame = link
                .receive()
                .expect("the frame poll_recv_ready read")
                .consume(|f, _| f.to_vec());
            assert!(is_udp_to_us(&frame));
            assert!(frame.ends_with(&[b'w', round]));
            assert!(link.receive().is_none());
        }
        assert_eq!(link.counters().rx_frames, 4);
    });
}

#[test]
fn tap_frames_over_the_mtu_are_dropped_and_counted() {
    if !privileged() {
        return;
    }
    in_netns(|| async {
        let mut link = TapLink::open(DEV).unwrap().with_mtu(576);
        assert_eq!(link.mtu(), 576);
        assert_eq!(link.max_frame_len(), 590);
        configure(DEV); // the kernel keeps its MTU of 1500
        let socket = kernel_udp();
        // 14 + 20 + 8 + 548 = 590: exactly the largest frame.
        socket.send_to(&[0xab; 548], (OUR_IP, 9)).unwrap();
        // 14 + 20 + 8 + 1000 = 1042: cut by the kernel, dropped.
        socket.send_to(&[0xcd; 1000], (OUR_IP, 9)).unwrap();
        socket.send_to(b"small", (OUR_IP, 9)).unwrap();
        let first = recv_matching(&mut link, "full-size frame", is_udp_to_us).await;
        assert_eq!(first.len(), 590);
        let next = recv_matching(&mut link, "small frame", is_udp_to_us).await;
        assert!(
            next.ends_with(b"small"),
            "the oversized frame was not handed over"
        );
        let c = link.counters();
        assert_eq!(c.rx_truncated, 1);
        assert_eq!(c.rx_errors, 0);
        let (_, (_, k_tx_packets)) = kernel_stats(DEV);
        assert_eq!(k_tx_packets, c.rx_frames + c.rx_truncated);

        // Our side refuses to send more than the MTU allows, and says so.
        let tx = link.transmit().unwrap();
        let mut called = false;
        tx.consume(591, TxMeta::default(), |buf| {
            called = true;
            assert_eq!(buf.len(), 591);
        });
        assert!(called);
        assert_eq!(link.counters().tx_errors, 1);
        assert_eq!(link.counters().tx_frames, 0);
        let e = link.take_last_error().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("590"), "{e}");
    });
}

#[test]
fn tap_refused_writes_are_counted_not_lost_silently() {
    if !privileged() {
        return;
    }
    in_netns(|| async {
        let mut link = TapLink::open(DEV).unwrap();
        configure(DEV);
        let request = arp_request_for(KERNEL_IP);

        // An offload the link does not do.
        let tx = link.transmit().unwrap();
        let blank = TxMeta {
            checksum: ChecksumState::Blank,
            ..TxMeta::default()
        };
        tx.consume(request.len(), blank, |b| b.copy_from_slice(&request));
        assert_eq!(link.counters().tx_errors, 1);
        assert_eq!(
            link.take_last_error().unwrap().kind(),
            io::ErrorKind::Unsupported
        );

        // A device that is down refuses writes (EIO); the link stays usable.
        ip(&["link", "set", DEV, "down"]);
        send(&mut link, &request);
        assert_eq!(link.counters().tx_errors, 2);
        assert_eq!(
            link.take_last_error().unwrap().raw_os_error(),
            Some(libc::EIO)
        );
        assert!(!link.is_gone());
        ip(&["link", "set", DEV, "up"]);
        send(&mut link, &request);
        let c = link.counters();
        assert_eq!((c.tx_frames, c.tx_errors), (1, 2));
        recv_matching(&mut link, "ARP reply", |f| as_arp(f).is_some()).await;
        let ((_, k_rx_packets), _) = kernel_stats(DEV);
        assert_eq!(k_rx_packets, 1);
    });
}

#[test]
fn tap_deleted_device_leaves_the_link_gone() {
    if !privileged() {
        return;
    }
    in_netns(|| async {
        let mut link = TapLink::open(DEV).unwrap();
        configure(DEV);
        ip(&["link", "del", DEV]);

        assert!(link.receive().is_none());
        assert!(link.is_gone());
        assert_eq!(link.counters().rx_errors, 1);
        let e = link.take_last_error().unwrap();
        assert_eq!(e.raw_os_error(), Some(libc::EBADFD), "{e}");
        // The descriptor now reports an error forever; the link must not report readiness.
        assert_eq!(poll_recv_once(&mut link), Poll::Pending);
        assert!(link.receive().is_none());
        assert_eq!(
            link.counters().rx_errors,
            1,
            "a gone link does not read again"
        );

        // Frames given to it are counted as errors, not lost silently, and never block.
        send(&mut link, &arp_request_for(KERNEL_IP));
        assert_eq!(link.counters().tx_errors, 1);
        assert_eq!(link.counters().tx_frames, 0);
        assert!(
            link.poll_send_ready(&mut Context::from_waker(Waker::noop()))
                .is_ready()
        );
    });
}

#[test]
fn tap_names_busy_devices_and_other_kinds() {
    if !privileged() {
        return;
    }
    in_netns(|| async {
        // `%d`: the kernel picks the number.
        let first = TapLink::open("wtap%d").unwrap();
        assert_eq!(first.name(), "wtap0");
        let second = TapLink::open("wtap%d").unwrap();
        assert_eq!(second.name(), "wtap1");

        // A single-queue device already attached.
        match TapLink::open("wtap0") {
            Err(e @ TapError::Busy { .. }) => assert!(e.to_string().contains("wtap0"), "{e}"),
            other => panic!("expected Busy, got {other:?}"),
        }
        // A device of another kind.
        match TapLink::open("lo") {
            Err(e @ TapError::WrongKind { .. }) => {
                assert!(e.to_string().contains("ip link del lo"), "{e}")
            }
            other => panic!("expected WrongKind, got {other:?}"),
        }

        // A non-persistent device vanishes with its link.
        drop(first);
        assert!(!ip(&["-o", "link", "show"]).contains("wtap0"));

        // A persistent device (made by `ip tuntap`) is attached to, and outlives the link.
        ip(&["tuntap", "add", "dev", "wtap9", "mode", "tap"]);
        let persistent = TapLink::open("wtap9").unwrap();
        assert_eq!(persistent.name(), "wtap9");
        drop(persistent);
        ip(&["link", "show", "wtap9"]);
        let again = TapLink::open("wtap9").unwrap();
        assert_eq!(again.name(), "wtap9");
    });
}
