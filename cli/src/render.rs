//! The one-line, tcpdump-like text form of a [`FrameReport`].
//!
//! Sequence numbers are printed relative to the connection's initial sequence numbers the way
//! tcpdump does without `-S` (see [`SeqTracker`]); `--absolute` prints them as carried.

use crate::model::{FrameReport, Layer, TcpOptionReport, Totals};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// tcpdump's relative sequence numbers (print-tcp.c): the first segment of a conversation
/// that carries ACK (or any SYN+ACK) records `seq` and `ack - 1` as the bases for its
/// direction (and, swapped, for the reverse); later segments print `seq - base`. Segments
/// without ACK print absolute numbers. Bounded: past `MAX_CONVERSATIONS` new conversations are
/// printed absolute (and counted in `untracked`).
/// An endpoint: IPv4 address and port.
type Endpoint = (u32, u16);

#[derive(Debug, Default)]
pub struct SeqTracker {
    /// (lower endpoint, higher endpoint) -> (seq base, ack base) as seen from the lower side.
    conversations: BTreeMap<(Endpoint, Endpoint), (u32, u32)>,
    /// Segments printed absolute because the table was full.
    pub untracked: usize,
}

const MAX_CONVERSATIONS: usize = 65_536;

impl SeqTracker {
    /// Returns (seq, ack) to print for a segment, and whether they are relative.
    pub fn relative(
        &mut self,
        src: (u32, u16),
        dst: (u32, u16),
        flags: u16,
        seq: u32,
        ack: u32,
    ) -> (u32, u32, bool) {
        const SYN: u16 = 0x002;
        const ACK: u16 = 0x010;
        if flags & ACK == 0 {
            return (seq, ack, false);
        }
        let reversed = src > dst;
        let key = if reversed { (dst, src) } else { (src, dst) };
        let as_seen = |(s, a): (u32, u32)| if reversed { (a, s) } else { (s, a) };
        match self.conversations.get(&key) {
            Some(&bases) if flags & SYN == 0 => {
                let (sb, ab) = as_seen(bases);
                (seq.wrapping_sub(sb), ack.wrapping_sub(ab), true)
            }
            _ => {
                if self.conversations.len() < MAX_CONVERSATIONS
                    || self.conversations.contains_key(&key)
                {
                    let bases = (seq, ack.wrapping_sub(1));
                    self.conversations.insert(key, as_seen(bases));
                } else {
                    self.untracked += 1;
                }
                (seq, ack, false)
            }
        }
    }
}

/// Formats nanoseconds since the epoch as `YYYY-MM-DD HH:MM:SS.ffffff` (UTC), microseconds or
/// nanoseconds.
pub fn format_timestamp(ns: u128, nano: bool) -> String {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem / 60) % 60, rem % 60);
    if nano {
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}.{frac:09}")
    } else {
        format!(
            "{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}.{:06}",
            frac / 1000
        )
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// tcpdump's text for one TCP option.
pub fn tcp_option_text(o: &TcpOptionReport) -> String {
    match o {
        TcpOptionReport::Eol => "eol".into(),
        TcpOptionReport::Nop => "nop".into(),
        TcpOptionReport::Mss { value } => format!("mss {value}"),
        TcpOptionReport::WindowScale { shift } => format!("wscale {shift}"),
        TcpOptionReport::SackPermitted => "sackOK".into(),
        TcpOptionReport::Sack { blocks } => {
            let mut s = format!("sack {}", blocks.len());
            for (l, r) in blocks {
                let _ = write!(s, " {{{l}:{r}}}");
            }
            s
        }
        TcpOptionReport::Timestamps { tsval, tsecr } => format!("TS val {tsval} ecr {tsecr}"),
        TcpOptionReport::Unknown { code, data } => {
            if data.is_empty() {
                format!("opt-{code}")
            } else {
                format!("opt-{code}:{data}")
            }
        }
    }
}

/// Options controlling the text form.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Print absolute sequence numbers (tcpdump -S).
    pub absolute: bool,
    /// Print nanosecond timestamps.
    pub nano: bool,
}

/// Renders one frame as a line.
pub fn render_line(f: &FrameReport, seq: &mut SeqTracker, opts: RenderOptions) -> String {
    let mut out = format!("{:5}  ", f.number);
    match f.timestamp_ns {
        Some(ns) => out.push_str(&format_timestamp(ns, opts.nano)),
        None => out.push_str("[invalid timestamp]"),
    }
    let mut ip: Option<(String, String, u32, u32)> = None;
    let mut parts: Vec<String> = Vec::new();
    let mut cksums: Vec<String> = Vec::new();
    for l in &f.layers {
        match l {
            Layer::Ethernet {
                src,
                dst,
                vlans,
                ethertype,
            } => {
                let mut s = format!("{src} > {dst}");
                for v in vlans {
                    let _ = write!(s, ", vlan {} p {}", v.vid, v.pcp);
                }
                let _ = write!(s, ", ethertype {ethertype:#06x}");
                parts.push(s);
            }
            Layer::LinuxSll {
                packet_type,
                protocol,
            } => parts.push(format!("SLL type {packet_type} proto {protocol:#06x}")),
            Layer::Loopback { family } => parts.push(format!("NULL af {family}")),
            Layer::Arp {
                operation,
                sender_mac,
                sender_ip,
                target_mac,
                target_ip,
            } => {
                parts.push(match operation {
                    1 => {
                        format!("ARP, Request who-has {target_ip} tell {sender_ip} ({sender_mac})")
                    }
                    2 => format!(
                        "ARP, Reply {sender_ip} is-at {sender_mac} (to {target_ip} {target_mac})"
                    ),
                    op => format!(
                        "ARP, op {op} {sender_ip} ({sender_mac}) > {target_ip} ({target_mac})"
                    ),
                });
            }
            Layer::Ipv4 {
                src,
                dst,
                ttl,
                ident,
                dont_frag,
                more_frags,
                frag_offset,
                total_len,
                options,
                checksum,
                protocol,
                ..
            } => {
                let mut s = format!("IP (ttl {ttl}, id {ident}");
                if *dont_frag {
                    s.push_str(", DF");
                }
                if *more_frags || *frag_offset != 0 {
                    let _ = write!(
                        s,
                        ", frag {frag_offset}{}",
                        if *more_frags { "+" } else { "" }
                    );
                }
                let _ = write!(s, ", proto {protocol}, length {total_len}");
                if !options.is_empty() {
                    let _ = write!(s, ", options [{}]", options.join(","));
                }
                s.push(')');
                parts.push(s);
                cksums.push(format!("ip cksum {}", checksum.verdict.text()));
                ip = Some((src.clone(), dst.clone(), 0, 0));
                if let Some(ipv) = ip.as_mut() {
                    ipv.2 = ipv4_u32(src);
                    ipv.3 = ipv4_u32(dst);
                }
            }
            Layer::Icmpv4 {
                summary, checksum, ..
            } => {
                let (s, d) = ip
                    .as_ref()
                    .map(|i| (i.0.as_str(), i.1.as_str()))
                    .unwrap_or(("?", "?"));
                parts.push(format!("{s} > {d}: ICMP {summary}"));
                cksums.push(format!("icmp cksum {}", checksum.verdict.text()));
            }
            Layer::Udp {
                src_port,
                dst_port,
                length,
                checksum,
                ..
            } => {
                let (s, d) = ip
                    .as_ref()
                    .map(|i| (i.0.as_str(), i.1.as_str()))
                    .unwrap_or(("?", "?"));
                parts.push(format!(
                    "{s}.{src_port} > {d}.{dst_port}: UDP, length {}",
                    length.saturating_sub(8)
                ));
                cksums.push(format!("udp cksum {}", checksum.verdict.text()));
            }
            Layer::Tcp {
                src_port,
                dst_port,
                seq: sq,
                ack,
                flags,
                flag_bits,
                window,
                urgent,
                options,
                payload_len,
                checksum,
                ..
            } => {
                let (s, d, sa, da) = ip.clone().unwrap_or(("?".into(), "?".into(), 0, 0));
                let (pseq, pack, _) = if opts.absolute {
                    (*sq, *ack, false)
                } else {
                    seq.relative((sa, *src_port), (da, *dst_port), *flag_bits, *sq, *ack)
                };
                let mut t = format!("{s}.{src_port} > {d}.{dst_port}: Flags [{flags}]");
                // tcpdump prints seq when the segment occupies sequence space or has data.
                if *payload_len > 0 || flag_bits & 0x007 != 0 {
                    if *payload_len > 0 {
                        let _ =
                            write!(t, ", seq {pseq}:{}", pseq.wrapping_add(*payload_len as u32));
                    } else {
                        let _ = write!(t, ", seq {pseq}");
                    }
                }
                if flag_bits & 0x010 != 0 {
                    let _ = write!(t, ", ack {pack}");
                }
                let _ = write!(t, ", win {window}");
                if flag_bits & 0x020 != 0 {
                    let _ = write!(t, ", urg {urgent}");
                }
                if !options.is_empty() {
                    let o: Vec<String> = options.iter().map(tcp_option_text).collect();
                    let _ = write!(t, ", options [{}]", o.join(","));
                }
                let _ = write!(t, ", length {payload_len}");
                parts.push(t);
                cksums.push(format!("tcp cksum {}", checksum.verdict.text()));
            }
            Layer::Dhcp {
                op,
                xid,
                message_type,
                yiaddr,
                chaddr,
                options,
                ..
            } => {
                let mt = message_type.as_deref().unwrap_or("BOOTP");
                let mut s =
                    format!("DHCP {mt} ({op}) xid {xid:#010x} chaddr {chaddr} yiaddr {yiaddr}");
                if !options.is_empty() {
                    let _ = write!(s, " [{}]", options.join(", "));
                }
                parts.push(s);
            }
        }
    }
    // Link-layer description first, then the rest joined.
    for p in &parts {
        out.push(' ');
        out.push_str(p);
        if !p.ends_with(')') && !p.ends_with(']') {
            // keep tcpdump's loose punctuation
        }
    }
    if !cksums.is_empty() {
        let _ = write!(out, " [{}]", cksums.join(", "));
    }
    if let Some(r) = &f.rejected {
        let _ = write!(out, " REJECTED {}: {}", r.reason, r.message);
    }
    for n in &f.notes {
        let _ = write!(out, " ({n})");
    }
    out
}

fn ipv4_u32(s: &str) -> u32 {
    s.parse::<std::net::Ipv4Addr>().map(u32::from).unwrap_or(0)
}

/// The totals line(s).
pub fn render_totals(t: &Totals) -> String {
    let protos: Vec<String> = t
        .protocols
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let mut s = format!("frames {}: {}", t.frames, protos.join(", "));
    let rejected: usize = t.rejected.values().sum();
    let _ = write!(s, "; rejected {rejected}");
    if rejected > 0 {
        let r: Vec<String> = t.rejected.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(s, " ({})", r.join(", "));
    }
    let bad: Vec<String> = t
        .checksums
        .iter()
        .filter(|(k, _)| k.ends_with(" bad"))
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if !bad.is_empty() {
        let _ = write!(s, "; checksums: {}", bad.join(", "));
    }
    if t.invalid_timestamps > 0 {
        let _ = write!(s, "; invalid timestamps {}", t.invalid_timestamps);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_timestamp_formatting() {
        // 2017-10-07 17:25:19.066204 UTC
        let ns = 1_507_397_119_066_204_000u128;
        assert_eq!(format_timestamp(ns, false), "2017-10-07 17:25:19.066204");
        assert_eq!(format_timestamp(0, true), "1970-01-01 00:00:00.000000000");
        // 2038-01-19 03:14:08 (2^31 seconds)
        assert_eq!(
            format_timestamp(2_147_483_648u128 * 1_000_000_000, false),
            "2038-01-19 03:14:08.000000"
        );
        assert_eq!(
            format_timestamp(951_782_400u128 * 1_000_000_000, false),
            "2000-02-29 00:00:00.000000"
        );
    }

    #[test]
    fn decode_relative_sequence_numbers_follow_tcpdump() {
        let mut t = SeqTracker::default();
        let c = (0x0a00_020f, 44188);
        let s = (0xc000_2f3b, 43);
        // SYN: absolute.
        assert_eq!(
            t.relative(c, s, 0x002, 2_239_453_442, 0),
            (2_239_453_442, 0, false)
        );
        // SYN-ACK: absolute, records bases.
        assert_eq!(
            t.relative(s, c, 0x012, 9_920_001, 2_239_453_443),
            (9_920_001, 2_239_453_443, false)
        );
        // ACK from client: ack 1 relative.
        assert_eq!(
            t.relative(c, s, 0x010, 2_239_453_443, 9_920_002),
            (1, 1, true)
        );
        // Server data: seq 1.
        assert_eq!(
            t.relative(s, c, 0x018, 9_920_002, 2_239_453_456),
            (1, 14, true)
        );
    }
}
