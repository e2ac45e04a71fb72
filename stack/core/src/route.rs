//! The host's routing table (RFC 1122 §3.3.1): on-link networks and default gateways of the
//! interfaces' current addresses, plus static routes; longest-prefix lookup with a fixed
//! tie-break; source-address choice; broadcast and local-address recognition.
//!
//! A host does not forward (RFC 1122 §3.3.1), so the table only answers "which interface and
//! which next hop for a datagram we originate". Routes, ports and source-address choice are
//! per host, not per link (DESIGN.md, "The core's surface").
//!
//! The table is compiled: whenever an address or route changes, the usable routes are
//! re-derived and sorted by (longest prefix first, lowest interface id, configuration order),
//! so a lookup returns the first entry that matches. A host has a handful of routes, so the
//! scan is short; its cost does not depend on traffic.

use crate::config::{ConfigError, IfaceId, Ipv4Config, Route, StackConfig};
use alloc::vec::Vec;
use weft_wire::Ipv4Addr;

/// An interface's current address (static, or a DHCP lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfaceAddr {
    /// The interface's address.
    pub addr: Ipv4Addr,
    /// On-link prefix length (0..=32).
    pub prefix_len: u8,
    /// Default gateway through this interface.
    pub gateway: Option<Ipv4Addr>,
}

impl IfaceAddr {
    /// The network mask of `prefix_len`.
    pub fn mask(&self) -> u32 {
        mask(self.prefix_len)
    }
    /// True when `dst` is on this interface's network.
    pub fn on_link(&self, dst: Ipv4Addr) -> bool {
        same_net(self.addr, dst, self.prefix_len)
    }
    /// The subnet-directed broadcast address (RFC 919 §7, RFC 922 §7: host part all ones);
    /// `None` for /31 (RFC 3021 §2.2: no broadcast) and /32.
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix_len <= 30).then(|| Ipv4Addr::from(u32::from(self.addr) | !self.mask()))
    }
}

/// Where a datagram to a destination goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteChoice {
    /// The outgoing interface.
    pub iface: IfaceId,
    /// The address to resolve on the link: the destination itself when it is on-link (or a
    /// broadcast or multicast), otherwise the gateway.
    pub next_hop: Ipv4Addr,
    /// The source address to use: the outgoing interface's address (RFC 1122 §3.3.4.3).
    pub src: Ipv4Addr,
}

/// Why a route or address change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The interface id is not one of the table's interfaces.
    #[error("interface {iface} does not exist: the table has {count} interfaces")]
    NoSuchInterface {
        /// The interface named.
        iface: u8,
        /// Interfaces in the table.
        count: usize,
    },
    /// A prefix length over 32.
    #[error("prefix length {prefix_len} for {addr} is over 32")]
    BadPrefix {
        /// The address or network.
        addr: Ipv4Addr,
        /// The prefix length.
        prefix_len: u8,
    },
}

/// Where a compiled entry came from; also its rank among entries of one prefix length and
/// interface (on-link first, then the interface's gateway, then static routes in
/// configuration order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    OnLink,
    Gateway,
    Static(usize),
}

/// One usable route, validated against the current addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    net: u32,
    prefix_len: u8,
    iface: IfaceId,
    origin: Origin,
    /// `None`: on-link, the next hop is the destination.
    via: Option<Ipv4Addr>,
    src: Ipv4Addr,
}

/// The host's routes.
///
/// Invariant: `compiled` holds exactly the usable routes for the current `addrs` and
/// `statics`, sorted by (prefix length descending, interface id, origin), so the first match
/// is the longest-prefix match with the documented tie-break.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// Current address per interface, indexed by `IfaceId`.
    addrs: Vec<Option<IfaceAddr>>,
    /// Static routes in configuration order.
    statics: Vec<Route>,
    compiled: Vec<Entry>,
    /// Per interface, with `addrs`: the subnet-directed broadcast address and the network's
    /// own address, when the prefix has them (see [`RouteTable::is_broadcast`]).
    directed: Vec<Option<(Ipv4Addr, Ipv4Addr)>>,
    /// Bumped by every change (an address set or removed, a route added): what was worked
    /// out from the table before (a connection's cached output path) is stale once it moved.
    generation: u64,
}

/// The mask of a prefix length (saturating at /32).
fn mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

fn same_net(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    (u32::from(a) ^ u32::from(b)) & mask(prefix_len) == 0
}

impl RouteTable {
    /// A table for `ifaces` interfaces with no addresses and no static routes.
    pub fn new(ifaces: usize) -> Self {
        RouteTable {
            addrs: alloc::vec![None; ifaces],
            statics: Vec::new(),
            compiled: Vec::new(),
            directed: alloc::vec![None; ifaces],
            generation: 0,
        }
    }

    /// The table of a configuration: each interface's static address (DHCP interfaces start
    /// without one) and the static routes. Call once when the stack is built.
    pub fn from_config(config: &StackConfig) -> Result<Self, ConfigError> {
        let mut table = RouteTable::new(config.interfaces.len());
        for (i, iface) in config.interfaces.iter().enumerate() {
            if let Ipv4Config::Static {
                addr,
                prefix_len,
                gateway,
            } = iface.ipv4
            {
                let id = IfaceId(u8::try_from(i).map_err(|_| ConfigError::TooManyInterfaces {
                    count: config.interfaces.len(),
                })?);
                table
                    .set_iface_addr(id, Some((addr, prefix_len, gateway)))
                    .map_err(|e| match e {
                        RouteError::BadPrefix { addr, prefix_len } => {
                            ConfigError::BadPrefix { addr, prefix_len }
                        }
                        RouteError::NoSuchInterface { count, .. } => {
                            ConfigError::TooManyInterfaces { count }
                        }
                    })?;
            }
        }
        for route in &config.routes {
            table.add_route(*route).map_err(|e| match e {
                RouteError::BadPrefix { addr, prefix_len } => {
                    ConfigError::BadPrefix { addr, prefix_len }
                }
                RouteError::NoSuchInterface { iface, count } => ConfigError::NoSuchInterface {
                    dest: route.dest,
                    prefix_len: route.prefix_len,
                    iface,
                    count,
                },
            })?;
        }
        Ok(table)
    }

    /// Number of interfaces.
    pub fn iface_count(&self) -> usize {
        self.addrs.len()
    }

    fn check_iface(&self, iface: IfaceId) -> Result<usize, RouteError> {
        let i = usize::from(iface.0);
        if i < self.addrs.len() {
            Ok(i)
        } else {
            Err(RouteError::NoSuchInterface {
                iface: iface.0,
                count: self.addrs.len(),
            })
        }
    }

    /// Sets (or, with `None`, removes) an interface's address, on-link prefix and optional
    /// gateway. Call whenever an address comes up or goes down (static configuration, a DHCP
    /// lease bound, renewed with a change, or lost).
    pub fn set_iface_addr(
        &mut self,
        iface: IfaceId,
        addr: Option<(Ipv4Addr, u8, Option<Ipv4Addr>)>,
    ) -> Result<(), RouteError> {
        let i = self.check_iface(iface)?;
        let value = match addr {
            Some((addr, prefix_len, _)) if prefix_len > 32 => {
                return Err(RouteError::BadPrefix { addr, prefix_len });
            }
            Some((addr, prefix_len, gateway)) => Some(IfaceAddr {
                addr,
                prefix_len,
                gateway,
            }),
            None => None,
        };
        if let Some(slot) = self.addrs.get_mut(i) {
            *slot = value;
        }
        self.compile();
        Ok(())
    }

    /// An interface's current address, if it has one.
    pub fn iface_addr(&self, iface: IfaceId) -> Option<IfaceAddr> {
        self.addrs.get(usize::from(iface.0)).copied().flatten()
    }

    /// Adds a static route after those already configured (configuration order is the last
    /// tie-break). The interface must exist; whether `via` is on-link is checked against the
    /// addresses current at lookup time, and a route whose gateway is not on-link (or whose
    /// interface has no address) is skipped until it is.
    pub fn add_route(&mut self, route: Route) -> Result<(), RouteError> {
        self.check_iface(route.iface)?;
        if route.prefix_len > 32 {
            return Err(RouteError::BadPrefix {
                addr: route.dest,
                prefix_len: route.prefix_len,
            });
        }
        self.statics.push(route);
        self.compile();
        Ok(())
    }

    /// The static routes, in configuration order.
    pub fn routes(&self) -> &[Route] {
        &self.statics
    }

    /// Changes with every change to the table (see [`RouteTable::lookup`]): a result
    /// computed from the table stays right while this is the same.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Re-derives the usable routes from the addresses and static routes.
    fn compile(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.directed = self
            .addrs
            .iter()
            .map(|a| {
                let a = a.as_ref()?;
                let bcast = a.broadcast()?;
                Some((bcast, Ipv4Addr::from(u32::from(a.addr) & a.mask())))
            })
            .collect();
        let mut out = Vec::new();
        for (i, a) in self.addrs.iter().enumerate() {
            let (Some(a), Ok(id)) = (a, u8::try_from(i)) else {
                continue;
            };
            let iface = IfaceId(id);
            // RFC 1122 §3.3.1.1: a destination on a connected network is sent to directly.
            out.push(Entry {
                net: u32::from(a.addr) & a.mask(),
                prefix_len: a.prefix_len,
                iface,
                origin: Origin::OnLink,
                via: None,
                src: a.addr,
            });
            // RFC 1122 §3.3.1.1: otherwise through a gateway, which must be on a connected
            // network; a gateway that is not on-link here is unusable and skipped.
            if let Some(gw) = a.gateway.filter(|gw| a.on_link(*gw)) {
                out.push(Entry {
                    net: 0,
                    prefix_len: 0,
                    iface,
                    origin: Origin::Gateway,
                    via: Some(gw),
                    src: a.addr,
                });
            }
        }
        for (n, r) in self.statics.iter().enumerate() {
            let Some(a) = self.iface_addr(r.iface) else {
                continue;
            };
            // RFC 1812 §5.2.4.3 / RFC 1122 §3.3.1.1: a next hop must be on a connected network
            // of the route's interface; otherwise the route is skipped.
            if r.via.is_some_and(|via| !a.on_link(via)) {
                continue;
            }
            out.push(Entry {
                net: u32::from(r.dest) & mask(r.prefix_len),
                prefix_len: r.prefix_len,
                iface: r.iface,
                origin: Origin::Static(n),
                via: r.via,
                src: a.addr,
            });
        }
        // RFC 1812 §5.2.4.3 "Longest Match": the most specific route wins; ties go to the
        // lowest interface id, then to on-link, gateway and static routes in that order.
        out.sort_by_key(|e| (core::cmp::Reverse(e.prefix_len), e.iface, e.origin));
        self.compiled = out;
    }

    /// Where to send a datagram for `dst`, or `None` when no route matches (the caller counts
    /// `tx_no_route`). Call for every datagram the host originates; check
    /// [`is_local`](Self::is_local) first, since a local destination needs no route.
    ///
    /// The limited broadcast 255.255.255.255 goes out on the lowest-numbered interface that
    /// has an address (RFC 1122 §3.3.6: it is never forwarded, so never sent to a gateway); a
    /// multicast destination (224.0.0.0/4, RFC 1112 §6.4) is sent directly on the interface
    /// its route picks. A datagram to be broadcast on one particular interface (DHCP without
    /// an address) does not need the table.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<RouteChoice> {
        if dst.is_broadcast() {
            return self.addrs.iter().enumerate().find_map(|(i, a)| {
                let a = a.as_ref()?;
                Some(RouteChoice {
                    iface: IfaceId(u8::try_from(i).ok()?),
                    next_hop: dst,
                    src: a.addr,
                })
            });
        }
        let d = u32::from(dst);
        let e = self
            .compiled
            .iter()
            .find(|e| d & mask(e.prefix_len) == e.net)?;
        let next_hop = match e.via {
            Some(via) if !dst.is_multicast() => via,
            _ => dst,
        };
        Some(RouteChoice {
            iface: e.iface,
            next_hop,
            src: e.src,
        })
    }

    /// The lowest-numbered interface that has `addr` as its address, or `None` when `addr`
    /// is not one of ours. Call on every received datagram (RFC 1122 §3.3.4.2: a host accepts
    /// a datagram for any of its addresses on any interface).
    pub fn is_local(&self, addr: Ipv4Addr) -> Option<IfaceId> {
        self.addrs
            .iter()
            .enumerate()
            .find_map(|(i, a)| (a.as_ref()?.addr == addr).then_some(IfaceId(u8::try_from(i).ok()?)))
    }

    /// True when `addr` is a broadcast address on `iface`: the limited broadcast
    /// 255.255.255.255, or the subnet-directed broadcast of the interface's network (host
    /// part all ones; RFC 1122 §3.2.1.3 (c), §3.3.6), or the obsolete all-zeros forms
    /// 0.0.0.0 and {network, 0} that RFC 1122 §3.3.6 says a host SHOULD recognise on input.
    /// /31 and /32 networks have no directed broadcast (RFC 3021 §2.2).
    pub fn is_broadcast(&self, iface: IfaceId, addr: Ipv4Addr) -> bool {
        if addr.is_broadcast() || addr.is_unspecified() {
            return true;
        }
        // (Worked out from the interface's address when it was set.)
        self.directed
            .get(usize::from(iface.0))
            .copied()
            .flatten()
            .is_some_and(|(bcast, network)| addr == bcast || addr == network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InterfaceConfig;
    use weft_wire::MacAddr;

    fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
        Ipv4Addr::new(a, b, c, d)
    }

    /// Two interfaces: 0 on 10.0.0.2/24 with gateway 10.0.0.1, 1 on 192.168.1.10/24.
    fn two_ifaces() -> RouteTable {
        let mut t = RouteTable::new(2);
        t.set_iface_addr(
            IfaceId(0),
            Some((ip(10, 0, 0, 2), 24, Some(ip(10, 0, 0, 1)))),
        )
        .unwrap();
        t.set_iface_addr(IfaceId(1), Some((ip(192, 168, 1, 10), 24, None)))
            .unwrap();
        t
    }

    #[test]
    fn ipv4_route_on_link_vs_gateway() {
        // RFC 1122 §3.3.1.1: on-link destinations are sent to directly, others to a gateway;
        // RFC 1122 §3.3.4.3: the source is the outgoing interface's address.
        let t = two_ifaces();
        assert_eq!(
            t.lookup(ip(10, 0, 0, 77)),
            Some(RouteChoice {
                iface: IfaceId(0),
                next_hop: ip(10, 0, 0, 77),
                src: ip(10, 0, 0, 2)
            })
        );
        assert_eq!(
            t.lookup(ip(8, 8, 8, 8)),
            Some(RouteChoice {
                iface: IfaceId(0),
                next_hop: ip(10, 0, 0, 1),
                src: ip(10, 0, 0, 2)
            })
        );
    }

    #[test]
    fn ipv4_route_two_interfaces_by_destination() {
        // RFC 1122 §3.3.4.2 (multihoming): each destination leaves through the interface whose
        // network holds it, with that interface's address as source (§3.3.4.3).
        let t = two_ifaces();
        let a = t.lookup(ip(192, 168, 1, 99)).unwrap();
        assert_eq!(
            (a.iface, a.next_hop, a.src),
            (IfaceId(1), ip(192, 168, 1, 99), ip(192, 168, 1, 10))
        );
        let b = t.lookup(ip(10, 0, 0, 99)).unwrap();
        assert_eq!((b.iface, b.src), (IfaceId(0), ip(10, 0, 0, 2)));
        assert_eq!(t.is_local(ip(192, 168, 1, 10)), Some(IfaceId(1)));
        assert_eq!(t.is_local(ip(10, 0, 0, 2)), Some(IfaceId(0)));
        assert_eq!(t.is_local(ip(10, 0, 0, 3)), None);
    }

    #[test]
    fn ipv4_route_longest_prefix_wins() {
        // RFC 1812 §5.2.4.3: the most specific matching route is chosen, whatever the order.
        let mut t = two_ifaces();
        t.add_route(Route {
            dest: ip(172, 16, 0, 0),
            prefix_len: 12,
            via: Some(ip(10, 0, 0, 254)),
            iface: IfaceId(0),
        })
        .unwrap();
        t.add_route(Route {
            dest: ip(172, 16, 5, 0),
            prefix_len: 24,
            via: Some(ip(192, 168, 1, 1)),
            iface: IfaceId(1),
        })
        .unwrap();
        let r = t.lookup(ip(172, 16, 5, 9)).unwrap();
        assert_eq!(
            (r.iface, r.next_hop, r.src),
            (IfaceId(1), ip(192, 168, 1, 1), ip(192, 168, 1, 10))
        );
        let r = t.lookup(ip(172, 17, 0, 1)).unwrap();
        assert_eq!((r.iface, r.next_hop), (IfaceId(0), ip(10, 0, 0, 254)));
        // Outside both: the default route through interface 0's gateway.
        assert_eq!(
            t.lookup(ip(172, 32, 0, 1)).unwrap().next_hop,
            ip(10, 0, 0, 1)
        );
        // A /32 host route beats the on-link /24.
        t.add_route(Route {
            dest: ip(192, 168, 1, 50),
            prefix_len: 32,
            via: Some(ip(192, 168, 1, 1)),
            iface: IfaceId(1),
        })
        .unwrap();
        assert_eq!(
            t.lookup(ip(192, 168, 1, 50)).unwrap().next_hop,
            ip(192, 168, 1, 1)
        );
        assert_eq!(
            t.lookup(ip(192, 168, 1, 51)).unwrap().next_hop,
            ip(192, 168, 1, 51)
        );
    }

    #[test]
    fn ipv4_route_default_route_and_tie_break() {
        // RFC 1122 §3.3.1.1: a default route (prefix 0) catches every off-link destination.
        // Equal prefixes tie-break by lowest interface id, then configuration order.
        let mut t = RouteTable::new(2);
        t.set_iface_addr(
            IfaceId(1),
            Some((ip(192, 168, 1, 10), 24, Some(ip(192, 168, 1, 1)))),
        )
        .unwrap();
        assert_eq!(t.lookup(ip(1, 2, 3, 4)).unwrap().iface, IfaceId(1));
        t.set_iface_addr(
            IfaceId(0),
            Some((ip(10, 0, 0, 2), 24, Some(ip(10, 0, 0, 1)))),
        )
        .unwrap();
        let r = t.lookup(ip(1, 2, 3, 4)).unwrap();
        assert_eq!(
            (r.iface, r.next_hop, r.src),
            (IfaceId(0), ip(10, 0, 0, 1), ip(10, 0, 0, 2))
        );
        // Two static defaults on one interface: the first configured wins.
        let mut s = RouteTable::new(1);
        s.set_iface_addr(IfaceId(0), Some((ip(10, 0, 0, 2), 24, None)))
            .unwrap();
        s.add_route(Route {
            dest: ip(0, 0, 0, 0),
            prefix_len: 0,
            via: Some(ip(10, 0, 0, 5)),
            iface: IfaceId(0),
        })
        .unwrap();
        s.add_route(Route {
            dest: ip(0, 0, 0, 0),
            prefix_len: 0,
            via: Some(ip(10, 0, 0, 6)),
            iface: IfaceId(0),
        })
        .unwrap();
        assert_eq!(s.lookup(ip(9, 9, 9, 9)).unwrap().next_hop, ip(10, 0, 0, 5));
    }

    #[test]
    fn ipv4_route_no_route() {
        // RFC 1122 §3.3.1.1: with no matching route and no default, the datagram has nowhere
        // to go (the stack reports no route); an interface without an address routes nothing.
        let mut t = RouteTable::new(2);
        assert_eq!(t.lookup(ip(10, 0, 0, 1)), None);
        assert_eq!(t.lookup(Ipv4Addr::BROADCAST), None);
        t.set_iface_addr(IfaceId(1), Some((ip(192, 168, 1, 10), 24, None)))
            .unwrap();
        assert_eq!(t.lookup(ip(10, 0, 0, 1)), None);
        assert!(t.lookup(ip(192, 168, 1, 1)).is_some());
        // A static route through an interface with no address is skipped.
        t.add_route(Route {
            dest: ip(10, 0, 0, 0),
            prefix_len: 8,
            via: None,
            iface: IfaceId(0),
        })
        .unwrap();
        assert_eq!(t.lookup(ip(10, 0, 0, 1)), None);
    }

    #[test]
    fn ipv4_route_static_via_must_be_on_link() {
        // RFC 1812 §5.2.4.3 / RFC 1122 §3.3.1.1: a next hop must be directly reachable; a route
        // whose gateway is off-link is skipped until an address makes it on-link (DHCP).
        let mut t = RouteTable::new(1);
        t.set_iface_addr(IfaceId(0), Some((ip(10, 0, 0, 2), 24, None)))
            .unwrap();
        t.add_route(Route {
            dest: ip(172, 16, 0, 0),
            prefix_len: 16,
            via: Some(ip(10, 1, 0, 1)),
            iface: IfaceId(0),
        })
        .unwrap();
        assert_eq!(t.lookup(ip(172, 16, 1, 1)), None);
        // The lease changes: now 10.1.0.1 is on-link and the route is usable.
        t.set_iface_addr(IfaceId(0), Some((ip(10, 1, 0, 7), 16, None)))
            .unwrap();
        let r = t.lookup(ip(172, 16, 1, 1)).unwrap();
        assert_eq!((r.next_hop, r.src), (ip(10, 1, 0, 1), ip(10, 1, 0, 7)));
        // The address goes away: nothing routes.
        t.set_iface_addr(IfaceId(0), None).unwrap();
        assert_eq!(t.lookup(ip(172, 16, 1, 1)), None);
        assert_eq!(t.is_local(ip(10, 1, 0, 7)), None);
        // An off-link interface gateway is skipped too.
        t.set_iface_addr(
            IfaceId(0),
            Some((ip(10, 0, 0, 2), 24, Some(ip(10, 9, 9, 9)))),
        )
        .unwrap();
        assert_eq!(t.lookup(ip(8, 8, 8, 8)), None);
    }

    #[test]
    fn ipv4_route_rejects_bad_prefix_and_interface() {
        // RFC 791 §3.1 / RFC 4632 §3.1: an IPv4 prefix is at most 32 bits long.
        let mut t = RouteTable::new(1);
        assert_eq!(
            t.set_iface_addr(IfaceId(0), Some((ip(10, 0, 0, 2), 33, None))),
            Err(RouteError::BadPrefix {
                addr: ip(10, 0, 0, 2),
                prefix_len: 33
            })
        );
        assert_eq!(
            t.add_route(Route {
                dest: ip(10, 0, 0, 0),
                prefix_len: 40,
                via: None,
                iface: IfaceId(0)
            }),
            Err(RouteError::BadPrefix {
                addr: ip(10, 0, 0, 0),
                prefix_len: 40
            })
        );
        assert_eq!(
            t.set_iface_addr(IfaceId(3), None),
            Err(RouteError::NoSuchInterface { iface: 3, count: 1 })
        );
        // Through a configuration: the same checks, as configuration errors.
        let mut cfg = StackConfig::new(1);
        cfg.add_interface(InterfaceConfig::ethernet(
            MacAddr([2, 0, 0, 0, 0, 1]),
            ip(10, 0, 0, 2),
            24,
        ));
        cfg.routes.push(Route {
            dest: ip(10, 0, 0, 0),
            prefix_len: 8,
            via: None,
            iface: IfaceId(2),
        });
        assert!(matches!(
            RouteTable::from_config(&cfg),
            Err(ConfigError::NoSuchInterface {
                iface: 2,
                count: 1,
                ..
            })
        ));
        cfg.routes.clear();
        let t = RouteTable::from_config(&cfg).unwrap();
        assert_eq!(t.lookup(ip(10, 0, 0, 9)).unwrap().src, ip(10, 0, 0, 2));
    }

    #[test]
    fn ipv4_route_broadcast_recognised() {
        // RFC 1122 §3.3.6 / RFC 919 §7: limited and subnet-directed broadcasts (and the
        // obsolete all-zeros forms) are recognised; /31 has no broadcast (RFC 3021 §2.2).
        let mut t = two_ifaces();
        assert!(t.is_broadcast(IfaceId(0), Ipv4Addr::BROADCAST));
        assert!(t.is_broadcast(IfaceId(0), ip(10, 0, 0, 255)));
        assert!(t.is_broadcast(IfaceId(0), ip(10, 0, 0, 0)));
        assert!(!t.is_broadcast(IfaceId(0), ip(10, 0, 0, 254)));
        // Interface 1's broadcast is not interface 0's.
        assert!(!t.is_broadcast(IfaceId(0), ip(192, 168, 1, 255)));
        assert!(t.is_broadcast(IfaceId(1), ip(192, 168, 1, 255)));
        // Limited broadcast goes out directly (never to the gateway), from the lowest
        // interface with an address; a directed broadcast follows its on-link route.
        let r = t.lookup(Ipv4Addr::BROADCAST).unwrap();
        assert_eq!(
            (r.iface, r.next_hop, r.src),
            (IfaceId(0), Ipv4Addr::BROADCAST, ip(10, 0, 0, 2))
        );
        let r = t.lookup(ip(192, 168, 1, 255)).unwrap();
        assert_eq!((r.iface, r.next_hop), (IfaceId(1), ip(192, 168, 1, 255)));
        // Multicast is sent directly, not to the gateway (RFC 1112 §6.4).
        assert_eq!(
            t.lookup(ip(224, 0, 0, 251)).unwrap().next_hop,
            ip(224, 0, 0, 251)
        );
        t.set_iface_addr(IfaceId(1), Some((ip(192, 168, 1, 10), 31, None)))
            .unwrap();
        assert!(!t.is_broadcast(IfaceId(1), ip(192, 168, 1, 11)));
        assert!(t.is_broadcast(IfaceId(1), Ipv4Addr::BROADCAST));
    }
}
