//! Raw hosts: something that is not a weft stack on the simulated network, given the bare
//! NIC (`SimLink`) and the virtual-time runtime. Here, a few lines of hand-built ARP and UDP
//! talk to a weft host; the raw host's frames go through the same links, faults and monitor
//! as anyone's, and what a raw host cannot have is refused with `SimError::RawHost`. Raw
//! hosts also prove the sender-side monitor's Ethernet, ARP, IPv4, UDP, ICMP and DHCP rules:
//! one malformed frame per way of breaking each, every one reported under its own rule and
//! no other, and well-formed frames (tagged ones too) passing every rule.

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
use weft_wire::dhcp::{DhcpMessageType, DhcpOp, DhcpOptions, DhcpRepr};
use weft_wire::ethernet::{EtherType, EthernetFrame, EthernetRepr, VlanTag};
use weft_wire::icmpv4::Icmpv4Repr;
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

/// A UDP segment (header and payload) with its checksum.
fn udp_segment(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let u = UdpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        payload,
    };
    let mut seg = vec![0u8; 8 + payload.len()];
    u.emit(*from.ip(), *to.ip(), &mut seg).unwrap();
    seg
}

fn udp(from: (MacAddr, SocketAddrV4), to: (MacAddr, SocketAddrV4), payload: &[u8]) -> Vec<u8> {
    let seg = udp_segment(from.1, to.1, payload);
    ipv4(
        (from.0, *from.1.ip()),
        (to.0, *to.1.ip()),
        IpProtocol::UDP,
        &seg,
    )
}

/// An Ethernet frame carrying an IPv4 datagram of `payload`.
fn ipv4(
    from: (MacAddr, Ipv4Addr),
    to: (MacAddr, Ipv4Addr),
    protocol: IpProtocol,
    seg: &[u8],
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src: from.1,
        dst: to.1,
        protocol,
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
    p[n..].copy_from_slice(seg);
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

// ---------------------------------------------------------------------------------------
// The sender-side monitor's rules, one malformed frame each from a raw host.

/// The weft host's MAC (host 0).
const WEFT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0]);

/// `frame` with an 802.1Q tag (VLAN 5) inserted after its addresses.
fn tagged(frame: &[u8]) -> Vec<u8> {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let r = EthernetRepr {
        dst: eth.dst(),
        src: eth.src(),
        vlans: [VlanTag {
            tpid: EtherType::VLAN,
            pcp: 0,
            dei: false,
            vid: 5,
        }]
        .into_iter()
        .collect(),
        ethertype: eth.ethertype(),
    };
    let mut f = vec![0u8; r.header_len() + eth.payload().len()];
    let n = r.emit(&mut f).unwrap();
    f[n..].copy_from_slice(eth.payload());
    f
}

fn icmp_echo(data: &[u8]) -> Vec<u8> {
    let r = Icmpv4Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 1,
        data,
    };
    let mut p = vec![0u8; r.buffer_len()];
    r.emit(&mut p).unwrap();
    p
}

/// A DHCP message: `op` and `kind` with `xid` for client hardware address `chaddr`, a
/// SELECTING REQUEST naming the weft host as server.
fn dhcp_message(op: DhcpOp, kind: DhcpMessageType, xid: u32, chaddr: MacAddr) -> Vec<u8> {
    let selecting = kind == DhcpMessageType::Request;
    let r = DhcpRepr {
        op,
        hops: 0,
        xid,
        secs: 0,
        broadcast: false,
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: if op == DhcpOp::Reply {
            Ipv4Addr::new(10, 0, 0, 50)
        } else {
            Ipv4Addr::UNSPECIFIED
        },
        server_ip: Ipv4Addr::UNSPECIFIED,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        client_hardware_address: chaddr,
        server_name: &[],
        boot_file: &[],
        message_type: Some(kind),
        subnet_mask: None,
        routers: None,
        dns_servers: None,
        host_name: None,
        requested_ip: selecting.then_some(Ipv4Addr::new(10, 0, 0, 50)),
        lease_time: None,
        server_identifier: (selecting || op == DhcpOp::Reply).then_some(WEFT),
        parameter_request_list: None,
        renewal_time: None,
        rebinding_time: None,
        client_identifier: None,
        other_options: DhcpOptions::new(),
    };
    let mut p = vec![0u8; r.buffer_len()];
    r.emit(&mut p).unwrap();
    p
}

/// A client's DHCP message, broadcast from 0.0.0.0:68 to port 67.
fn dhcp_from_client(me: MacAddr, message: &[u8]) -> Vec<u8> {
    udp(
        (me, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)),
        (MAC_BROADCAST, SocketAddrV4::new(Ipv4Addr::BROADCAST, 67)),
        message,
    )
}

/// A client's DISCOVER with `xid` naming `chaddr` as its hardware address.
fn discover(me: MacAddr, xid: u32, chaddr: MacAddr) -> Vec<u8> {
    dhcp_from_client(
        me,
        &dhcp_message(DhcpOp::Request, DhcpMessageType::Discover, xid, chaddr),
    )
}

/// A server's DHCP message, broadcast from the raw host's port 67 to port 68.
fn dhcp_from_server(me: MacAddr, message: &[u8]) -> Vec<u8> {
    udp(
        (me, SocketAddrV4::new(RAW, 67)),
        (MAC_BROADCAST, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)),
        message,
    )
}

fn to_weft(me: MacAddr, port: u16, payload: &[u8]) -> Vec<u8> {
    udp(
        (me, SocketAddrV4::new(RAW, RAW_PORT)),
        (WEFT_MAC, SocketAddrV4::new(WEFT, port)),
        payload,
    )
}

/// Well-formed frames touching every rule the malformed ones below break: ARP, a UDP
/// datagram (and one short enough to be padded to the minimum frame), an ICMP echo, and a
/// DHCP exchange as a client (DISCOVER, then a SELECTING REQUEST with its xid) and as a
/// server (an OFFER answering that xid); and datagrams in 802.1Q-tagged frames, one carrying
/// a full 1,500-byte IP datagram (the MTU counts what follows the tag) and a short one padded
/// to the minimum frame plus its tag.
fn well_formed(me: MacAddr) -> Vec<Vec<u8>> {
    let mut short = to_weft(me, 9, b"hi");
    assert!(short.len() < 60);
    short.resize(60, 0);
    let full = tagged(&to_weft(me, 9, &[3u8; 1472]));
    assert_eq!(full.len(), 1518);
    let mut tagged_short = tagged(&to_weft(me, 9, b"hi"));
    tagged_short.resize(64, 0);
    let untagged_full = to_weft(me, 9, &[4u8; 1472]);
    assert_eq!(untagged_full.len(), 1514);
    vec![
        untagged_full,
        full,
        tagged_short,
        tagged(&to_weft(me, 9, &[5u8; 100])),
        arp(ArpOperation::REQUEST, (me, RAW), (MacAddr([0; 6]), WEFT)),
        to_weft(me, 9, &[7u8; 1400]),
        short,
        ipv4(
            (me, RAW),
            (WEFT_MAC, WEFT),
            IpProtocol::ICMP,
            &icmp_echo(b"ping"),
        ),
        discover(me, 7, me),
        dhcp_from_client(
            me,
            &dhcp_message(DhcpOp::Request, DhcpMessageType::Request, 7, me),
        ),
        dhcp_from_server(
            me,
            &dhcp_message(DhcpOp::Reply, DhcpMessageType::Offer, 7, me),
        ),
    ]
}

/// The frames a raw host with this MAC emits.
type Frames = fn(MacAddr) -> Vec<Vec<u8>>;

/// The rules the monitor must hold a sender to, each with frames that break it and only it.
fn malformed() -> Vec<(&'static str, Frames)> {
    vec![
        // Shorter than an Ethernet header.
        ("ethernet.header", |me| {
            vec![to_weft(me, 9, b"x")[..10].to_vec()]
        }),
        // 1,600 bytes of UDP payload on a 1,500-byte MTU.
        ("ethernet.mtu", |me| vec![to_weft(me, 9, &[1u8; 1600])]),
        // A 1,501-byte IP datagram behind a VLAN tag.
        ("ethernet.mtu", |me| {
            vec![tagged(&to_weft(me, 9, &[1u8; 1473]))]
        }),
        // ARP operation 3 (RARP request): neither request nor reply.
        ("arp.format", |me| {
            vec![arp(ArpOperation(3), (me, RAW), (MacAddr([0; 6]), WEFT))]
        }),
        // Hardware type 6 (IEEE 802) on Ethernet.
        ("arp.format", |me| {
            let mut f = arp(ArpOperation::REQUEST, (me, RAW), (MacAddr([0; 6]), WEFT));
            f[14..16].copy_from_slice(&6u16.to_be_bytes());
            vec![f]
        }),
        // Cut short inside the sender's protocol address.
        ("arp.format", |me| {
            let f = arp(ArpOperation::REQUEST, (me, RAW), (MacAddr([0; 6]), WEFT));
            vec![f[..14 + 16].to_vec()]
        }),
        // An IPv4 total length beyond the frame.
        ("ipv4.header", |me| {
            let mut f = to_weft(me, 9, b"hello");
            f[16..18].copy_from_slice(&1000u16.to_be_bytes());
            vec![f]
        }),
        // Version 6 under the IPv4 EtherType.
        ("ipv4.header", |me| {
            let mut f = to_weft(me, 9, b"hello");
            f[14] = 0x65;
            vec![f]
        }),
        // A header length of 4 words.
        ("ipv4.header", |me| {
            let mut f = to_weft(me, 9, b"hello");
            f[14] = 0x44;
            vec![f]
        }),
        // 20 bytes of junk after the datagram in a frame longer than the minimum.
        ("ipv4.length", |me| {
            let mut f = to_weft(me, 9, b"hello");
            f.extend_from_slice(&[0xaa; 20]);
            assert!(f.len() > 60);
            vec![f]
        }),
        // A UDP length field 4 bytes short of the IP payload (the checksum covers what the
        // length field says, and verifies).
        ("udp.header", |me| {
            let mut seg = udp_segment(
                SocketAddrV4::new(RAW, RAW_PORT),
                SocketAddrV4::new(WEFT, 9),
                b"hello",
            );
            seg.extend_from_slice(&[0; 4]);
            vec![ipv4((me, RAW), (WEFT_MAC, WEFT), IpProtocol::UDP, &seg)]
        }),
        // A UDP length field beyond the IP payload.
        ("udp.header", |me| {
            let mut seg = udp_segment(
                SocketAddrV4::new(RAW, RAW_PORT),
                SocketAddrV4::new(WEFT, 9),
                b"hello",
            );
            seg[4..6].copy_from_slice(&20u16.to_be_bytes());
            vec![ipv4((me, RAW), (WEFT_MAC, WEFT), IpProtocol::UDP, &seg)]
        }),
        // A UDP checksum off by one bit.
        ("udp.checksum", |me| {
            let mut f = to_weft(me, 9, b"hello");
            f[14 + 20 + 7] ^= 1;
            vec![f]
        }),
        // No UDP checksum (zero): weft always computes one.
        ("udp.checksum", |me| {
            let mut f = to_weft(me, 9, b"hello");
            f[14 + 20 + 6..14 + 20 + 8].fill(0);
            vec![f]
        }),
        // An ICMP checksum off by one bit.
        ("icmp.checksum", |me| {
            let mut m = icmp_echo(b"ping");
            m[3] ^= 1;
            vec![ipv4((me, RAW), (WEFT_MAC, WEFT), IpProtocol::ICMP, &m)]
        }),
        // An ICMP message shorter than its 8-byte header.
        ("icmp.checksum", |me| {
            let m = icmp_echo(b"");
            vec![ipv4((me, RAW), (WEFT_MAC, WEFT), IpProtocol::ICMP, &m[..6])]
        }),
        // A BOOTREPLY from the client port.
        ("dhcp.message", |me| {
            vec![dhcp_from_client(
                me,
                &dhcp_message(DhcpOp::Reply, DhcpMessageType::Discover, 7, me),
            )]
        }),
        // A BOOTREQUEST from the server port.
        ("dhcp.message", |me| {
            vec![dhcp_from_server(
                me,
                &dhcp_message(DhcpOp::Request, DhcpMessageType::Offer, 7, me),
            )]
        }),
        // Hardware type 6 (IEEE 802) from a client on Ethernet.
        ("dhcp.message", |me| {
            let mut m = dhcp_message(DhcpOp::Request, DhcpMessageType::Discover, 7, me);
            m[1] = 6;
            vec![dhcp_from_client(me, &m)]
        }),
        // A DHCP message cut short inside its fixed fields.
        ("dhcp.message", |me| {
            let m = dhcp_message(DhcpOp::Request, DhcpMessageType::Discover, 7, me);
            vec![dhcp_from_client(me, &m[..100])]
        }),
        // A client naming another interface's hardware address.
        ("dhcp.chaddr", |me| {
            let other = MacAddr([0x02, 0xee, 0, 0, 0, 0x99]);
            vec![discover(me, 7, other)]
        }),
        // A SELECTING REQUEST with another xid than its DISCOVER's.
        ("dhcp.xid", |me| {
            vec![
                discover(me, 7, me),
                dhcp_from_client(
                    me,
                    &dhcp_message(DhcpOp::Request, DhcpMessageType::Request, 8, me),
                ),
            ]
        }),
        // A server answering an xid no client used.
        ("dhcp.xid", |me| {
            vec![dhcp_from_server(
                me,
                &dhcp_message(DhcpOp::Reply, DhcpMessageType::Offer, 9, me),
            )]
        }),
    ]
}

/// A run in which the raw host emits `frames` beside a weft host.
fn emit(frames: Frames) -> weft_sim::Report {
    Sim::builder()
        .switch("lan")
        .idle_host("weft", HostConfig::on("lan", WEFT, 24))
        .raw_host(
            "raw",
            HostConfig::on("lan", RAW, 24),
            move |mut nic, _rt| {
                let me = nic.mac();
                for f in frames(me) {
                    send(&mut nic, &f);
                }
                async {}
            },
        )
        .run(1)
        .expect("valid simulation")
}

#[test]
fn monitor_passes_well_formed_frames_on_every_rule_it_checks() {
    let report = emit(well_formed);
    print!("{}", report.oracle_summary());
    assert!(report.monitor.clean(), "{:?}", report.monitor.violations);
    assert!(report.ok(), "{}", report.oracle_summary());
    for (rule, _) in malformed() {
        assert!(report.monitor.checked(rule) > 0, "{rule} checked nothing");
    }
}

#[test]
fn monitor_reports_each_rule_a_raw_host_breaks_and_only_that_rule() {
    let cases = malformed();
    let mut covered = std::collections::BTreeSet::new();
    for (rule, frames) in cases {
        let report = emit(frames);
        let seen: Vec<(&str, &str)> = report
            .monitor
            .violations
            .iter()
            .map(|v| (v.host.as_str(), v.rule))
            .collect();
        println!("{rule}: {:?}", report.monitor.violations);
        assert_eq!(seen, vec![("raw", rule)], "{rule}");
        assert_eq!(report.monitor.total_violations, 1, "{rule}");
        assert_eq!(report.monitor.rules[rule].failed, 1, "{rule}");
        // The monitor's failure is an oracle failure of the run.
        assert!(
            report.oracles.iter().any(|f| matches!(
                f,
                weft_sim::OracleFailure::Monitor { host, rule: r, .. } if host == "raw" && *r == rule
            )),
            "{rule}: {}",
            report.oracle_summary()
        );
        covered.insert(rule);
    }
    assert_eq!(covered.len(), 11, "{covered:?}");
}
