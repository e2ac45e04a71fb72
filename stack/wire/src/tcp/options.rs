//! TCP options (RFC 9293 §3.1 "Options", §3.2): their kinds, one checked pass over an option
//! area, an iterator that cannot fail over a checked area, and emission.
//!
//! Typed options: End of Option List, No-Operation, Maximum Segment Size (RFC 9293 §3.7.1),
//! Window Scale and Timestamps (RFC 7323 §2, §3), SACK-Permitted and SACK (RFC 2018 §2, §3).
//! Every other kind is kept as [`TcpOption::Unknown`] with its bytes: TCP MD5 (19, RFC 2385),
//! TCP-AO (29, RFC 5925), MPTCP (30, RFC 8684), Fast Open (34, RFC 7413), AccECN (172/174,
//! RFC 9768) and the shared experimental kinds 253/254 (RFC 4727, with the RFC 6994
//! experiment identifier, which is how early Fast Open and AccECN deployments sent theirs).
//!
//! Bytes after End of Option List are padding (RFC 9293 §3.1: the header beyond End of Option
//! List is padding, and padding is zeros). They are not parsed as options, but they are kept
//! exactly, zero or not, as the *trailer*, so that a parsed segment re-emits byte for byte.

use super::TcpError;
use crate::{EmitError, be16, be32, put16, put32};
use arrayvec::ArrayVec;

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod kind {
    /// End of Option List (RFC 9293 §3.1).
    pub const END_OF_LIST: u8 = 0;
    /// No-Operation (RFC 9293 §3.1).
    pub const NOP: u8 = 1;
    /// Maximum Segment Size (RFC 9293 §3.7.1).
    pub const MSS: u8 = 2;
    /// Window Scale (RFC 7323 §2.2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK-Permitted (RFC 2018 §2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK (RFC 2018 §3).
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323 §3.2).
    pub const TIMESTAMPS: u8 = 8;
    /// TCP MD5 signature (RFC 2385).
    pub const MD5: u8 = 19;
    /// TCP Authentication Option (RFC 5925).
    pub const TCP_AO: u8 = 29;
    /// Multipath TCP (RFC 8684).
    pub const MPTCP: u8 = 30;
    /// TCP Fast Open cookie (RFC 7413).
    pub const FAST_OPEN: u8 = 34;
    /// AccECN order 0 (RFC 9768).
    pub const ACCECN0: u8 = 172;
    /// AccECN order 1 (RFC 9768).
    pub const ACCECN1: u8 = 174;
    /// Shared experimental kind 1 (RFC 4727; ExID per RFC 6994).
    pub const EXPERIMENT1: u8 = 253;
    /// Shared experimental kind 2 (RFC 4727; ExID per RFC 6994).
    pub const EXPERIMENT2: u8 = 254;
}

/// The largest option area: a 60-byte header less the 20 fixed bytes (RFC 9293 §3.1).
pub const MAX_OPTIONS_LEN: usize = 40;

/// An ordered option list, as long as the option area can hold (40 one-byte options).
pub type TcpOptionList<'a> = ArrayVec<TcpOption<'a>, MAX_OPTIONS_LEN>;

/// One TCP option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of Option List (kind 0): what follows is padding.
    EndOfList,
    /// No-Operation (kind 1), used to align later options.
    Nop,
    /// Maximum Segment Size (kind 2, length 4).
    Mss(u16),
    /// Window Scale shift count (kind 3, length 3). Values above 14 are kept as sent; RFC 7323
    /// §2.3 has the receiver use 14 instead.
    WindowScale(u8),
    /// SACK-Permitted (kind 4, length 2).
    SackPermitted,
    /// SACK blocks as (left edge, right edge) pairs (kind 5, length 2 + 8n, n in 1..=4).
    Sack(ArrayVec<(u32, u32), 4>),
    /// Timestamps (kind 8, length 10).
    Timestamps {
        /// TSval: the sender's timestamp clock.
        tsval: u32,
        /// TSecr: the echoed TSval.
        tsecr: u32,
    },
    /// Any other kind, kept with the bytes after its kind and length bytes.
    Unknown {
        /// The option kind.
        kind: u8,
        /// The option data (length byte excluded); at most 38 bytes.
        data: &'a [u8],
    },
}

impl TcpOption<'_> {
    /// The option kind byte.
    pub fn kind(&self) -> u8 {
        match self {
            TcpOption::EndOfList => kind::END_OF_LIST,
            TcpOption::Nop => kind::NOP,
            TcpOption::Mss(_) => kind::MSS,
            TcpOption::WindowScale(_) => kind::WINDOW_SCALE,
            TcpOption::SackPermitted => kind::SACK_PERMITTED,
            TcpOption::Sack(_) => kind::SACK,
            TcpOption::Timestamps { .. } => kind::TIMESTAMPS,
            TcpOption::Unknown { kind, .. } => *kind,
        }
    }

    /// Bytes the option occupies on the wire.
    pub fn encoded_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// The RFC 6994 16-bit experiment identifier of a shared experimental option (kinds 253
    /// and 254): 0xf989 is Fast Open before RFC 7413, 0xacc0/0xacc1 early AccECN.
    pub fn experiment_id(&self) -> Option<u16> {
        match self {
            TcpOption::Unknown { kind, data }
                if *kind == kind::EXPERIMENT1 || *kind == kind::EXPERIMENT2 =>
            {
                be16(data, 0)
            }
            _ => None,
        }
    }

    /// Checks that the option can be written so that it parses back to itself.
    fn check_encodable(&self) -> Result<(), EmitError> {
        match self {
            TcpOption::Sack(blocks) if blocks.is_empty() => Err(EmitError::Unencodable {
                field: "options",
                reason: "a SACK option needs 1 to 4 blocks (RFC 2018 §3)",
            }),
            TcpOption::Unknown { kind, .. } if is_typed(*kind) => Err(EmitError::Unencodable {
                field: "options",
                reason: "Unknown option with a kind this module types (0, 1, 2, 3, 4, 5, 8)",
            }),
            TcpOption::Unknown { data, .. } if data.len() > MAX_OPTIONS_LEN - 2 => {
                Err(EmitError::Unencodable {
                    field: "options",
                    reason: "option data longer than 38 bytes",
                })
            }
            _ => Ok(()),
        }
    }

    /// Writes the option at the start of `out` (which holds at least `encoded_len` bytes).
    fn write(&self, out: &mut [u8]) {
        let k = self.kind();
        if let Some(b) = out.first_mut() {
            *b = k;
        }
        let len = self.encoded_len();
        if len >= 2
            && let Some(b) = out.get_mut(1)
        {
            // encoded_len <= 40 after check_encodable.
            *b = len as u8;
        }
        match self {
            TcpOption::EndOfList | TcpOption::Nop | TcpOption::SackPermitted => {}
            TcpOption::Mss(v) => put16(out, 2, *v),
            TcpOption::WindowScale(s) => {
                if let Some(b) = out.get_mut(2) {
                    *b = *s;
                }
            }
            TcpOption::Sack(blocks) => {
                for (i, (l, r)) in blocks.iter().enumerate() {
                    put32(out, 2 + 8 * i, *l);
                    put32(out, 6 + 8 * i, *r);
                }
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                put32(out, 2, *tsval);
                put32(out, 6, *tsecr);
            }
            TcpOption::Unknown { data, .. } => {
                if let Some(d) = out.get_mut(2..2 + data.len()) {
                    d.copy_from_slice(data);
                }
            }
        }
    }
}

/// Kinds that always parse as a typed option (never as `Unknown`).
fn is_typed(k: u8) -> bool {
    matches!(
        k,
        kind::END_OF_LIST
            | kind::NOP
            | kind::MSS
            | kind::WINDOW_SCALE
            | kind::SACK_PERMITTED
            | kind::SACK
            | kind::TIMESTAMPS
    )
}

/// The name of a fixed-length kind and the lengths it allows, for error messages.
pub(crate) fn fixed_length_rule(k: u8) -> (&'static str, &'static str) {
    match k {
        kind::MSS => ("MSS", "4"),
        kind::WINDOW_SCALE => ("window scale", "3"),
        kind::SACK_PERMITTED => ("SACK-permitted", "2"),
        kind::TIMESTAMPS => ("timestamps", "10"),
        kind::SACK => ("SACK", "10, 18, 26 or 34"),
        _ => ("unknown", "at least 2"),
    }
}

/// One checked pass over an option area (RFC 9293 §3.1 MUST-7: cope with an illegal option
/// length, here by a typed error rather than a read past the area). `base` is the offset of
/// `opts` within whatever the caller reports offsets against (20 for a TCP header).
///
/// RFC 9293 §3.1 and §3.2: every option other than End of Option List and No-Operation has a
/// length byte counting kind and length, so it is at least 2 and must end inside the option
/// area; the options this module types have fixed lengths (RFC 9293 §3.7.1, RFC 7323 §2.2,
/// §3.2, RFC 2018 §2, §3).
#[inline]
pub(crate) fn validate(opts: &[u8], base: usize) -> Result<(), TcpError> {
    // Skip a prefix whose layout is fixed and valid as it stands: NOP, NOP, Timestamps on
    // nearly every segment of a connection with timestamps (RFC 7323 Appendix A), and MSS,
    // SACK-permitted, Timestamps opening a Linux SYN or SYN-ACK.
    if opts.len() == 12 && opts.first_chunk::<4>() == Some(&[kind::NOP, kind::NOP, 8, 10]) {
        return Ok(());
    }
    let start = match opts.first_chunk::<8>() {
        Some(&[kind::NOP, kind::NOP, kind::TIMESTAMPS, 10, ..]) if opts.len() >= 12 => 12,
        Some(
            &[
                kind::MSS,
                4,
                _,
                _,
                kind::SACK_PERMITTED,
                2,
                kind::TIMESTAMPS,
                10,
            ],
        ) if opts.len() >= 16 => 16,
        _ => 0,
    };
    validate_from(opts, start, base)
}

/// Length rule per kind for [`validate_from`]: 0 any length >= 2, 1 the SACK rule, otherwise
/// the one allowed length. (Built at compile time: an out-of-range index would fail the
/// build, not panic at run time.)
#[allow(clippy::indexing_slicing)]
const LEN_RULE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[kind::MSS as usize] = 4;
    t[kind::WINDOW_SCALE as usize] = 3;
    t[kind::SACK_PERMITTED as usize] = 2;
    t[kind::TIMESTAMPS as usize] = 10;
    t[kind::SACK as usize] = 1;
    t
};

/// The general pass of [`validate`], from `start` (an option boundary).
#[inline]
fn validate_from(opts: &[u8], start: usize, base: usize) -> Result<(), TcpError> {
    let mut i = start;
    while let Some(&k) = opts.get(i) {
        if k <= kind::NOP {
            if k == kind::END_OF_LIST {
                return Ok(());
            }
            i += 1;
            continue;
        }
        let Some(&len) = opts.get(i + 1) else {
            return Err(TcpError::OptionTruncated {
                offset: base + i,
                kind: k,
            });
        };
        let rule = LEN_RULE.get(usize::from(k)).copied().unwrap_or(0);
        let fits = match rule {
            0 => len >= 2,
            // RFC 2018 §3: "a SACK option that specifies n blocks will have a length of
            // 8*n+2 bytes", and 40 bytes of options hold at most 4 blocks.
            1 => matches!(len, 10 | 18 | 26 | 34),
            exact => len == exact,
        };
        let available = opts.len() - i;
        if !fits || usize::from(len) > available {
            return Err(option_error(k, len, base + i, available));
        }
        i += usize::from(len);
    }
    Ok(())
}

/// The error for an option that failed [`validate_from`]'s checks, in order of precedence:
/// length below 2, wrong fixed length, overrun.
#[cold]
fn option_error(k: u8, len: u8, offset: usize, available: usize) -> TcpError {
    if len < 2 {
        TcpError::OptionLengthTooSmall {
            offset,
            kind: k,
            len,
        }
    } else if !fixed_len_ok(k, len) {
        TcpError::OptionBadLength {
            offset,
            kind: k,
            len,
        }
    } else {
        TcpError::OptionOverrun {
            offset,
            kind: k,
            len,
            available,
        }
    }
}

/// True if `len` (at least 2) is allowed for kind `k`.
fn fixed_len_ok(k: u8, len: u8) -> bool {
    match LEN_RULE.get(usize::from(k)).copied().unwrap_or(0) {
        0 => true,
        1 => matches!(len, 10 | 18 | 26 | 34),
        exact => len == exact,
    }
}

/// Iterator over a checked option area, in wire order. It stops after End of Option List;
/// [`TcpOptionIter::trailer`] then gives the bytes after it.
///
/// Only built over bytes that `TcpPacket::new_checked` or [`parse_options`] validated, so it
/// has no error to report.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
    ended: bool,
}

impl<'a> TcpOptionIter<'a> {
    /// Iterates over `opts`, which must have passed [`validate`].
    #[inline]
    pub(crate) fn new(opts: &'a [u8]) -> Self {
        TcpOptionIter {
            rest: opts,
            ended: false,
        }
    }

    /// The bytes after End of Option List, once the iterator has returned it (empty before,
    /// and when the list has no End of Option List).
    pub fn trailer(&self) -> &'a [u8] {
        if self.ended { self.rest } else { &[] }
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = TcpOption<'a>;

    #[inline]
    fn next(&mut self) -> Option<TcpOption<'a>> {
        if self.ended {
            return None;
        }
        let (&k, after_kind) = self.rest.split_first()?;
        match k {
            kind::END_OF_LIST => {
                self.rest = after_kind;
                self.ended = true;
                Some(TcpOption::EndOfList)
            }
            kind::NOP => {
                self.rest = after_kind;
                Some(TcpOption::Nop)
            }
            _ => {
                let len = usize::from(*after_kind.first()?);
                let Some((opt, tail)) = self.rest.split_at_checked(len) else {
                    // Unreachable over validated bytes: stop rather than guess.
                    self.rest = &[];
                    return None;
                };
                self.rest = tail;
                Some(decode(k, opt.get(2..)?))
            }
        }
    }
}

/// Decodes an option's data (after kind and length), whose length `validate` checked.
// Inlined: returned by value through memory, the 40-byte option stalled the caller on
// store-to-load forwarding (measured by `cargo xtask bench wire_parse_vs_etherparse`).
#[inline(always)]
fn decode(k: u8, data: &[u8]) -> TcpOption<'_> {
    match (k, data) {
        (kind::MSS, &[a, b]) => TcpOption::Mss(u16::from_be_bytes([a, b])),
        (kind::WINDOW_SCALE, &[s]) => TcpOption::WindowScale(s),
        (kind::SACK_PERMITTED, &[]) => TcpOption::SackPermitted,
        (kind::TIMESTAMPS, &[a, b, c, d, e, f, g, h]) => TcpOption::Timestamps {
            tsval: u32::from_be_bytes([a, b, c, d]),
            tsecr: u32::from_be_bytes([e, f, g, h]),
        },
        (kind::SACK, _) if matches!(data.len(), 8 | 16 | 24 | 32) => {
            let mut blocks = ArrayVec::new();
            for c in data.chunks_exact(8) {
                if let (Some(l), Some(r)) = (be32(c, 0), be32(c, 4)) {
                    let _ = blocks.try_push((l, r));
                }
            }
            TcpOption::Sack(blocks)
        }
        _ => TcpOption::Unknown { kind: k, data },
    }
}

/// Parses a standalone option area (at most 40 bytes): the options in order, up to and
/// including End of Option List, and the trailer after it. Error offsets count from the start
/// of `opts`.
pub fn parse_options(opts: &[u8]) -> Result<(TcpOptionList<'_>, &[u8]), TcpError> {
    if opts.len() > MAX_OPTIONS_LEN {
        return Err(TcpError::OptionsTooLong { len: opts.len() });
    }
    validate(opts, 0)?;
    let mut it = TcpOptionIter::new(opts);
    let mut list = TcpOptionList::new();
    for o in &mut it {
        // At most one option per byte, and at most 40 bytes.
        let _ = list.try_push(o);
    }
    Ok((list, it.trailer()))
}

/// The padded length `emit_options` writes for `options` followed by `trailer`, after checking
/// that they encode and parse back: every option encodable, End of Option List only last, a
/// trailer only after End of Option List, at most 40 bytes once padded.
pub fn options_len(options: &[TcpOption<'_>], trailer: &[u8]) -> Result<usize, EmitError> {
    if options.is_empty() && trailer.is_empty() {
        return Ok(0);
    }
    let mut n = 0usize;
    let last = options.len().saturating_sub(1);
    for (i, o) in options.iter().enumerate() {
        o.check_encodable()?;
        if *o == TcpOption::EndOfList && i != last {
            return Err(EmitError::Unencodable {
                field: "options",
                reason: "End of Option List must be the last option; later bytes go in the trailer",
            });
        }
        n += o.encoded_len();
    }
    if !trailer.is_empty() && options.last() != Some(&TcpOption::EndOfList) {
        return Err(EmitError::Unencodable {
            field: "options_trailer",
            reason: "a trailer needs End of Option List as the last option",
        });
    }
    n += trailer.len();
    // RFC 9293 §3.1: the header is a whole number of 32-bit words, padded with zeros.
    let padded = n.div_ceil(4) * 4;
    if padded > MAX_OPTIONS_LEN {
        return Err(EmitError::Unencodable {
            field: "options",
            reason: "options longer than the 40 bytes a TCP header can carry",
        });
    }
    Ok(padded)
}

/// Writes `options`, then `trailer`, then zeros up to a multiple of 4 bytes at the start of
/// `buf`; returns the length written (see [`options_len`]).
pub fn emit_options(
    options: &[TcpOption<'_>],
    trailer: &[u8],
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let padded = options_len(options, trailer)?;
    if padded == 0 {
        return Ok(0);
    }
    crate::need(buf, padded)?;
    let mut at = 0;
    for o in options {
        let n = o.encoded_len();
        if let Some(out) = buf.get_mut(at..at + n) {
            o.write(out);
        }
        at += n;
    }
    if let Some(t) = buf.get_mut(at..at + trailer.len()) {
        t.copy_from_slice(trailer);
    }
    at += trailer.len();
    if let Some(pad) = buf.get_mut(at..padded) {
        pad.fill(0);
    }
    Ok(padded)
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for TcpOption<'a> {
    /// One encodable option other than End of Option List, at most 40 bytes long.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        arbitrary_option(u, MAX_OPTIONS_LEN)?.ok_or(arbitrary::Error::IncorrectFormat)
    }
}

/// One encodable option (never End of Option List) of at most `room` bytes; `None` if the
/// chosen kind does not fit.
#[cfg(feature = "arbitrary")]
fn arbitrary_option<'a>(
    u: &mut arbitrary::Unstructured<'a>,
    room: usize,
) -> arbitrary::Result<Option<TcpOption<'a>>> {
    const UNKNOWN_KINDS: [u8; 8] = [
        kind::MD5,
        kind::TCP_AO,
        kind::MPTCP,
        kind::FAST_OPEN,
        kind::ACCECN0,
        kind::ACCECN1,
        kind::EXPERIMENT1,
        kind::EXPERIMENT2,
    ];
    let o = match u.int_in_range(0u8..=7)? {
        0 => TcpOption::Nop,
        1 => TcpOption::Mss(u.arbitrary()?),
        2 => TcpOption::WindowScale(u.arbitrary()?),
        3 => TcpOption::SackPermitted,
        4 => {
            if room < 10 {
                return Ok(None);
            }
            let n = u.int_in_range(1..=((room - 2) / 8).min(4))?;
            let mut blocks = ArrayVec::new();
            for _ in 0..n {
                blocks.push((u.arbitrary()?, u.arbitrary()?));
            }
            TcpOption::Sack(blocks)
        }
        5 => TcpOption::Timestamps {
            tsval: u.arbitrary()?,
            tsecr: u.arbitrary()?,
        },
        6 => {
            if room < 2 {
                return Ok(None);
            }
            let kind = *u.choose(&UNKNOWN_KINDS)?;
            let n = u.int_in_range(0..=room - 2)?;
            let data = u.bytes(n)?;
            TcpOption::Unknown { kind, data }
        }
        _ => {
            if room < 2 {
                return Ok(None);
            }
            // Typed kinds are all below 16: shift them out of the typed range instead of
            // drawing again (a redraw loop never ends once the input is exhausted, since an
            // exhausted `Unstructured` keeps yielding 0).
            let k: u8 = u.arbitrary()?;
            let kind = if is_typed(k) { k.wrapping_add(16) } else { k };
            debug_assert!(!is_typed(kind));
            let n = u.int_in_range(0..=room - 2)?;
            let data = u.bytes(n)?;
            TcpOption::Unknown { kind, data }
        }
    };
    Ok((o.encoded_len() <= room).then_some(o))
}

/// A valid-by-construction option list and trailer whose encoding parses back to them: the
/// encoded length is a multiple of 4 (otherwise emission would add an End of Option List), and
/// a trailer only follows End of Option List.
#[cfg(feature = "arbitrary")]
pub(crate) fn arbitrary_options<'a>(
    u: &mut arbitrary::Unstructured<'a>,
) -> arbitrary::Result<(TcpOptionList<'a>, &'a [u8])> {
    let mut list = TcpOptionList::new();
    let mut used = 0usize;
    for _ in 0..u.int_in_range(0..=10)? {
        match arbitrary_option(u, MAX_OPTIONS_LEN - used)? {
            Some(o) => {
                used += o.encoded_len();
                list.push(o);
            }
            None => break,
        }
    }
    let mut trailer: &[u8] = &[];
    if used < MAX_OPTIONS_LEN && (!used.is_multiple_of(4) || u.ratio(1, 8)?) {
        list.push(TcpOption::EndOfList);
        used += 1;
        let pad = (4 - used % 4) % 4;
        let extra_words = u.int_in_range(0..=(MAX_OPTIONS_LEN - used - pad) / 4)?;
        trailer = u.bytes(pad + 4 * extra_words)?;
    }
    Ok((list, trailer))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules of RFC 9293 §3.1 written the obvious way, one option at a time.
    fn reference(opts: &[u8]) -> Result<(), TcpError> {
        let mut i = 0;
        while i < opts.len() {
            let k = opts[i];
            if k == 0 {
                return Ok(());
            }
            if k == 1 {
                i += 1;
                continue;
            }
            if i + 1 >= opts.len() {
                return Err(TcpError::OptionTruncated { offset: i, kind: k });
            }
            let len = opts[i + 1];
            if len < 2 {
                return Err(TcpError::OptionLengthTooSmall {
                    offset: i,
                    kind: k,
                    len,
                });
            }
            let ok = match k {
                2 => len == 4,
                3 => len == 3,
                4 => len == 2,
                8 => len == 10,
                5 => (10..=34).contains(&len) && (len - 2).is_multiple_of(8),
                _ => true,
            };
            if !ok {
                return Err(TcpError::OptionBadLength {
                    offset: i,
                    kind: k,
                    len,
                });
            }
            if i + usize::from(len) > opts.len() {
                return Err(TcpError::OptionOverrun {
                    offset: i,
                    kind: k,
                    len,
                    available: opts.len() - i,
                });
            }
            i += usize::from(len);
        }
        Ok(())
    }

    #[test]
    fn tcp_option_validation_matches_reference() {
        use rand::{Rng, SeedableRng};
        let seed = 2018;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // Prefixes the fast paths look for, and pieces of common layouts.
        let pieces: [&[u8]; 9] = [
            &[1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8],
            &[2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8],
            &[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            &[1, 3, 3, 7],
            &[0, 0, 0],
            &[1],
            &[2, 4],
            &[5, 18],
            &[0xfe, 4, 0xf9, 0x89],
        ];
        let mut ok = 0;
        for _ in 0..200_000 {
            let mut opts = Vec::new();
            while opts.len() < 40 && rng.gen_ratio(4, 5) {
                if rng.gen_ratio(2, 3) {
                    opts.extend_from_slice(pieces[rng.gen_range(0..pieces.len())]);
                } else {
                    let v: u8 = if rng.gen_ratio(1, 2) {
                        rng.gen_range(0..12)
                    } else {
                        rng.r#gen()
                    };
                    opts.push(v);
                }
            }
            opts.truncate(rng.gen_range(0..=40));
            let got = validate(&opts, 0);
            assert_eq!(got, reference(&opts), "{opts:02x?}");
            ok += usize::from(got.is_ok());
            // Over valid bytes the iterator consumes every option up to End of Option List.
            if got.is_ok() {
                let mut it = TcpOptionIter::new(&opts);
                let used: usize = (&mut it).map(|o| o.encoded_len()).sum();
                assert_eq!(used + it.trailer().len(), opts.len());
            }
        }
        println!("{ok} of 200000 option areas valid, all verdicts agree");
    }
}

#[cfg(all(test, feature = "arbitrary"))]
mod arbitrary_tests {
    #[test]
    fn tcp_arbitrary_terminates_on_exhausted_input() {
        // An exhausted `Unstructured` yields zeros; generation must still end.
        for input in [&[][..], &[1, 7], &[0xff; 3], &[2, 0, 0, 0, 9]] {
            let mut u = arbitrary::Unstructured::new(input);
            let _ = <crate::tcp::TcpRepr<'_> as arbitrary::Arbitrary>::arbitrary(&mut u);
        }
    }
}
