//! The DHCP client in the stack (RFC 2131): one `DhcpClient` per DHCP interface; its
//! messages go out as UDP 68 → 67, replies to port 68 come back to it, and its lease becomes
//! the interface's address (with RFC 5227 conflict detection by ARP probes before use).

use super::Stack;
use crate::arp::ProbeResult;
use crate::config::IfaceId;
use crate::dhcp::client::{ClientEvent, Lease};
use crate::event::Event;
use crate::time::{Duration, Instant};
use alloc::vec;
use weft_wire::Ipv4Addr;
use weft_wire::dhcp::{DhcpPacket, DhcpRepr};
use weft_wire::ipv4::IpProtocol;
use weft_wire::udp::UdpRepr;

/// RFC 2131 §4.1: clients send from port 68 to port 67.
const CLIENT_PORT: u16 = 68;
const SERVER_PORT: u16 = 67;

impl Stack {
    /// A DHCP message for port 68 on `iface`; returns true when the interface's client took it.
    pub(super) fn input_dhcp(&mut self, now: Instant, iface: IfaceId, payload: &[u8]) -> bool {
        self.timers_dirty = true;
        let i = usize::from(iface.0);
        if self.dhcp.get(i).is_none_or(|c| c.is_none()) {
            return false;
        }
        let event = match DhcpPacket::new_checked(payload)
            .and_then(|p| DhcpRepr::parse(&p).map(|r| (p.xid(), r)))
        {
            Ok((_, repr)) => self
                .dhcp
                .get_mut(i)
                .and_then(|c| c.as_mut())
                .and_then(|c| c.handle_message(now, &repr)),
            // Malformed: the client never saw it; counted as ignored by the stack.
            Err(_) => {
                self.counters.dhcp.rx_ignored += 1;
                None
            }
        };
        if let Some(e) = event {
            self.dhcp_event(now, iface, e);
        }
        self.drain_dhcp(now, iface);
        true
    }

    /// Runs the interface's DHCP client timers.
    pub(super) fn dhcp_timeout(&mut self, now: Instant, iface: IfaceId) {
        let event = self
            .dhcp
            .get_mut(usize::from(iface.0))
            .and_then(|c| c.as_mut())
            .and_then(|c| c.handle_timeout(now));
        if let Some(e) = event {
            self.dhcp_event(now, iface, e);
        }
        self.drain_dhcp(now, iface);
    }

    /// Another host answered for our address (RFC 5227 §2.4): the lease is declined.
    pub(super) fn dhcp_conflict(&mut self, now: Instant, iface: IfaceId) {
        let event = self
            .dhcp
            .get_mut(usize::from(iface.0))
            .and_then(|c| c.as_mut())
            .and_then(|c| c.address_checked(now, true));
        if let Some(e) = event {
            self.dhcp_event(now, iface, e);
        }
    }

    /// The RFC 5227 probe the client asked for finished: tell the client.
    pub(super) fn dhcp_probe_done(&mut self, now: Instant, iface: IfaceId, conflict: bool) {
        let event = self
            .dhcp
            .get_mut(usize::from(iface.0))
            .and_then(|c| c.as_mut())
            .and_then(|c| c.address_checked(now, conflict));
        if let Some(e) = event {
            self.dhcp_event(now, iface, e);
        }
        self.drain_dhcp(now, iface);
    }

    fn dhcp_event(&mut self, now: Instant, iface: IfaceId, e: ClientEvent) {
        match e {
            ClientEvent::CheckAddress { addr } => {
                // RFC 2131 §2.2 / RFC 5227 §2.1: probe before using the address.
                if let Some(ifc) = self.ifaces.get_mut(usize::from(iface.0)) {
                    ifc.arp
                        .start_probe(now, addr, self.rngs.get(crate::rng::Purpose::Arp));
                }
            }
            ClientEvent::Bound(lease) | ClientEvent::Renewed(lease) => {
                self.apply_lease(now, iface, &lease)
            }
            ClientEvent::Lost { addr, .. } => {
                self.end_grant(now, iface, addr);
                if let Some(ifc) = self.ifaces.get_mut(usize::from(iface.0)) {
                    ifc.addr = None;
                }
                let _ = self.routes.set_iface_addr(iface, None);
                self.push_event(Event::AddressDown { iface, addr });
            }
        }
    }

    /// The interface's lease of `addr` ended at `now` (expired, NAKed, declined after a
    /// conflict, released): its newest grant says so.
    fn end_grant(&mut self, now: Instant, iface: IfaceId, addr: Ipv4Addr) {
        if let Some(g) = self
            .dhcp_grants
            .iter_mut()
            .rev()
            .find(|g| g.iface == iface && g.addr == addr)
            && g.ended_at.is_none()
        {
            g.ended_at = Some(now);
        }
    }

    fn apply_lease(&mut self, now: Instant, iface: IfaceId, lease: &Lease) {
        if self.dhcp_grants.len() >= DHCP_GRANTS_KEPT {
            self.dhcp_grants.pop_front();
            self.dhcp_grants_dropped += 1;
        }
        self.dhcp_grants.push_back(DhcpGrant {
            iface,
            addr: lease.addr,
            acquired_at: lease.acquired_at,
            lease_time: lease.lease_time,
            ended_at: None,
        });
        let Some(ifc) = self.ifaces.get_mut(usize::from(iface.0)) else {
            return;
        };
        let new = Some((lease.addr, lease.prefix_len));
        let changed = ifc.addr != new;
        ifc.addr = new;
        if changed {
            // RFC 5227 §2.3: announce the address we now use.
            ifc.arp.announce(now, lease.addr);
        }
        let _ = self
            .routes
            .set_iface_addr(iface, Some((lease.addr, lease.prefix_len, lease.router)));
        if changed {
            self.push_event(Event::AddressUp {
                iface,
                addr: lease.addr,
                prefix_len: lease.prefix_len,
            });
        }
    }

    /// Sends every message the interface's client has ready.
    pub(super) fn drain_dhcp(&mut self, now: Instant, iface: IfaceId) {
        // The probe the client waits on may have finished.
        let probe = self.ifaces.get_mut(usize::from(iface.0)).and_then(|i| {
            let done = match i.arp.probe_result()? {
                (_, ProbeResult::InProgress) => return None,
                (_, ProbeResult::Clear) => false,
                (_, ProbeResult::Conflict(_)) => true,
            };
            i.arp.cancel_probe();
            Some(done)
        });
        if let Some(conflict) = probe {
            // The client moves on (and may start announcements): its deadlines change.
            self.timers_dirty = true;
            self.dhcp_probe_done(now, iface, conflict);
        }
        loop {
            let Some(out) = self
                .dhcp
                .get_mut(usize::from(iface.0))
                .and_then(|c| c.as_mut())
                .and_then(|c| c.poll_transmit(now))
            else {
                break;
            };
            // A message sent re-arms the client's retransmission timer (`poll_transmit`
            // changes no deadline when it returns `None`).
            self.timers_dirty = true;
            let mut msg = vec![0u8; out.message.buffer_len()];
            if out.message.emit(&mut msg).is_err() {
                continue;
            }
            let udp = UdpRepr {
                src_port: CLIENT_PORT,
                dst_port: SERVER_PORT,
                payload: &msg,
            };
            let mut seg = vec![0u8; udp.buffer_len()];
            if udp.emit(out.src, out.dst, &mut seg).is_err() {
                continue;
            }
            if out.dst == Ipv4Addr::BROADCAST {
                // RFC 2131 §4.1: broadcast on the client's own interface, before any route.
                let _ = self.output_ipv4(
                    now,
                    iface,
                    Ipv4Addr::BROADCAST,
                    out.src,
                    out.dst,
                    IpProtocol::UDP,
                    &seg,
                    false,
                );
            } else if let Some((ri, next_hop, _)) = self.route(out.dst) {
                let _ = self.output_ipv4(
                    now,
                    ri,
                    next_hop,
                    out.src,
                    out.dst,
                    IpProtocol::UDP,
                    &seg,
                    false,
                );
            }
        }
    }
}

/// Grants [`Stack::dhcp_grants`] keeps (the oldest go first).
pub const DHCP_GRANTS_KEPT: usize = 64;

/// A lease as granted: when the client bound or renewed it (RFC 2131 §4.4.1: from its
/// REQUEST's first transmission), for how long, and when it ended early if it did. A lease
/// runs until `acquired_at + lease_time` — or `ended_at`, if sooner — unless a later grant
/// extends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpGrant {
    /// The interface.
    pub iface: IfaceId,
    /// The address.
    pub addr: Ipv4Addr,
    /// When the REQUEST that obtained it was first sent.
    pub acquired_at: Instant,
    /// The lease's duration ([`Lease::INFINITE`] for an infinite lease).
    pub lease_time: Duration,
    /// When the client stopped holding it, if it did while this was its newest grant: at
    /// expiry, on a NAK, on declining it after an address conflict (RFC 5227 §2.4; the
    /// server may lease it again after its hold), or on a RELEASE (RFC 2131 §4.4.6).
    pub ended_at: Option<Instant>,
}

impl DhcpGrant {
    /// When the lease this grant made runs out: `acquired_at + lease_time`, or `ended_at` if
    /// sooner.
    pub fn until(&self) -> Instant {
        let end = self.acquired_at.saturating_add(self.lease_time);
        self.ended_at.map_or(end, |e| e.min(end))
    }
}

impl Stack {
    /// Every lease granted to this stack's DHCP clients — each binding and each renewal
    /// (RFC 2131 §4.4.5) — oldest first, and how many older ones were dropped to keep at most
    /// [`DHCP_GRANTS_KEPT`]. The current lease is [`Stack::dhcp_lease`]; this is its history
    /// (the simulator's oracle asks whether an address was still leased at some time).
    pub fn dhcp_grants(&self) -> (impl Iterator<Item = &DhcpGrant>, u64) {
        (self.dhcp_grants.iter(), self.dhcp_grants_dropped)
    }

    /// The interface's DHCP lease, if its client holds one (address, prefix, router, DNS
    /// servers, lease times).
    pub fn dhcp_lease(&self, iface: IfaceId) -> Option<&Lease> {
        self.dhcp.get(usize::from(iface.0))?.as_ref()?.lease()
    }

    /// Gives the interface's lease back (RFC 2131 §4.4.6): a DHCPRELEASE goes to the server
    /// from the leased address, then the address is removed (`AddressDown`) and the client
    /// stops until [`dhcp_restart`](Self::dhcp_restart). Call `poll_transmit` afterwards.
    /// Returns the released address.
    pub fn dhcp_release(&mut self, now: Instant, iface: IfaceId) -> Option<Ipv4Addr> {
        let lease = self
            .dhcp
            .get_mut(usize::from(iface.0))?
            .as_mut()?
            .release(now)?;
        self.end_grant(now, iface, lease.addr);
        // Send while the address and its route still exist.
        self.drain_dhcp(now, iface);
        if let Some(ifc) = self.ifaces.get_mut(usize::from(iface.0)) {
            ifc.addr = None;
        }
        let _ = self.routes.set_iface_addr(iface, None);
        self.push_event(Event::AddressDown {
            iface,
            addr: lease.addr,
        });
        self.refresh_all_timers();
        Some(lease.addr)
    }

    /// Starts the interface's DHCP client again from INIT (after a release, or to force a new
    /// lease).
    pub fn dhcp_restart(&mut self, now: Instant, iface: IfaceId) {
        if let Some(c) = self
            .dhcp
            .get_mut(usize::from(iface.0))
            .and_then(|c| c.as_mut())
        {
            c.restart(now);
        }
        self.refresh_all_timers();
    }
}
