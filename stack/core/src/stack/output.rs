//! The send path: UDP/ICMP → IPv4 (route, source, fragment) → ARP resolution → Ethernet →
//! the bounded transmit queue.

use super::Stack;
use crate::config::IfaceId;
use crate::time::Instant;
use crate::udp::UdpError;
use alloc::vec;
use alloc::vec::Vec;
use weft_wire::arp::ArpRepr;
use weft_wire::ethernet::{EtherType, EthernetRepr, HEADER_LEN};
use weft_wire::ipv4::{IpProtocol, Ipv4Repr};
use weft_wire::udp::UdpRepr;
use weft_wire::{Ipv4Addr, MacAddr};

/// RFC 768: 65535 - 8 (UDP header) - 20 (IPv4 header).
const MAX_UDP_PAYLOAD: usize = 65_507;

impl Stack {
    /// Frames an Ethernet II payload to `dst` and queues it.
    pub(crate) fn send_ethernet(
        &mut self,
        iface: IfaceId,
        dst: MacAddr,
        ethertype: EtherType,
        payload: &[u8],
    ) {
        let Some(ifc) = self.ifaces.get(usize::from(iface.0)) else {
            return;
        };
        let repr = EthernetRepr {
            dst,
            src: ifc.mac,
            vlans: arrayvec::ArrayVec::new(),
            ethertype,
        };
        let mut frame = vec![0u8; HEADER_LEN + payload.len()];
        if repr.emit(&mut frame).is_err() {
            return;
        }
        if let Some(body) = frame.get_mut(HEADER_LEN..) {
            body.copy_from_slice(payload);
        }
        self.push_frame(iface, frame);
    }

    /// Sends an ARP packet: replies to their target, requests and announcements broadcast.
    pub(crate) fn send_arp(&mut self, iface: IfaceId, repr: &ArpRepr) {
        let mut buf = [0u8; 28];
        if repr.emit(&mut buf).is_err() {
            return;
        }
        let dst = if repr.operation == weft_wire::arp::ArpOperation::REPLY
            && repr.target_mac.is_unicast()
            && repr.target_mac != MacAddr::ZERO
        {
            repr.target_mac
        } else {
            MacAddr::BROADCAST
        };
        self.send_ethernet(iface, dst, EtherType::ARP, &buf);
    }

    /// Sends every ARP request the interface's cache has due. Only a request sent moves the
    /// cache's deadline (`ArpCache::poll_request` changes nothing when it returns `None`), so
    /// only then are the timers marked for a refresh.
    pub(crate) fn drain_arp(&mut self, now: Instant, iface: IfaceId) {
        loop {
            let Some(ifc) = self.ifaces.get_mut(usize::from(iface.0)) else {
                return;
            };
            let our = ifc.addr.map(|(a, _)| a);
            let Some(req) = ifc.arp.poll_request(now, our) else {
                break;
            };
            self.timers_dirty = true;
            self.send_arp(iface, &req);
        }
    }

    /// Work that becomes frames only when the caller is ready to send: ARP requests and DHCP
    /// client messages. The ARP, DHCP and reassembly deadlines are refreshed only when
    /// something marked them dirty (a request or message sent here, or an earlier call that
    /// changed one of their owners).
    pub(super) fn generate_pending(&mut self, now: Instant) {
        self.flush_tcp(now);
        for i in 0..self.ifaces.len() {
            let id = IfaceId(u8::try_from(i).unwrap_or(u8::MAX));
            self.drain_arp(now, id);
            #[cfg(feature = "dhcp")]
            self.drain_dhcp(now, id);
        }
        if self.timers_dirty {
            self.refresh_all_timers();
        }
    }

    /// Sends a complete IPv4 datagram to `next_hop` on `iface`: broadcast addresses go to
    /// the Ethernet broadcast; otherwise the ARP cache resolves the next hop, holding the
    /// datagram (bounded) while it asks.
    pub(crate) fn link_output(
        &mut self,
        now: Instant,
        iface: IfaceId,
        next_hop: Ipv4Addr,
        datagram: Vec<u8>,
    ) {
        let broadcast =
            next_hop == Ipv4Addr::BROADCAST || self.routes.is_broadcast(iface, next_hop);
        if broadcast {
            self.send_ethernet(iface, MacAddr::BROADCAST, EtherType::IPV4, &datagram);
            return;
        }
        if next_hop.is_multicast() {
            // RFC 1112 §6.4: a host group address is not resolved; it maps to the Ethernet
            // multicast address 01-00-5E-00-00-00 plus its low-order 23 bits.
            let o = next_hop.octets();
            let mac = MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]);
            self.send_ethernet(iface, mac, EtherType::IPV4, &datagram);
            return;
        }
        let Some(ifc) = self.ifaces.get_mut(usize::from(iface.0)) else {
            return;
        };
        match ifc.arp.lookup(now, next_hop) {
            Some(mac) => self.send_ethernet(iface, mac, EtherType::IPV4, &datagram),
            None => match ifc.arp.enqueue(now, next_hop, datagram) {
                crate::arp::EnqueueResult::Resolved { mac, packet } => {
                    self.send_ethernet(iface, mac, EtherType::IPV4, &packet);
                }
                // Queued (a request goes out below) or dropped and counted by the cache. A
                // new resolution is a new ARP deadline even if its request cannot go out yet.
                _ => {
                    self.timers_dirty = true;
                    self.drain_arp(now, iface);
                }
            },
        }
    }

    /// Routes, builds and (when larger than the MTU and DF is clear) fragments a datagram
    /// (RFC 791 §3.2), then hands each piece to `link_output`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn output_ipv4(
        &mut self,
        now: Instant,
        iface: IfaceId,
        next_hop: Ipv4Addr,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload: &[u8],
        dont_frag: bool,
    ) -> Result<(), UdpError> {
        self.output_ipv4_dscp(
            now, iface, next_hop, src, dst, protocol, payload, dont_frag, 0,
        )
    }

    /// [`Stack::output_ipv4`] with a Diffserv code point (RFC 2474) in the header.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn output_ipv4_dscp(
        &mut self,
        now: Instant,
        iface: IfaceId,
        next_hop: Ipv4Addr,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload: &[u8],
        dont_frag: bool,
        dscp: u8,
    ) -> Result<(), UdpError> {
        let mtu = self.ifaces.get(usize::from(iface.0)).map_or(576, |i| i.mtu);
        let ident = self.next_ident;
        self.next_ident = self.next_ident.wrapping_add(1);
        let repr = Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: self.ttl,
            dscp: dscp & 0x3f,
            ecn: 0,
            ident,
            reserved_flag: false,
            dont_frag,
            more_frags: false,
            frag_offset_units: 0,
            options: arrayvec::ArrayVec::new(),
            options_padding: &[],
            payload_len: payload.len(),
        };
        let total = repr.buffer_len();
        if total <= usize::from(mtu) {
            let mut d = vec![0u8; total];
            if repr.emit(&mut d).is_err() {
                return Err(UdpError::TooLarge { len: payload.len() });
            }
            if let Some(body) = d.get_mut(repr.header_len()..) {
                body.copy_from_slice(payload);
            }
            self.counters.ipv4.tx_datagrams += 1;
            self.link_output(now, iface, next_hop, d);
            return Ok(());
        }
        if dont_frag {
            self.counters.ipv4.tx_too_big += 1;
            return Err(UdpError::NeedsFragmentation { len: total, mtu });
        }
        let mut pieces = crate::fragment::fragment(&repr, payload, mtu)
            .map_err(|_| UdpError::NeedsFragmentation { len: total, mtu })?;
        self.counters.ipv4.tx_datagrams += 1;
        while let Some(len) = pieces.next_len() {
            let mut d = vec![0u8; len];
            match pieces.emit_next(&mut d) {
                Some(Ok(n)) => d.truncate(n),
                _ => return Err(UdpError::NeedsFragmentation { len: total, mtu }),
            }
            self.counters.ipv4.tx_fragments += 1;
            self.link_output(now, iface, next_hop, d);
        }
        Ok(())
    }

    /// Routes to `dst`: (interface, next hop, source address).
    pub(crate) fn route(&self, dst: Ipv4Addr) -> Option<(IfaceId, Ipv4Addr, Ipv4Addr)> {
        // RFC 1122 §3.2.1.3 (a): 0.0.0.0 is never a destination.
        if dst.is_unspecified() {
            return None;
        }
        self.routes
            .lookup(dst)
            .map(|c| (c.iface, c.next_hop, c.src))
    }

    pub(super) fn output_udp(
        &mut self,
        now: Instant,
        socket: crate::event::UdpSocketId,
        dst: (Ipv4Addr, u16),
        payload: &[u8],
    ) -> Result<(), UdpError> {
        let (local_addr, local_port) = self
            .udp
            .local(socket)
            .ok_or(UdpError::NoSuchSocket(socket))?;
        if payload.len() > MAX_UDP_PAYLOAD {
            return Err(UdpError::TooLarge { len: payload.len() });
        }
        let (iface, next_hop, src) = if dst.0 == Ipv4Addr::BROADCAST {
            // Limited broadcast goes out of the first interface (DHCP uses it before any
            // address exists; RFC 1122 §3.3.6).
            let iface = IfaceId(0);
            let src = self
                .iface_addr(iface)
                .map_or(Ipv4Addr::UNSPECIFIED, |(a, _)| a);
            (iface, Ipv4Addr::BROADCAST, src)
        } else {
            match self.route(dst.0) {
                Some(r) => r,
                None => {
                    self.counters.ipv4.tx_no_route += 1;
                    return Err(UdpError::NoRoute(dst.0));
                }
            }
        };
        // RFC 1122 §4.1.3.5: a socket bound to a specific address sends from it, when it is
        // one of ours: a bound multicast or broadcast address, or one no longer ours, is
        // never a source (RFC 1122 §3.2.1.3), so the route's is used instead.
        let src = if self.routes.is_local(local_addr).is_some() {
            local_addr
        } else {
            src
        };
        let repr = UdpRepr {
            src_port: local_port,
            dst_port: dst.1,
            payload,
        };
        let mut seg = vec![0u8; repr.buffer_len()];
        repr.emit(src, dst.0, &mut seg)
            .map_err(|_| UdpError::TooLarge { len: payload.len() })?;
        self.udp.counters_mut().tx_datagrams += 1;
        self.output_ipv4(
            now,
            iface,
            next_hop,
            src,
            dst.0,
            IpProtocol::UDP,
            &seg,
            false,
        )
    }
}
