//! Whole-stack behaviour through the testkit: stacks back to back on virtual time.

#![cfg(feature = "testkit")]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use weft_core::testkit::{DropRule, TestNet};
use weft_core::time::{Duration, Instant};
use weft_core::{Event, IfaceId, InterfaceConfig, StackConfig};
use weft_wire::{Ipv4Addr, MacAddr};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LAN: Duration = Duration::from_micros(50);

fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

fn host(seed: u64, n: u8, addr: Ipv4Addr) -> StackConfig {
    let mut c = StackConfig::new(seed);
    c.add_interface(InterfaceConfig::ethernet(mac(n), addr, 24));
    c
}

/// Two hosts on one segment.
fn pair() -> (TestNet, usize, usize) {
    let mut net = TestNet::new();
    let a = net.add_host("a", host(1, 1, A));
    let b = net.add_host("b", host(2, 2, B));
    net.add_segment(&[(a, IfaceId(0)), (b, IfaceId(0))], LAN);
    (net, a, b)
}

fn is_arp(f: &[u8]) -> bool {
    f.get(12..14) == Some(&[0x08, 0x06])
}

/// An ARP request that asks for another address (not an announcement, whose sender and
/// target addresses are equal).
fn is_arp_request(f: &[u8]) -> bool {
    is_arp(f) && f.get(20..22) == Some(&[0, 1]) && f.get(28..32) != f.get(38..42)
}

#[test]
fn arp_resolution_then_udp_both_ways() {
    let (mut net, a, b) = pair();
    net.run_for(Duration::from_secs(5)); // gratuitous ARP announcements settle
    let sa = net.stack(a).udp_bind(Ipv4Addr::UNSPECIFIED, 4000).unwrap();
    let sb = net.stack(b).udp_bind(Ipv4Addr::UNSPECIFIED, 5000).unwrap();
    let now = net.now();
    net.stack(a)
        .udp_send_to(now, sa, (B, 5000), b"hello")
        .unwrap();
    net.run_for(Duration::from_millis(10));
    let d = net
        .stack(b)
        .udp_recv(sb)
        .unwrap()
        .expect("b received the datagram");
    assert_eq!(d.payload, b"hello");
    assert_eq!(d.src, (A, 4000));
    let now = net.now();
    net.stack(b).udp_send_to(now, sb, d.src, b"world").unwrap();
    net.run_for(Duration::from_millis(10));
    let d = net
        .stack(a)
        .udp_recv(sa)
        .unwrap()
        .expect("a received the reply");
    assert_eq!((d.payload.as_slice(), d.src), (&b"world"[..], (B, 5000)));
    // Both learned each other's MAC.
    let now = net.now();
    assert_eq!(
        net.stack_ref(a).arp_lookup(now, IfaceId(0), B),
        Some(mac(2))
    );
    assert_eq!(
        net.stack_ref(b).arp_lookup(now, IfaceId(0), A),
        Some(mac(1))
    );
    assert!(
        net.events(b)
            .iter()
            .any(|(_, e)| matches!(e, Event::UdpReadable { .. }))
    );
}

#[test]
fn arp_entry_expires_and_is_resolved_again() {
    // RFC 1122 §2.3.2.1: cache entries time out.
    let (mut net, a, b) = pair();
    // Let the start-up announcements (RFC 5227 §2.3, 2 s apart) pass: each refreshes an
    // existing entry (RFC 826 merge).
    net.run_for(Duration::from_secs(5));
    let sa = net.stack(a).udp_bind(Ipv4Addr::UNSPECIFIED, 4000).unwrap();
    let _sb = net.stack(b).udp_bind(Ipv4Addr::UNSPECIFIED, 5000).unwrap();
    let now = net.now();
    net.stack(a).udp_send_to(now, sa, (B, 5000), b"x").unwrap();
    net.run_for(Duration::from_millis(10));
    let now = net.now();
    assert!(net.stack_ref(a).arp_lookup(now, IfaceId(0), B).is_some());
    net.run_for(Duration::from_secs(59));
    let now = net.now();
    assert!(
        net.stack_ref(a).arp_lookup(now, IfaceId(0), B).is_some(),
        "still valid at 59 s"
    );
    net.run_for(Duration::from_secs(2));
    let now = net.now();
    assert_eq!(
        net.stack_ref(a).arp_lookup(now, IfaceId(0), B),
        None,
        "expired after 60 s"
    );
    assert!(net.stack_ref(a).counters().arp.expirations >= 1);
    let requests_before = net.stack_ref(a).counters().arp.requests_sent;
    net.stack(a).udp_send_to(now, sa, (B, 5000), b"y").unwrap();
    net.run_for(Duration::from_millis(10));
    assert_eq!(
        net.stack_ref(a).counters().arp.requests_sent,
        requests_before + 1
    );
}

#[test]
fn arp_request_retried_after_a_drop() {
    let (mut net, a, b) = pair();
    // Drop a's first ARP request: the datagram waits and the request is retried 1 s later.
    net.drop_frame(DropRule::new(a, 0, is_arp_request));
    let sa = net.stack(a).udp_bind(Ipv4Addr::UNSPECIFIED, 4000).unwrap();
    let sb = net.stack(b).udp_bind(Ipv4Addr::UNSPECIFIED, 5000).unwrap();
    let now = net.now();
    net.stack(a)
        .udp_send_to(now, sa, (B, 5000), b"late")
        .unwrap();
    net.run_for(Duration::from_millis(500));
    assert!(net.stack(b).udp_recv(sb).unwrap().is_none());
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.stack(b).udp_recv(sb).unwrap().unwrap().payload, b"late");
    assert_eq!(net.dropped, 1, "the drop rule fired");
}

#[cfg(feature = "icmp")]
#[test]
fn icmp_ping_is_answered() {
    // RFC 1122 §3.2.2.6: every host MUST implement an echo server.
    let (mut net, a, b) = pair();
    let now = net.now();
    net.stack(a).ping(now, B, 7, 1, b"abcdefgh").unwrap();
    net.run_for(Duration::from_millis(10));
    assert!(
        net.events(a).iter().any(|(_, e)| *e
            == Event::EchoReply {
                from: B,
                ident: 7,
                seq_no: 1
            }),
        "{:?}",
        net.events(a)
    );
    assert_eq!(net.stack_ref(b).counters().icmp.echo_replies_sent, 1);
}

#[cfg(feature = "icmp")]
#[test]
fn icmp_port_unreachable_reaches_the_sender() {
    // RFC 1122 §4.1.3.1 / §3.2.2.1: port unreachable, delivered to the sending socket.
    let (mut net, a, b) = pair();
    let sa = net.stack(a).udp_bind(Ipv4Addr::UNSPECIFIED, 4000).unwrap();
    let now = net.now();
    net.stack(a)
        .udp_send_to(now, sa, (B, 9), b"anyone?")
        .unwrap();
    net.run_for(Duration::from_millis(10));
    let err = net.events(a).iter().find_map(|(_, e)| match e {
        Event::UdpError {
            socket,
            remote,
            kind,
            reporter,
        } => Some((*socket, *remote, *kind, *reporter)),
        _ => None,
    });
    assert_eq!(
        err,
        Some((
            sa,
            (B, 9),
            weft_core::IcmpErrorKind::Unreachable { code: 3 },
            B
        ))
    );
    assert_eq!(net.stack_ref(b).counters().icmp.errors_sent, 1);
    assert_eq!(net.stack_ref(b).counters().udp.rx_no_socket, 1);
}

#[test]
fn fragment_60k_datagram_is_fragmented_and_reassembled() {
    // RFC 791 §3.2: fragmentation on send (DF clear), reassembly on receipt.
    let (mut net, a, b) = pair();
    let sa = net.stack(a).udp_bind(Ipv4Addr::UNSPECIFIED, 4000).unwrap();
    let sb = net.stack(b).udp_bind(Ipv4Addr::UNSPECIFIED, 5000).unwrap();
    let payload: Vec<u8> = (0..60 * 1024).map(|i| (i * 7 + 3) as u8).collect();
    let now = net.now();
    net.stack(a)
        .udp_send_to(now, sa, (B, 5000), &payload)
        .unwrap();
    net.run_for(Duration::from_millis(50));
    let d = net
        .stack(b)
        .udp_recv(sb)
        .unwrap()
        .expect("reassembled datagram delivered");
    assert_eq!(d.payload, payload);
    let ca = net.stack_ref(a).counters();
    let cb = net.stack_ref(b).counters();
    assert!(
        ca.ipv4.tx_fragments >= 42,
        "60 KiB over a 1500 MTU: {}",
        ca.ipv4.tx_fragments
    );
    assert_eq!(cb.ipv4.reassembled, 1);
    assert_eq!(cb.ipv4.rx_fragments, ca.ipv4.tx_fragments);
}

#[test]
fn ipv4_two_interface_host_routes_by_destination() {
    // A host on two networks sends each datagram out of the interface whose network holds
    // the destination (RFC 1122 §3.3.1.1), from that interface's address (§3.3.4.3).
    let mut net = TestNet::new();
    let mut cfg = StackConfig::new(9);
    cfg.add_interface(InterfaceConfig::ethernet(
        mac(1),
        Ipv4Addr::new(10, 0, 0, 1),
        24,
    ));
    cfg.add_interface(InterfaceConfig::ethernet(
        mac(3),
        Ipv4Addr::new(10, 1, 0, 1),
        24,
    ));
    let r = net.add_host("router-ish", cfg);
    let x = net.add_host("x", host(2, 2, Ipv4Addr::new(10, 0, 0, 2)));
    let y = net.add_host("y", host(4, 4, Ipv4Addr::new(10, 1, 0, 2)));
    net.add_segment(&[(r, IfaceId(0)), (x, IfaceId(0))], LAN);
    net.add_segment(&[(r, IfaceId(1)), (y, IfaceId(0))], LAN);
    let s = net.stack(r).udp_bind(Ipv4Addr::UNSPECIFIED, 1000).unwrap();
    let sx = net.stack(x).udp_bind(Ipv4Addr::UNSPECIFIED, 7).unwrap();
    let sy = net.stack(y).udp_bind(Ipv4Addr::UNSPECIFIED, 7).unwrap();
    let now = net.now();
    net.stack(r)
        .udp_send_to(now, s, (Ipv4Addr::new(10, 0, 0, 2), 7), b"to x")
        .unwrap();
    net.stack(r)
        .udp_send_to(now, s, (Ipv4Addr::new(10, 1, 0, 2), 7), b"to y")
        .unwrap();
    net.run_for(Duration::from_millis(10));
    let dx = net.stack(x).udp_recv(sx).unwrap().unwrap();
    let dy = net.stack(y).udp_recv(sy).unwrap().unwrap();
    assert_eq!(
        (dx.payload.as_slice(), dx.src.0),
        (&b"to x"[..], Ipv4Addr::new(10, 0, 0, 1))
    );
    assert_eq!(
        (dy.payload.as_slice(), dy.src.0),
        (&b"to y"[..], Ipv4Addr::new(10, 1, 0, 1))
    );
    let now = net.now();
    assert_eq!(
        net.stack(r)
            .udp_send_to(now, s, (Ipv4Addr::new(192, 0, 2, 1), 7), b"?"),
        Err(weft_core::udp::UdpError::NoRoute(Ipv4Addr::new(
            192, 0, 2, 1
        )))
    );
}

#[test]
fn testkit_writes_a_pcap_weft_can_read() {
    let (mut net, a, _b) = pair();
    let now = net.now();
    let sa = net.stack(a).udp_bind(Ipv4Addr::UNSPECIFIED, 4000).unwrap();
    net.stack(a)
        .udp_send_to(now, sa, (B, 5000), b"pcap")
        .unwrap();
    net.run_for(Duration::from_millis(10));
    let pcap = net.pcap();
    let cap = weft_pcap::Capture::read(&pcap).unwrap();
    assert!(cap.error.is_none());
    assert_eq!(cap.records.len(), net.frames().len());
    assert!(
        cap.records.len() >= 3,
        "announcements, ARP exchange, datagram, port unreachable"
    );
}

/// A host running the project's DHCP server over a UDP socket on port 67.
#[cfg(feature = "dhcp")]
fn dhcp_lan(lease_secs: u32) -> (TestNet, usize, usize) {
    use std::cell::RefCell;
    use std::rc::Rc;
    use weft_core::dhcp::server::{DhcpServer, DhcpServerConfig};
    let server_ip = Ipv4Addr::new(10, 0, 0, 1);
    let mut net = TestNet::new();
    let s = net.add_host("dhcpd", host(1, 1, server_ip));
    let mut cc = StackConfig::new(2);
    cc.add_interface(InterfaceConfig {
        mac: mac(2),
        mtu: 1500,
        ipv4: weft_core::Ipv4Config::Dhcp,
        multicast: Vec::new(),
    });
    let c = net.add_host("client", cc);
    net.add_segment(&[(s, IfaceId(0)), (c, IfaceId(0))], LAN);
    let mut cfg = DhcpServerConfig::new(
        server_ip,
        Ipv4Addr::new(10, 0, 0, 100),
        Ipv4Addr::new(10, 0, 0, 199),
        Ipv4Addr::new(255, 255, 255, 0),
    );
    cfg.router = Some(server_ip);
    cfg.lease_time = lease_secs;
    let server = Rc::new(RefCell::new(DhcpServer::new(cfg).unwrap()));
    let sock = net.stack(s).udp_bind(Ipv4Addr::UNSPECIFIED, 67).unwrap();
    net.set_app(
        s,
        Box::new(move |stack, now| {
            while let Some(d) = stack.udp_recv(sock).unwrap() {
                let Ok(p) = weft_wire::dhcp::DhcpPacket::new_checked(&d.payload[..]) else {
                    continue;
                };
                let Ok(repr) = weft_wire::dhcp::DhcpRepr::parse(&p) else {
                    continue;
                };
                if let Some(reply) = server.borrow_mut().handle(now, &repr) {
                    let mut buf = vec![0u8; reply.message.buffer_len()];
                    reply.message.emit(&mut buf).unwrap();
                    stack
                        .udp_send_to(now, sock, (reply.dst, reply.dst_port), &buf)
                        .unwrap();
                }
            }
        }),
    );
    (net, s, c)
}

#[cfg(feature = "dhcp")]
fn addr_events(net: &TestNet, host: usize) -> Vec<(u64, String)> {
    net.events(host)
        .iter()
        .filter_map(|(t, e)| match e {
            Event::AddressUp { addr, .. } => {
                Some((t.as_nanos() / 1_000_000_000, format!("up {addr}")))
            }
            Event::AddressDown { addr, .. } => {
                Some((t.as_nanos() / 1_000_000_000, format!("down {addr}")))
            }
            _ => None,
        })
        .collect()
}

#[cfg(feature = "dhcp")]
#[test]
fn dhcp_lease_acquired_renewed_rebound_and_expired() {
    // RFC 2131 §4.4: DORA, then RENEWING at T1 (0.5 lease), REBINDING at T2 (0.875 lease),
    // and the lease lost at expiry when no server answers.
    let (mut net, s, c) = dhcp_lan(600);
    net.run_for(Duration::from_secs(10));
    let leased = net
        .stack_ref(c)
        .iface_addr(IfaceId(0))
        .expect("lease acquired (with RFC 5227 probes)");
    assert_eq!(leased, (Ipv4Addr::new(10, 0, 0, 100), 24));
    assert_eq!(net.stack_ref(c).counters().dhcp.leases, 1);
    // The leased address works: the server pings it.
    let now = net.now();
    net.stack(s).ping(now, leased.0, 1, 1, b"hi").unwrap();
    net.run_for(Duration::from_millis(10));
    assert!(
        net.events(s)
            .iter()
            .any(|(_, e)| matches!(e, Event::EchoReply { .. }))
    );
    // Renewal at T1 = 300 s, unicast to the server.
    net.run_for(Duration::from_secs(300));
    assert_eq!(
        net.stack_ref(c).counters().dhcp.renewals,
        1,
        "renewed at T1"
    );
    // Server goes silent: the next renewal fails, rebinding at T2 (525 s after the renewal)
    // is answered once the server is back.
    net.set_attached(s, false);
    let renewed_at = net.now();
    net.run_until(renewed_at + Duration::from_secs(500));
    assert_eq!(net.stack_ref(c).counters().dhcp.renewals, 1);
    net.set_attached(s, true);
    net.run_until(renewed_at + Duration::from_secs(560));
    assert_eq!(
        net.stack_ref(c).counters().dhcp.renewals,
        2,
        "rebound at T2 by broadcast"
    );
    assert!(net.stack_ref(c).iface_addr(IfaceId(0)).is_some());
    // Server gone for good: the lease expires and the address goes down.
    net.set_attached(s, false);
    net.run_for(Duration::from_secs(700));
    assert_eq!(
        net.stack_ref(c).iface_addr(IfaceId(0)),
        None,
        "lease expired"
    );
    assert_eq!(net.stack_ref(c).counters().dhcp.leases_lost, 1);
    // The history of grants: the binding and both renewals, each from its REQUEST's first
    // transmission, each for the whole lease (the lease ran out 600 s after the last).
    let (grants, dropped) = net.stack_ref(c).dhcp_grants();
    let grants: Vec<_> = grants.copied().collect();
    assert_eq!(dropped, 0);
    assert_eq!(grants.len(), 3, "{grants:?}");
    // The first two were extended before they ended; the last ended at expiry.
    assert!(
        grants[..2].iter().all(|g| g.ended_at.is_none()),
        "{grants:?}"
    );
    assert_eq!(grants[2].ended_at, Some(grants[2].until()), "{grants:?}");
    assert_eq!(
        grants[2].until(),
        grants[2].acquired_at + Duration::from_secs(600)
    );
    assert!(grants.iter().all(|g| g.addr == leased.0
        && g.lease_time == Duration::from_secs(600)
        && g.iface == IfaceId(0)));
    assert!(
        grants
            .windows(2)
            .all(|w| w[0].acquired_at < w[1].acquired_at),
        "{grants:?}"
    );
    // The rebinding's grant runs from the renewal process's first REQUEST, at the second
    // lease's T1 (RENEWING), though the ACK answered a REQUEST of REBINDING.
    let last = grants[2].acquired_at;
    assert!(
        last >= grants[1].acquired_at + Duration::from_secs(300)
            && last < grants[1].acquired_at + Duration::from_secs(301),
        "the rebinding's grant: {last} (the renewal's: {})",
        grants[1].acquired_at
    );
    let ev = addr_events(&net, c);
    assert_eq!(
        ev.first().map(|e| e.1.as_str()),
        Some("up 10.0.0.100"),
        "{ev:?}"
    );
    assert_eq!(
        ev.last().map(|e| e.1.as_str()),
        Some("down 10.0.0.100"),
        "{ev:?}"
    );
}

/// A lease given back early (RFC 2131 §4.4.6) ends its grant then, not at its expiry.
#[cfg(feature = "dhcp")]
#[test]
fn dhcp_a_released_lease_ends_its_grant() {
    let (mut net, _s, c) = dhcp_lan(600);
    net.run_for(Duration::from_secs(10));
    let now = net.now();
    let addr = net
        .stack(c)
        .dhcp_release(now, IfaceId(0))
        .expect("a lease to give back");
    let (grants, _) = net.stack_ref(c).dhcp_grants();
    let grants: Vec<_> = grants.copied().collect();
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!((grants[0].addr, grants[0].ended_at), (addr, Some(now)));
    assert_eq!(
        grants[0].until(),
        now,
        "ended 590 s before it would have run out"
    );
}

/// The grant history keeps the newest `DHCP_GRANTS_KEPT` and counts the ones it drops.
#[cfg(feature = "dhcp")]
#[test]
fn dhcp_grants_are_bounded_and_the_dropped_counted() {
    let (mut net, _s, c) = dhcp_lan(60);
    // A binding, then a renewal every 30 s.
    let extra = 10u64;
    net.run_for(Duration::from_secs(
        10 + 30 * (weft_core::DHCP_GRANTS_KEPT as u64 + extra),
    ));
    let renewals = net.stack_ref(c).counters().dhcp.renewals;
    let (grants, dropped) = net.stack_ref(c).dhcp_grants();
    let kept: Vec<_> = grants.copied().collect();
    assert!(
        renewals >= weft_core::DHCP_GRANTS_KEPT as u64 + extra - 1,
        "{renewals}"
    );
    assert_eq!(kept.len(), weft_core::DHCP_GRANTS_KEPT);
    assert_eq!(
        dropped,
        1 + renewals - kept.len() as u64,
        "the binding and the renewals"
    );
    assert!(kept.windows(2).all(|w| w[0].acquired_at < w[1].acquired_at));
}

/// An in-memory link: frames pushed to `inbox` are received; transmitted frames land in
/// `outbox`, with room for at most `room` frames per pass (back-pressure).
struct MemLink {
    inbox: std::collections::VecDeque<Vec<u8>>,
    outbox: Vec<Vec<u8>>,
    room: usize,
}

struct MemRx(Vec<u8>);
struct MemTx<'a>(&'a mut MemLink);

impl weft_core::RxToken for MemRx {
    fn consume<R>(self, f: impl FnOnce(&[u8], weft_core::RxMeta) -> R) -> R {
        f(&self.0, weft_core::RxMeta::default())
    }
}

impl weft_core::TxToken for MemTx<'_> {
    fn consume<R>(self, len: usize, _meta: weft_core::TxMeta, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.room -= 1;
        self.0.outbox.push(buf);
        r
    }
}

impl weft_core::Link for MemLink {
    type Rx<'a> = MemRx;
    type Tx<'a> = MemTx<'a>;
    fn receive(&mut self) -> Option<MemRx> {
        self.inbox.pop_front().map(MemRx)
    }
    fn transmit(&mut self) -> Option<MemTx<'_>> {
        (self.room > 0).then_some(MemTx(self))
    }
    fn max_frame_len(&self) -> usize {
        1514
    }
}

#[test]
fn link_drive_once_moves_frames_both_ways_with_back_pressure() {
    use weft_core::link::drive_once;
    let now = Instant::ZERO;
    let mut a = weft_core::Stack::new(host(1, 1, A), now).unwrap();
    let mut b = weft_core::Stack::new(host(2, 2, B), now).unwrap();
    let mut la = MemLink {
        inbox: Default::default(),
        outbox: Vec::new(),
        room: 1,
    };
    let mut lb = MemLink {
        inbox: Default::default(),
        outbox: Vec::new(),
        room: 100,
    };
    // a has an announcement queued; with room for one frame per pass it goes out one by one.
    let sa = a.udp_bind(Ipv4Addr::UNSPECIFIED, 1).unwrap();
    let sb = b.udp_bind(Ipv4Addr::UNSPECIFIED, 2).unwrap();
    a.udp_send_to(now, sa, (B, 2), b"over a link").unwrap();
    let mut t = now;
    for _ in 0..50 {
        la.room = 1;
        let (_, sent) = drive_once(&mut a, &mut la, IfaceId(0), t);
        assert!(sent <= 1, "back-pressure: at most one frame per pass");
        lb.inbox.extend(la.outbox.drain(..));
        drive_once(&mut b, &mut lb, IfaceId(0), t);
        la.inbox.extend(lb.outbox.drain(..));
        t = t + Duration::from_millis(10);
    }
    assert_eq!(b.udp_recv(sb).unwrap().unwrap().payload, b"over a link");
}

#[cfg(feature = "dhcp")]
#[test]
fn dhcp_release_returns_the_address_and_restart_gets_it_back() {
    // RFC 2131 §4.4.6: DHCPRELEASE unicast to the server; the address is no longer used.
    let (mut net, _s, c) = dhcp_lan(3600);
    net.run_for(Duration::from_secs(10));
    let lease = net
        .stack_ref(c)
        .dhcp_lease(IfaceId(0))
        .cloned()
        .expect("bound");
    assert_eq!(lease.server_id, Ipv4Addr::new(10, 0, 0, 1));
    let frames_before = net.frames().len();
    let now = net.now();
    assert_eq!(net.stack(c).dhcp_release(now, IfaceId(0)), Some(lease.addr));
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.stack_ref(c).iface_addr(IfaceId(0)), None);
    // A RELEASE (option 53 = 7) went out, from the leased address to the server.
    let release = net.frames()[frames_before..].iter().any(|(_, f)| {
        let Ok(e) = weft_wire::EthernetFrame::new_checked(&f[..]) else {
            return false;
        };
        let Ok(ip) = weft_wire::ipv4::Ipv4Packet::new_checked(e.payload()) else {
            return false;
        };
        let Ok(u) = weft_wire::udp::UdpPacket::new_checked(ip.payload()) else {
            return false;
        };
        let Ok(d) = weft_wire::dhcp::DhcpPacket::new_checked(u.payload()) else {
            return false;
        };
        let Ok(r) = weft_wire::dhcp::DhcpRepr::parse(&d) else {
            return false;
        };
        r.message_type == Some(weft_wire::dhcp::DhcpMessageType::Release)
            && ip.src() == lease.addr
            && ip.dst() == lease.server_id
    });
    assert!(
        release,
        "DHCPRELEASE sent from {} to {}",
        lease.addr, lease.server_id
    );
    let now = net.now();
    net.stack(c).dhcp_restart(now, IfaceId(0));
    net.run_for(Duration::from_secs(15));
    assert_eq!(
        net.stack_ref(c).iface_addr(IfaceId(0)),
        Some((lease.addr, 24)),
        "same address again"
    );
}

/// A link that keeps each frame with the metadata its transmit token was given.
#[derive(Default)]
struct MetaLink {
    sent: Vec<(weft_core::TxMeta, Vec<u8>)>,
}

struct MetaTx<'a>(&'a mut MetaLink);

impl weft_core::TxToken for MetaTx<'_> {
    fn consume<R>(self, len: usize, meta: weft_core::TxMeta, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.sent.push((meta, buf));
        r
    }
}

impl weft_core::Link for MetaLink {
    type Rx<'a> = MemRx;
    type Tx<'a> = MetaTx<'a>;
    fn receive(&mut self) -> Option<MemRx> {
        None
    }
    fn transmit(&mut self) -> Option<MetaTx<'_>> {
        Some(MetaTx(self))
    }
    fn max_frame_len(&self) -> usize {
        1514
    }
}

/// The metadata a test plants on a frame: derived from its bytes, so each frame's differs.
fn planted_meta(frame: &[u8]) -> weft_core::TxMeta {
    let sum = frame.iter().enumerate().fold(0u16, |s, (i, b)| {
        s.wrapping_mul(31).wrapping_add(u16::from(*b) ^ i as u16)
    });
    weft_core::TxMeta {
        checksum: weft_core::ChecksumState::Blank,
        segment_size: Some(sum),
    }
}

/// A stack at A with frames that differ queued: its announcement and ARP requests for two
/// addresses.
fn stack_with_frames_queued(now: Instant) -> weft_core::Stack {
    let mut a = weft_core::Stack::new(host(1, 1, A), now).unwrap();
    let s = a.udp_bind(Ipv4Addr::UNSPECIFIED, 1).unwrap();
    a.udp_send_to(now, s, (B, 2), b"one").unwrap();
    a.udp_send_to(now, s, (Ipv4Addr::new(10, 0, 0, 3), 2), b"two")
        .unwrap();
    a
}

#[test]
fn link_peek_transmit_reports_the_metadata_poll_transmit_returns() {
    let now = Instant::ZERO;
    let mut a = stack_with_frames_queued(now);
    assert!(
        a.peek_transmit(now, IfaceId(1)).is_none(),
        "no such interface"
    );
    let (len, meta) = a.peek_transmit(now, IfaceId(0)).expect("a frame");
    assert_eq!(meta, weft_core::TxMeta::default(), "software checksums");
    assert_eq!(a.peek_transmit_len(now, IfaceId(0)), Some(len));
    let planted = a.testkit_set_queued_meta(planted_meta);
    assert!(planted >= 3, "{planted} frames queued");
    let mut buf = [0u8; 1514];
    for _ in 0..planted {
        let (len, meta) = a.peek_transmit(now, IfaceId(0)).expect("a queued frame");
        let t = a.poll_transmit(now, &mut buf).expect("the frame peeked");
        assert_eq!((t.len, t.meta), (len, meta));
        assert_eq!(meta, planted_meta(&buf[..len]), "the frame's own metadata");
    }
    assert_eq!(a.peek_transmit(now, IfaceId(0)), None);
}

#[test]
fn link_drive_once_hands_each_frame_its_metadata() {
    use weft_core::link::drive_once;
    let now = Instant::ZERO;
    let mut a = stack_with_frames_queued(now);
    let _ = a.peek_transmit(now, IfaceId(0));
    let planted = a.testkit_set_queued_meta(planted_meta);
    let mut link = MetaLink::default();
    let (_, sent) = drive_once(&mut a, &mut link, IfaceId(0), now);
    assert_eq!(sent, planted);
    assert_eq!(link.sent.len(), planted);
    for (i, (m, _)) in link.sent.iter().enumerate() {
        assert!(
            link.sent[i + 1..].iter().all(|(other, _)| other != m),
            "frames with distinct metadata"
        );
    }
    for (meta, frame) in &link.sent {
        assert_eq!(
            *meta,
            planted_meta(frame),
            "the token got its frame's metadata"
        );
    }
}
