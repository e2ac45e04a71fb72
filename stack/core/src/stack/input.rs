//! The receive path: Ethernet → ARP | IPv4 (→ reassembly) → ICMP | UDP (→ DHCP client).

use super::Stack;
use crate::config::IfaceId;
use crate::link::{ChecksumState, RxMeta};
use crate::time::Instant;
use crate::udp::Deliver;
use weft_wire::arp::{ArpPacket, ArpRepr};
use weft_wire::ethernet::{EtherType, EthernetFrame};
use weft_wire::ipv4::{IpProtocol, Ipv4Packet};
use weft_wire::udp::{UdpChecksumVerdict, UdpPacket};
use weft_wire::{Ipv4Addr, MacAddr};

/// Facts about the frame that carried a datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkInfo {
    pub(crate) iface: IfaceId,
    #[cfg_attr(not(feature = "icmp"), allow(dead_code))]
    pub(crate) link_broadcast: bool,
    pub(crate) checksum: ChecksumState,
}

impl Stack {
    pub(super) fn input_frame(&mut self, now: Instant, iface: IfaceId, frame: &[u8], meta: RxMeta) {
        self.counters.ethernet.rx_frames += 1;
        let Some(ifc) = self.ifaces.get(usize::from(iface.0)) else {
            self.counters.ethernet.rx_no_such_iface += 1;
            return;
        };
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            self.counters.ethernet.rx_malformed += 1;
            return;
        };
        let dst = eth.dst();
        // Accept our MAC, broadcast and configured multicast groups; count the rest.
        let ours = dst == ifc.mac || dst == MacAddr::BROADCAST || ifc.multicast.contains(&dst);
        if !ours {
            self.counters.ethernet.rx_not_for_us += 1;
            return;
        }
        if eth.header_len() != weft_wire::ethernet::HEADER_LEN {
            self.counters.ethernet.rx_vlan_tagged += 1;
            return;
        }
        let payload = eth.payload();
        let link = LinkInfo {
            iface,
            link_broadcast: dst.is_multicast(),
            checksum: meta.checksum,
        };
        match eth.ethertype() {
            EtherType::ARP => self.input_arp(now, iface, payload),
            EtherType::IPV4 => self.input_ipv4(now, link, payload),
            _ => self.counters.ethernet.rx_unknown_ethertype += 1,
        }
    }

    fn input_arp(&mut self, now: Instant, iface: IfaceId, payload: &[u8]) {
        self.timers_dirty = true;
        let repr = ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p));
        let i = usize::from(iface.0);
        let Some(ifc) = self.ifaces.get_mut(i) else {
            return;
        };
        let Ok(repr) = repr else {
            ifc.arp.count_malformed();
            return;
        };
        let our_addr = ifc.addr.map(|(a, _)| a);
        let out = ifc.arp.handle_packet(now, &repr, our_addr);
        // RFC 5227 §2.4: another host uses our address. The event tells the application; a
        // DHCP lease is declined (RFC 2131 §3.1.5). A conflict found while probing reaches
        // the DHCP client through the probe result instead.
        #[allow(clippy::collapsible_if)] // collapsible only without the `dhcp` feature
        if let Some(conflict) = out.conflict {
            if let Some(addr) = our_addr {
                self.push_event(crate::event::Event::AddressConflict {
                    iface,
                    addr,
                    other: conflict,
                });
            }
            #[cfg(feature = "dhcp")]
            self.dhcp_conflict(now, iface);
        }
        if let Some(reply) = out.reply {
            self.send_arp(iface, &reply);
        }
        for (mac, datagram) in out.released {
            self.send_ethernet(iface, mac, EtherType::IPV4, &datagram);
        }
        self.drain_arp(now, iface);
    }

    fn input_ipv4(&mut self, now: Instant, link: LinkInfo, payload: &[u8]) {
        self.counters.ipv4.rx_datagrams += 1;
        let packet = match Ipv4Packet::new_checked(payload) {
            Ok(p) => p,
            Err(_) => {
                self.counters.ipv4.rx_malformed += 1;
                return;
            }
        };
        // RFC 1122 §3.2.1.2: a datagram with a bad header checksum MUST be silently discarded.
        if link.checksum == ChecksumState::Unknown && !packet.verify_checksum() {
            self.counters.ipv4.rx_bad_checksum += 1;
            return;
        }
        let dst = packet.dst();
        let iface_addr = self
            .ifaces
            .get(usize::from(link.iface.0))
            .and_then(|i| i.addr);
        // One of our addresses is never a broadcast (configuration and leases refuse that),
        // so the broadcast checks run only for datagrams not addressed to us by unicast.
        let unicast_to_us = self.routes.is_local(dst).is_some();
        let dst_broadcast = !unicast_to_us
            && (dst == Ipv4Addr::BROADCAST || self.routes.is_broadcast(link.iface, dst));
        let for_us = unicast_to_us
            || dst_broadcast
            // An interface still without an address accepts what DHCP sends it (RFC 2131
            // §4.1: the server may unicast to the offered address before it is configured).
            || (iface_addr.is_none() && packet.protocol() == IpProtocol::UDP);
        if !for_us {
            // RFC 1122 §3.3.1: a host does not forward.
            self.counters.ipv4.rx_not_for_us += 1;
            return;
        }
        if packet.more_frags() || packet.frag_offset_units() != 0 {
            self.timers_dirty = true;
            // RFC 791 §3.2: reassemble; the reassembler counts fragments and its drops.
            if let Ok(Some(whole)) = self
                .reassembly
                .insert(now, &packet, &mut self.counters.ipv4)
            {
                let protocol = whole.key.protocol;
                self.deliver_ipv4(
                    now,
                    link,
                    &whole.payload,
                    packet.src(),
                    dst,
                    protocol,
                    dst_broadcast,
                    whole.header.as_bytes(),
                );
            }
            return;
        }
        let whole = payload
            .get(..usize::from(packet.total_len()))
            .unwrap_or(payload);
        self.deliver_ipv4(
            now,
            link,
            packet.payload(),
            packet.src(),
            dst,
            packet.protocol(),
            dst_broadcast,
            whole,
        );
    }

    /// Hands a complete datagram's payload to its protocol. `offending` is the datagram as
    /// received (for quoting in an ICMP error).
    #[allow(clippy::too_many_arguments)]
    fn deliver_ipv4(
        &mut self,
        now: Instant,
        link: LinkInfo,
        payload: &[u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        dst_broadcast: bool,
        offending: &[u8],
    ) {
        match protocol {
            IpProtocol::UDP => {
                self.counters.ipv4.rx_delivered += 1;
                self.input_udp(now, link, payload, src, dst, dst_broadcast, offending);
            }
            IpProtocol::TCP => {
                self.counters.ipv4.rx_delivered += 1;
                self.input_tcp(now, link, payload, src, dst, dst_broadcast);
            }
            #[cfg(feature = "icmp")]
            IpProtocol::ICMP => {
                self.counters.ipv4.rx_delivered += 1;
                self.input_icmp(now, link, payload, src, dst, dst_broadcast);
            }
            _ => {
                self.counters.ipv4.rx_unknown_protocol += 1;
                // RFC 1122 §3.2.2.1: a host SHOULD send protocol unreachable (code 2).
                #[cfg(feature = "icmp")]
                self.output_icmp_error(now, link, offending, 3, 2, dst_broadcast);
            }
        }
        let _ = (dst_broadcast, offending);
    }

    #[allow(clippy::too_many_arguments)]
    fn input_udp(
        &mut self,
        now: Instant,
        link: LinkInfo,
        payload: &[u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        dst_broadcast: bool,
        offending: &[u8],
    ) {
        let Ok(p) = UdpPacket::new_checked(payload) else {
            self.udp.counters_mut().rx_malformed += 1;
            return;
        };
        // RFC 1122 §4.1.3.4: a datagram with a bad checksum MUST be silently discarded;
        // a zero checksum means none was sent (RFC 768).
        if link.checksum == ChecksumState::Unknown
            && let UdpChecksumVerdict::Bad { .. } = p.verify_checksum(src, dst)
        {
            self.udp.counters_mut().rx_bad_checksum += 1;
            return;
        }
        #[cfg(feature = "dhcp")]
        if p.dst_port() == 68 && p.src_port() == 67 && self.input_dhcp(now, link.iface, p.payload())
        {
            return;
        }
        match self
            .udp
            .deliver((src, p.src_port()), (dst, p.dst_port()), p.payload())
        {
            Deliver::Queued { socket, was_empty } => {
                if was_empty {
                    self.push_event(crate::event::Event::UdpReadable { socket });
                }
            }
            Deliver::QueueFull(_) => {}
            Deliver::NoSocket => {
                // RFC 1122 §4.1.3.1: SHOULD send port unreachable (rate-limited, and never
                // for broadcasts: RFC 1122 §3.2.2).
                #[cfg(feature = "icmp")]
                self.output_icmp_error(now, link, offending, 3, 3, dst_broadcast);
            }
        }
        let _ = (now, dst_broadcast, offending);
    }
}
