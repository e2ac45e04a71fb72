//! Raw hosts: something that is not a weft stack on the simulated network, given the bare
//! NIC (`SimLink`) and the virtual-time runtime. Here, a few lines of hand-built ARP and UDP
//! talk to a weft host; the raw host's frames go through the same links, faults and monitor
//! as anyone's, and what a raw host cannot have is refused with `SimError::RawHost`.

#![allow(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)]

use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;
use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use weft_core::link::{Link, RxToken, TxMeta, TxToken};
use weft_core::{Duration, Instant};
use weft_net::link::AsyncLink;
use weft_net::runtime::Runtime;
use weft_net::{UdpNet, UdpSocket};
use weft_sim::{
    Action, HostConfig, LinkConfig, LinkSpec, Sim, SimError, SimLink, SimRuntime, UdpEcho,
};
use weft_wire::ChecksumMode;
use weft_wire::MacAddr;
use weft_wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use weft_wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
use weft_wire::ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
use weft_wire::udp::{UdpPacket, UdpRepr};

const MAC_BROADCAST: MacAddr = MacAddr::BROADCAST;

const WEFT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const RAW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const RAW_PORT: u16 = 40_000;
const ECHO_PORT: u16 = 7;

fn send(nic: &mut SimLink, frame: &[u8]) {
    let tx = nic.transmit().expect("the simulated NIC always has room");
    tx.consume(frame.len(), TxMeta::default(), |buf| {
        buf.copy_from_slice(frame)
    });
}

fn ethernet(dst: MacAddr, src: MacAddr, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let eth = EthernetRepr {
        dst,
        src,
        vlans: Default::default(),
        ethertype,
    };
    let mut f = vec![0u8; eth.header_len() + payload.len()];
    let n = eth.emit(&mut f).unwrap();
    f[n..].copy_from_slice(payload);
    f
}

fn arp(op: ArpOperation, from: (MacAddr, Ipv4Addr), to: (MacAddr, Ipv4Addr)) -> Vec<u8> {
    let r = ArpRepr {
        operation: op,
        sender_mac: from.0,
        sender_ip: from.1,
        target_mac: to.0,
        target_ip: to.1,
    };
    let mut p = vec![0u8; r.buffer_len()];
    r.emit(&mut p).unwrap();
    let dst = if op == ArpOperation::REQUEST {
        MAC_BROADCAST
    } else {
        to.0
    };
    ethernet(dst, from.0, EtherType::ARP, &p)
}

fn udp(from: (MacAddr, SocketAddrV4), to: (MacAddr, SocketAddrV4), payload: &[u8]) -> Vec<u8> {
    let u = UdpRepr {
        src_port: from.1.port(),
        dst_port: to.1.port(),
        payload,
    };
    let mut seg = vec![0u8; 8 + payload.len()];
    u.emit(*from.1.ip(), *to.1.ip(), &mut seg).unwrap();
    let ip = Ipv4Repr {
        src: *from.1.ip(),
        dst: *to.1.ip(),
        protocol: IpProtocol::UDP,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 1,
        reserved_flag: false,
        dont_frag: true,
        more_frags: false,
        frag_offset_units: 0,
        options: Default::default(),
        options_padding: &[],
        payload_len: seg.len(),
    };
    let mut p = vec![0u8; ip.buffer_len()];
    let n = ip.emit(&mut p).unwrap();
    p[n..].copy_from_slice(&seg);
    ethernet(to.0, from.0, EtherType::IPV4, &p)
}

/// The next frame, or `None` once `deadline` passed.
async fn next_frame(nic: &mut SimLink, rt: &SimRuntime, deadline: Instant) -> Option<Vec<u8>> {
    loop {
        if let Some(rx) = nic.receive() {
            return Some(rx.consume(|f, _| f.to_vec()));
        }
        let mut sleep = pin!(rt.sleep_until(deadline));
        let timed_out = poll_fn(|cx| {
            if nic.poll_recv_ready(cx).is_ready() {
                Poll::Ready(false)
            } else if sleep.as_mut().poll(cx).is_ready() {
                Poll::Ready(true)
            } else {
                Poll::Pending
            }
        })
        .await;
        if timed_out {
            return None;
        }
    }
}

/// What the raw host saw.
#[derive(Debug, Default)]
struct Seen {
    mac: Option<MacAddr>,
    weft_mac: Option<MacAddr>,
    arp_answered: u32,
    reply: Option<(Instant, Vec<u8>)>,
}

/// The raw host: resolves the weft host by ARP (answering ARP requests for its own address
/// too), sends it a datagram and waits for the echo.
async fn raw_client(mut nic: SimLink, rt: SimRuntime, seen: Rc<RefCell<Seen>>) {
    let me = nic.mac();
    seen.borrow_mut().mac = Some(me);
    let deadline = rt.now() + Duration::from_secs(5);
    let request = arp(ArpOperation::REQUEST, (me, RAW), (MacAddr([0; 6]), WEFT));
    send(&mut nic, &request);
    let mut sent_datagram = false;
    while let Some(f) = next_frame(&mut nic, &rt, deadline).await {
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        match eth.ethertype() {
            EtherType::ARP => {
                let a = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
                if a.operation == ArpOperation::REQUEST && a.target_ip == RAW {
                    let reply = arp(ArpOperation::REPLY, (me, RAW), (a.sender_mac, a.sender_ip));
                    send(&mut nic, &reply);
                    seen.borrow_mut().arp_answered += 1;
                } else if a.operation == ArpOperation::REPLY && a.sender_ip == WEFT {
                    seen.borrow_mut().weft_mac = Some(a.sender_mac);
                    if !sent_datagram {
                        let d = udp(
                            (me, SocketAddrV4::new(RAW, RAW_PORT)),
                            (a.sender_mac, SocketAddrV4::new(WEFT, ECHO_PORT)),
                            b"hello from a raw host",
                        );
                        send(&mut nic, &d);
                        sent_datagram = true;
                    }
                }
            }
            EtherType::IPV4 => {
                let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                assert!(ip.verify_checksum());
                if ip.protocol() != IpProtocol::UDP {
                    continue;
                }
                let u = UdpPacket::new_checked(ip.payload()).unwrap();
                let r = UdpRepr::parse(&u, ip.src(), ip.dst(), ChecksumMode::Verify).unwrap();
                if r.dst_port == RAW_PORT {
                    seen.borrow_mut().reply = Some((rt.now(), r.payload.to_vec()));
                    return;
                }
            }
            _ => {}
        }
    }
}

fn echo_server(b: weft_sim::SimBuilder, link: LinkSpec) -> weft_sim::SimBuilder {
    b.idle_host("weft", HostConfig::on("lan", WEFT, 24).link(link))
        .daemon("weft", |net| async move {
            net.listen_udp(ECHO_PORT, |s, from, p| async move {
                let _ = s.send_to(&p, from).await;
            })
            .await
            .expect("listen");
        })
}

#[test]
fn raw_host_talks_arp_and_udp_with_a_weft_host() {
    let seen: Rc<RefCell<Seen>> = Rc::default();
    let slot = seen.clone();
    let link = LinkSpec::symmetric(LinkConfig {
        latency: Duration::from_micros(250),
        ..LinkConfig::default()
    });
    let b = echo_server(Sim::builder().switch("lan"), link.clone())
        .raw_host(
            "raw",
            HostConfig::on("lan", RAW, 24).link(link),
            move |nic, rt| raw_client(nic, rt, slot.clone()),
        )
        .pcap(true);
    let seed = 11;
    println!("seed {seed}");
    let report = b.run(seed).expect("valid simulation");
    println!("{}", report.summary());
    print!("{}", report.oracle_summary());
    let s = seen.borrow();
    // Host 0 is the weft host, host 1 the raw one: the simulator's MACs.
    assert_eq!(s.mac, Some(MacAddr([0x02, 0, 0, 0, 0, 1])));
    assert_eq!(s.weft_mac, Some(MacAddr([0x02, 0, 0, 0, 0, 0])));
    let (at, payload) = s.reply.clone().expect("the echo came back");
    assert_eq!(payload, b"hello from a raw host");
    // ARP there and back, the datagram there and back: four crossings of two 250 µs hops.
    assert!(at >= Instant::from_millis(2), "{at:?}");
    assert!(report.ok(), "{}", report.oracle_summary());
    assert!(report.all_finished());
    let raw = report.host("raw").unwrap();
    assert!(raw.raw && raw.finished);
    assert!(!report.host("weft").unwrap().raw);
    assert!(report.summary().contains("raw (raw)"));
    // The monitor checked the raw host's frames: its ARP request and the datagram.
    assert!(report.monitor.checked("arp.sender") >= 2);
    assert!(report.monitor.checked("udp.checksum") >= 2);
    let raw_link = report.links.iter().find(|l| l.name == "raw-lan").unwrap();
    assert!(raw_link.to_switch.delivered >= 2);
    assert!(raw_link.pcap.as_ref().is_some_and(|p| p.len() > 24));
}

#[test]
fn raw_host_runs_are_deterministic_under_faults() {
    let lossy = LinkSpec::symmetric(LinkConfig {
        duplicate: 0.5,
        reorder: 0.3,
        jitter: Duration::from_micros(50),
        ..LinkConfig::default()
    });
    let run = |seed| {
        let seen: Rc<RefCell<Seen>> = Rc::default();
        let slot = seen.clone();
        let b = echo_server(Sim::builder().switch("lan"), lossy.clone()).raw_host(
            "raw",
            HostConfig::on("lan", RAW, 24).link(lossy.clone()),
            move |nic, rt| raw_client(nic, rt, slot.clone()),
        );
        let r = b.run(seed).expect("valid simulation");
        let got = seen.borrow().reply.clone();
        (r, got)
    };
    for seed in 1..=4 {
        println!("seed {seed}");
        let (a, got_a) = run(seed);
        let (b, got_b) = run(seed);
        println!("{}", a.summary());
        assert_eq!(a.trace_digest, b.trace_digest, "seed {seed}");
        assert_eq!(a.event_digest, b.event_digest, "seed {seed}");
        assert_eq!(got_a, got_b);
        assert!(
            got_a.is_some(),
            "seed {seed}: duplication and reordering lose nothing"
        );
        assert!(a.ok(), "{}", a.oracle_summary());
        let t = a.link_totals();
        assert!(t.duplicated + t.reordered > 0, "seed {seed}: {t:?}");
    }
}

#[test]
fn raw_host_frames_are_judged_by_the_monitor() {
    // A raw host that lies about its MAC in ARP and sends from an address it does not have.
    let report = Sim::builder()
        .switch("lan")
        .idle_host("weft", HostConfig::on("lan", WEFT, 24))
        .raw_host("liar", HostConfig::on("lan", RAW, 24), |mut nic, _rt| {
            let me = nic.mac();
            let forged = MacAddr([0x02, 0xee, 0, 0, 0, 0x99]);
            send(
                &mut nic,
                &arp(
                    ArpOperation::REQUEST,
                    (forged, RAW),
                    (MacAddr([0; 6]), WEFT),
                ),
            );
            let spoofed = udp(
                (me, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 77), 1)),
                (MAC_BROADCAST, SocketAddrV4::new(WEFT, 9)),
                b"x",
            );
            send(&mut nic, &spoofed);
            async {}
        })
        .run(1)
        .expect("valid simulation");
    print!("{}", report.oracle_summary());
    let rules: Vec<(&str, &str)> = report
        .monitor
        .violations
        .iter()
        .map(|v| (v.host.as_str(), v.rule))
        .collect();
    assert!(rules.contains(&("liar", "ethernet.src")), "{rules:?}");
    assert!(rules.contains(&("liar", "arp.sender")), "{rules:?}");
    assert!(rules.contains(&("liar", "ipv4.src")), "{rules:?}");
    assert!(!report.ok());
}

#[test]
fn raw_daemon_does_not_hold_the_run() {
    let report = Sim::builder()
        .switch("lan")
        .host("weft", HostConfig::on("lan", WEFT, 24), |net| async move {
            weft_net::Net::sleep(&net, Duration::from_millis(10)).await;
        })
        .raw_daemon(
            "sink",
            HostConfig::on("lan", RAW, 24),
            |mut nic, rt| async move {
                // Swallows frames forever.
                while next_frame(&mut nic, &rt, Instant::MAX).await.is_some() {}
            },
        )
        .run(1)
        .expect("valid simulation");
    assert!(report.all_finished());
    assert_eq!(report.end, Instant::from_millis(10));
    assert!(report.host("sink").unwrap().unfinished.is_empty());
    assert!(report.ok(), "{}", report.oracle_summary());
}

#[test]
fn raw_host_limits_are_typed_errors() {
    let raw = |b: weft_sim::SimBuilder, cfg: HostConfig| {
        b.switch("lan").raw_host("raw", cfg, |_nic, _rt| async {})
    };
    let cfg = || HostConfig::on("lan", RAW, 24);
    let is_raw_error = |r: Result<weft_sim::Report, SimError>, what: &str| match r {
        Err(SimError::RawHost { host, problem }) => {
            assert_eq!(host, "raw");
            assert!(problem.contains(what), "{problem}");
            println!("{}", SimError::RawHost { host, problem });
        }
        other => panic!("expected SimError::RawHost ({what}), got {other:?}"),
    };
    is_raw_error(
        raw(Sim::builder(), cfg())
            .at(
                Instant::from_millis(1),
                Action::Crash { host: "raw".into() },
            )
            .run(1),
        "crash and restart",
    );
    is_raw_error(
        raw(Sim::builder(), cfg())
            .at(
                Instant::from_millis(1),
                Action::Restart { host: "raw".into() },
            )
            .run(1),
        "crash and restart",
    );
    // Partitions are fine.
    let r = raw(Sim::builder(), cfg())
        .at(
            Instant::from_millis(1),
            Action::Partition {
                host: "raw".into(),
                iface: 0,
            },
        )
        .run(1);
    assert!(r.is_ok(), "{r:?}");
    is_raw_error(
        raw(Sim::builder(), cfg())
            .app("raw", |_net| async {})
            .run(1),
        "no weft stack",
    );
    is_raw_error(
        raw(Sim::builder(), cfg())
            .idle_host("weft", HostConfig::on("lan", WEFT, 24))
            .workload(UdpEcho {
                server: "raw".into(),
                clients: vec!["weft".into()],
                ..UdpEcho::default()
            })
            .run(1),
        "no weft stack",
    );
    is_raw_error(
        raw(Sim::builder(), HostConfig::dhcp("lan")).run(1),
        "static address",
    );
    is_raw_error(
        raw(
            Sim::builder(),
            cfg().and_on("lan", Ipv4Addr::new(10, 0, 1, 2), 24),
        )
        .run(1),
        "exactly one interface",
    );
}
