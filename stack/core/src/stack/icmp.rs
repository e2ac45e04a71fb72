//! ICMP in the stack: echo replies, errors we send (rate-limited, RFC 1122 §3.2.2) and errors
//! we receive, matched to the local UDP flow that caused them and delivered as events.

use super::Stack;
use super::input::LinkInfo;
use crate::event::{Event, IcmpErrorKind};
use crate::icmp::{is_unicast, may_send_error, quote};
use crate::link::ChecksumState;
use crate::time::Instant;
use crate::udp::UdpError;
use alloc::vec;
use weft_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr, QuotedDatagram};
use weft_wire::ipv4::{IpProtocol, Ipv4Packet};
use weft_wire::{ChecksumMode, Ipv4Addr};

impl Stack {
    pub(super) fn input_icmp(
        &mut self,
        now: Instant,
        link: LinkInfo,
        payload: &[u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        dst_broadcast: bool,
    ) {
        self.counters.icmp.rx_messages += 1;
        let mode = if link.checksum == ChecksumState::Unknown {
            ChecksumMode::Verify
        } else {
            ChecksumMode::Trust
        };
        let repr = Icmpv4Packet::new_checked(payload).and_then(|p| Icmpv4Repr::parse(&p, mode));
        let Ok(repr) = repr else {
            // RFC 1122 §3.2.2: bad ICMP checksums are silently discarded.
            self.counters.icmp.rx_malformed += 1;
            return;
        };
        match repr {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                // RFC 1122 §3.2.2.6: every host MUST answer echo requests; one addressed to a
                // broadcast MAY be ignored (we do, against smurf amplification).
                if dst_broadcast || !self.single_host(src) {
                    return;
                }
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                if self.send_icmp(now, dst, src, &reply).is_ok() {
                    self.counters.icmp.echo_replies_sent += 1;
                }
            }
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                self.push_event(Event::EchoReply {
                    from: src,
                    ident,
                    seq_no,
                });
            }
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                quoted,
                ..
            } => {
                let kind = if code.0 == 4 {
                    IcmpErrorKind::FragmentationNeeded { mtu: next_hop_mtu }
                } else {
                    IcmpErrorKind::Unreachable { code: code.0 }
                };
                self.deliver_icmp_error(src, kind, quoted);
            }
            Icmpv4Repr::TimeExceeded { code, quoted, .. } => {
                self.deliver_icmp_error(src, IcmpErrorKind::TimeExceeded { code: code.0 }, quoted);
            }
            Icmpv4Repr::ParameterProblem {
                pointer, quoted, ..
            } => {
                self.deliver_icmp_error(src, IcmpErrorKind::ParameterProblem { pointer }, quoted);
            }
            _ => {}
        }
    }

    /// RFC 1122 §3.2.2.1 / §4.1.3.3: an ICMP error is passed to the transport that sent the
    /// quoted datagram, found by its ports.
    fn deliver_icmp_error(&mut self, reporter: Ipv4Addr, kind: IcmpErrorKind, quoted: &[u8]) {
        let Ok(q) = QuotedDatagram::parse(quoted) else {
            self.counters.icmp.rx_malformed += 1;
            return;
        };
        let header = &q.header;
        let (src, dst, proto) = (header.src(), header.dst(), header.protocol());
        let socket = match (proto, q.ports()) {
            (IpProtocol::UDP, Some((sport, dport))) => {
                // Only a datagram we sent: its source must be one of our addresses.
                if self.routes.is_local(src).is_some() {
                    self.udp.lookup(src, sport).map(|s| (s, (dst, dport)))
                } else {
                    None
                }
            }
            (IpProtocol::TCP, Some((sport, dport))) => {
                if self.routes.is_local(src).is_some() {
                    let seq = q
                        .leading
                        .get(4..8)
                        .and_then(|b| <[u8; 4]>::try_from(b).ok())
                        .map(u32::from_be_bytes);
                    if let (Some(index), Some(seq)) =
                        (self.tcp.lookup((src, sport, dst, dport)), seq)
                    {
                        self.counters.icmp.errors_delivered += 1;
                        self.tcp_icmp_error(index, kind, seq, reporter);
                    } else {
                        self.counters.icmp.errors_unmatched += 1;
                    }
                } else {
                    self.counters.icmp.errors_unmatched += 1;
                }
                return;
            }
            _ => None,
        };
        match socket {
            Some((socket, remote)) => {
                self.counters.icmp.errors_delivered += 1;
                self.push_event(Event::UdpError {
                    socket,
                    remote,
                    kind,
                    reporter,
                });
            }
            None => self.counters.icmp.errors_unmatched += 1,
        }
    }

    /// Sends an ICMP error of `ty`/`code` about `offending` if RFC 1122 §3.2.2 allows it and
    /// the rate limiter has a token.
    pub(super) fn output_icmp_error(
        &mut self,
        now: Instant,
        link: LinkInfo,
        offending: &[u8],
        ty: u8,
        code: u8,
        dst_broadcast: bool,
    ) {
        let Ok(p) = Ipv4Packet::new_checked(offending) else {
            return;
        };
        if !may_send_error(&p, link.link_broadcast, dst_broadcast) || !self.single_host(p.src()) {
            return;
        }
        if !self.icmp_limiter.allow(now) {
            self.counters.icmp.errors_rate_limited += 1;
            return;
        }
        let quoted = quote(offending);
        let repr = match ty {
            3 => Icmpv4Repr::DstUnreachable {
                code: weft_wire::icmpv4::DstUnreachableCode(code),
                next_hop_mtu: 0,
                unused: 0,
                quoted,
            },
            _ => Icmpv4Repr::TimeExceeded {
                code: weft_wire::icmpv4::TimeExceededCode(code),
                unused: 0,
                quoted,
            },
        };
        // RFC 1122 §3.2.2: the error goes back to the offending datagram's source, from the
        // address it was sent to.
        if self.send_icmp(now, p.dst(), p.src(), &repr).is_ok() {
            self.counters.icmp.errors_sent += 1;
        }
    }

    /// RFC 1122 §3.2.2: no error (and no echo reply) goes to a source that "does not define a
    /// single host": zero, limited broadcast, multicast, or the directed broadcast of one of
    /// our networks (RFC 1122 §3.2.1.3 (c): never a valid source).
    fn single_host(&self, src: Ipv4Addr) -> bool {
        is_unicast(src)
            && !(0..self.ifaces.len()).any(|i| {
                self.routes
                    .is_broadcast(crate::config::IfaceId(i as u8), src)
            })
    }

    /// Sends an ICMP message from `src` (when it is ours; else the route's source) to `dst`.
    fn send_icmp(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        repr: &Icmpv4Repr<'_>,
    ) -> Result<(), UdpError> {
        let (iface, next_hop, route_src) = self.route(dst).ok_or(UdpError::NoRoute(dst))?;
        let src = if self.routes.is_local(src).is_some() {
            src
        } else {
            route_src
        };
        let mut msg = vec![0u8; repr.buffer_len()];
        repr.emit(&mut msg)
            .map_err(|_| UdpError::TooLarge { len: msg.len() })?;
        self.output_ipv4(
            now,
            iface,
            next_hop,
            src,
            dst,
            IpProtocol::ICMP,
            &msg,
            false,
        )
    }

    pub(super) fn output_echo(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        ident: u16,
        seq_no: u16,
        data: &[u8],
    ) -> Result<(), UdpError> {
        let repr = Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        };
        self.send_icmp(now, Ipv4Addr::UNSPECIFIED, dst, &repr)
    }
}

impl Stack {
    /// RFC 792 / RFC 1122 §3.3.2: "fragment reassembly time exceeded" (code 1) to the source
    /// of a datagram whose fragments did not all arrive (only when fragment zero did).
    pub(super) fn output_reassembly_timeout(&mut self, now: Instant, quote_bytes: &[u8]) {
        let Ok(p) = Ipv4Packet::new_quoted(quote_bytes) else {
            return;
        };
        if !self.single_host(p.src()) || p.dst().is_broadcast() || p.dst().is_multicast() {
            return;
        }
        if !self.icmp_limiter.allow(now) {
            self.counters.icmp.errors_rate_limited += 1;
            return;
        }
        let repr = Icmpv4Repr::TimeExceeded {
            code: weft_wire::icmpv4::TimeExceededCode(1),
            unused: 0,
            quoted: quote_bytes,
        };
        if self.send_icmp(now, p.dst(), p.src(), &repr).is_ok() {
            self.counters.icmp.errors_sent += 1;
        }
    }
}
