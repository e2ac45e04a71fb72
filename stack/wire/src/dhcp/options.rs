//! DHCP options (RFC 2132): codes, the tag-length-value walker shared by the checked view
//! and the `Repr`, and the borrowed, allocation-free lists a `DhcpRepr` holds.

use super::DhcpError;
use crate::Ipv4Addr;
use arrayvec::ArrayVec;

/// RFC 2132 §3.1: pad, a single zero octet used for alignment.
pub const PAD: u8 = 0;
/// RFC 2132 §3.3.
pub const SUBNET_MASK: u8 = 1;
/// RFC 2132 §3.5: routers, a list of addresses in order of preference.
pub const ROUTER: u8 = 3;
/// RFC 2132 §3.8: domain name servers, in order of preference.
pub const DNS_SERVERS: u8 = 6;
/// RFC 2132 §3.14.
pub const HOST_NAME: u8 = 12;
/// RFC 2132 §9.1.
pub const REQUESTED_IP: u8 = 50;
/// RFC 2132 §9.2: IP address lease time, seconds.
pub const LEASE_TIME: u8 = 51;
/// RFC 2132 §9.3: options continue in the `file` and/or `sname` fields.
pub const OVERLOAD: u8 = 52;
/// RFC 2132 §9.6.
pub const MESSAGE_TYPE: u8 = 53;
/// RFC 2132 §9.7.
pub const SERVER_IDENTIFIER: u8 = 54;
/// RFC 2132 §9.8.
pub const PARAMETER_REQUEST_LIST: u8 = 55;
/// RFC 2132 §9.10: maximum DHCP message size (kept as an "other" option).
pub const MAX_MESSAGE_SIZE: u8 = 57;
/// RFC 2132 §9.11: renewal (T1) time, seconds.
pub const RENEWAL_TIME: u8 = 58;
/// RFC 2132 §9.12: rebinding (T2) time, seconds.
pub const REBINDING_TIME: u8 = 59;
/// RFC 2132 §9.14.
pub const CLIENT_IDENTIFIER: u8 = 61;
/// RFC 2132 §3.2: end of valid information in a field.
pub const END: u8 = 255;

/// True for the codes a [`DhcpRepr`](super::DhcpRepr) holds in typed fields (and pad, end and
/// overload, which are encoding): every other code is kept in `other_options`.
pub fn is_typed(code: u8) -> bool {
    matches!(
        code,
        PAD | SUBNET_MASK
            | ROUTER
            | DNS_SERVERS
            | HOST_NAME
            | REQUESTED_IP
            | LEASE_TIME
            | OVERLOAD
            | MESSAGE_TYPE
            | SERVER_IDENTIFIER
            | PARAMETER_REQUEST_LIST
            | RENEWAL_TIME
            | REBINDING_TIME
            | CLIENT_IDENTIFIER
            | END
    )
}

/// The length rule RFC 2132 gives a typed option, as text for errors; `None` when `len`
/// satisfies it (or the code has no rule here).
pub(crate) fn length_rule(code: u8, len: usize) -> Option<&'static str> {
    match code {
        // §9.3, §9.6: one octet.
        OVERLOAD | MESSAGE_TYPE => (len != 1).then_some("1"),
        // §3.3, §9.1, §9.2, §9.7, §9.11, §9.12: one address or one 32-bit time.
        SUBNET_MASK | REQUESTED_IP | LEASE_TIME | SERVER_IDENTIFIER | RENEWAL_TIME
        | REBINDING_TIME => (len != 4).then_some("4"),
        // §3.5, §3.8: "The minimum length ... is 4 octets, and the length MUST always be a
        // multiple of 4."
        ROUTER | DNS_SERVERS => {
            (len == 0 || !len.is_multiple_of(4)).then_some("a non-zero multiple of 4")
        }
        // §3.14, §9.8: minimum length 1.
        HOST_NAME | PARAMETER_REQUEST_LIST => (len == 0).then_some("at least 1"),
        // §9.14: a type octet and at least one octet of identifier.
        CLIENT_IDENTIFIER => (len < 2).then_some("at least 2"),
        _ => None,
    }
}

/// Which field of the message an option sits in (RFC 2131 §2, RFC 2132 §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhcpField {
    /// The variable-length `options` field after the magic cookie.
    Options,
    /// The 128-byte `file` field, when overloaded.
    File,
    /// The 64-byte `sname` field, when overloaded.
    Sname,
}

impl core::fmt::Display for DhcpField {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DhcpField::Options => "options",
            DhcpField::File => "file",
            DhcpField::Sname => "sname",
        })
    }
}

/// Which of `file` and `sname` carry options (RFC 2132 §9.3, option 52).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhcpOverload {
    /// Value 1: the `file` field holds options.
    File,
    /// Value 2: the `sname` field holds options.
    Sname,
    /// Value 3: both fields hold options.
    Both,
}

impl DhcpOverload {
    /// Decodes the option value; `None` outside 1..=3.
    pub fn from_value(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::File),
            2 => Some(Self::Sname),
            3 => Some(Self::Both),
            _ => None,
        }
    }
    /// The option value.
    pub fn value(self) -> u8 {
        match self {
            Self::File => 1,
            Self::Sname => 2,
            Self::Both => 3,
        }
    }
    /// True when `file` carries options.
    pub fn file(self) -> bool {
        matches!(self, Self::File | Self::Both)
    }
    /// True when `sname` carries options.
    pub fn sname(self) -> bool {
        matches!(self, Self::Sname | Self::Both)
    }
}

/// One option: its code and its data (the length is `data.len()`, at most 255).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DhcpOption<'a> {
    /// Option code (tag).
    pub code: u8,
    /// Option data, without code and length.
    pub data: &'a [u8],
}

/// One step of the tag-length-value walk (RFC 2132 §2).
pub(crate) enum Step<'a> {
    /// A pad octet.
    Pad,
    /// The end option, or the end of the field's bytes.
    End,
    /// An option with its data.
    Opt(DhcpOption<'a>),
}

/// Reads the item at `pos` of one field; the error carries no field (the caller adds it).
pub(crate) fn step(bytes: &[u8], pos: usize) -> Result<Step<'_>, Malformed> {
    let Some(&code) = bytes.get(pos) else {
        return Ok(Step::End);
    };
    match code {
        // RFC 2132 §3.1, §3.2: pad and end are a single octet, with no length.
        PAD => Ok(Step::Pad),
        END => Ok(Step::End),
        _ => {
            let Some(&len) = bytes.get(pos + 1) else {
                return Err(Malformed::NoLength { code });
            };
            let start = pos + 2;
            let Some(data) = bytes.get(start..start + usize::from(len)) else {
                return Err(Malformed::Overrun {
                    code,
                    len,
                    available: bytes.len().saturating_sub(start),
                });
            };
            Ok(Step::Opt(DhcpOption { code, data }))
        }
    }
}

/// A framing fault found by [`step`].
pub(crate) enum Malformed {
    NoLength { code: u8 },
    Overrun { code: u8, len: u8, available: usize },
}

impl Malformed {
    pub(crate) fn in_field(self, field: DhcpField) -> DhcpError {
        match self {
            Malformed::NoLength { code } => DhcpError::OptionLengthMissing { code, field },
            Malformed::Overrun {
                code,
                len,
                available,
            } => DhcpError::OptionOverrun {
                code,
                len,
                available,
                field,
            },
        }
    }
}

/// What walking one field found.
pub(crate) struct FieldWalk {
    /// The field ended with the end option (not just by running out of bytes).
    pub(crate) end_found: bool,
    /// The value of the first overload option seen (already checked for length 1).
    pub(crate) overload: Option<u8>,
}

/// Walks one field, checking that every option's length octet and data are present.
pub(crate) fn walk_field(bytes: &[u8], field: DhcpField) -> Result<FieldWalk, DhcpError> {
    let mut pos = 0;
    let mut overload = None;
    loop {
        if pos >= bytes.len() {
            return Ok(FieldWalk {
                end_found: false,
                overload,
            });
        }
        match step(bytes, pos).map_err(|m| m.in_field(field))? {
            Step::Pad => pos += 1,
            Step::End => {
                return Ok(FieldWalk {
                    end_found: true,
                    overload,
                });
            }
            Step::Opt(o) => {
                if o.code == OVERLOAD && overload.is_none() {
                    // RFC 2132 §9.3: length 1. Checked here because it decides which other
                    // fields are walked.
                    let [v] = o.data else {
                        return Err(DhcpError::OptionLength {
                            code: OVERLOAD,
                            len: o.data.len(),
                            expected: "1",
                        });
                    };
                    overload = Some(*v);
                }
                pos += 2 + o.data.len();
            }
        }
    }
}

/// Iterates the options of a checked message in RFC 3396 §5 order: the `options` field, then
/// `file`, then `sname` (the latter two only when overloaded). Pad is skipped; each field's
/// walk stops at its end option.
#[derive(Debug, Clone)]
pub struct DhcpOptionIter<'a> {
    regions: [&'a [u8]; 3],
    region: usize,
    pos: usize,
}

impl<'a> DhcpOptionIter<'a> {
    /// Iterates `options`, then `file`, then `sname` (pass empty slices for fields that do
    /// not carry options).
    pub(crate) fn new(options: &'a [u8], file: &'a [u8], sname: &'a [u8]) -> Self {
        DhcpOptionIter {
            regions: [options, file, sname],
            region: 0,
            pos: 0,
        }
    }
}

impl<'a> Iterator for DhcpOptionIter<'a> {
    type Item = DhcpOption<'a>;
    fn next(&mut self) -> Option<DhcpOption<'a>> {
        loop {
            let bytes = *self.regions.get(self.region)?;
            match step(bytes, self.pos) {
                Ok(Step::Pad) => self.pos += 1,
                Ok(Step::Opt(o)) => {
                    self.pos += 2 + o.data.len();
                    return Some(o);
                }
                // The end option, the end of the field or (never after `new_checked`) a
                // framing fault: go on with the next field.
                Ok(Step::End) | Err(_) => {
                    self.region += 1;
                    self.pos = 0;
                }
            }
        }
    }
}

/// Options inline in a [`DhcpOptions`] built by hand.
pub const MAX_INLINE_OPTIONS: usize = 16;

/// The options of a message that have no typed field in `DhcpRepr`, in wire order, with
/// their bytes. Never allocates: a parsed message borrows its fields (so any number of
/// options is accepted), a built one holds up to [`MAX_INLINE_OPTIONS`] inline or borrows a
/// caller's slice. Two lists are equal when they yield the same options in the same order.
#[derive(Clone)]
pub struct DhcpOptions<'a> {
    inner: Inner<'a>,
}

#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // no allocation: the inline list is held by value
enum Inner<'a> {
    /// Borrowed from a checked message: every option whose code is not typed.
    Wire(DhcpOptionIter<'a>),
    /// Built inline.
    Inline(ArrayVec<DhcpOption<'a>, MAX_INLINE_OPTIONS>),
    /// A caller's list.
    Slice(&'a [DhcpOption<'a>]),
}

impl<'a> DhcpOptions<'a> {
    /// An empty list that [`try_push`](Self::try_push) can fill.
    pub fn new() -> Self {
        DhcpOptions {
            inner: Inner::Inline(ArrayVec::new()),
        }
    }
    /// A list over the caller's options (any number).
    pub fn from_slice(options: &'a [DhcpOption<'a>]) -> Self {
        DhcpOptions {
            inner: Inner::Slice(options),
        }
    }
    pub(crate) fn from_wire(iter: DhcpOptionIter<'a>) -> Self {
        DhcpOptions {
            inner: Inner::Wire(iter),
        }
    }
    /// Appends an option to a list made by [`new`](Self::new); gives it back when the list
    /// is full or is not an inline list.
    pub fn try_push(&mut self, option: DhcpOption<'a>) -> Result<(), DhcpOption<'a>> {
        match &mut self.inner {
            Inner::Inline(v) => v.try_push(option).map_err(|e| e.element()),
            _ => Err(option),
        }
    }
    /// The options in order.
    pub fn iter(&self) -> impl Iterator<Item = DhcpOption<'a>> + Clone + '_ {
        let (wire, inline, slice) = match &self.inner {
            Inner::Wire(it) => (Some(it.clone()), None, None),
            Inner::Inline(v) => (None, Some(v.iter().copied()), None),
            Inner::Slice(s) => (None, None, Some(s.iter().copied())),
        };
        wire.into_iter()
            .flatten()
            .filter(|o| !is_typed(o.code))
            .chain(inline.into_iter().flatten())
            .chain(slice.into_iter().flatten())
    }
    /// Number of options.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
    /// The data of the first option with `code`.
    pub fn get(&self, code: u8) -> Option<&'a [u8]> {
        self.iter().find(|o| o.code == code).map(|o| o.data)
    }
}

impl Default for DhcpOptions<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for DhcpOptions<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for DhcpOptions<'_> {}

impl core::fmt::Debug for DhcpOptions<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A list of IPv4 addresses (routers, DNS servers), borrowed: either the option's bytes (a
/// multiple of 4) or a caller's addresses. Equal when the addresses are.
#[derive(Clone, Copy)]
pub struct Ipv4List<'a> {
    inner: ListInner<'a>,
}

#[derive(Clone, Copy)]
enum ListInner<'a> {
    Bytes(&'a [u8]),
    Addrs(&'a [Ipv4Addr]),
}

impl<'a> Ipv4List<'a> {
    /// A list over raw option bytes; `None` unless the length is a multiple of 4.
    pub fn from_bytes(bytes: &'a [u8]) -> Option<Self> {
        bytes.len().is_multiple_of(4).then_some(Ipv4List {
            inner: ListInner::Bytes(bytes),
        })
    }
    /// A list over addresses.
    pub fn from_addrs(addrs: &'a [Ipv4Addr]) -> Self {
        Ipv4List {
            inner: ListInner::Addrs(addrs),
        }
    }
    /// Number of addresses.
    pub fn len(&self) -> usize {
        match self.inner {
            ListInner::Bytes(b) => b.len() / 4,
            ListInner::Addrs(a) => a.len(),
        }
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The first (most preferred) address.
    pub fn first(&self) -> Option<Ipv4Addr> {
        self.iter().next()
    }
    /// The addresses in order.
    pub fn iter(&self) -> Ipv4ListIter<'a> {
        Ipv4ListIter { list: *self, at: 0 }
    }
}

impl PartialEq for Ipv4List<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Ipv4List<'_> {}

impl core::fmt::Debug for Ipv4List<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Ipv4List<'a> {
    type Item = Ipv4Addr;
    type IntoIter = Ipv4ListIter<'a>;
    fn into_iter(self) -> Ipv4ListIter<'a> {
        self.iter()
    }
}

/// Iterator over an [`Ipv4List`].
#[derive(Debug, Clone)]
pub struct Ipv4ListIter<'a> {
    list: Ipv4List<'a>,
    at: usize,
}

impl Iterator for Ipv4ListIter<'_> {
    type Item = Ipv4Addr;
    fn next(&mut self) -> Option<Ipv4Addr> {
        let a = match self.list.inner {
            ListInner::Bytes(b) => crate::ipv4_at(b, self.at * 4)?,
            ListInner::Addrs(a) => *a.get(self.at)?,
        };
        self.at += 1;
        Some(a)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.list.len().saturating_sub(self.at);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Ipv4ListIter<'_> {}

/// The client identifier (RFC 2132 §9.14): a type octet (a hardware type from the ARP
/// registry, or 0 for anything else) and the identifier itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIdentifier<'a> {
    /// Type octet (1 = Ethernet, the identifier being the MAC address).
    pub kind: u8,
    /// The identifier, at least one octet.
    pub id: &'a [u8],
}

/// The DHCP message type (RFC 2132 §9.6, option 53). Values without a name here (RFC 3203
/// FORCERENEW, RFC 4388 lease query, …) are kept in `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhcpMessageType {
    /// 1, client broadcast to locate servers.
    Discover,
    /// 2, server offer of parameters.
    Offer,
    /// 3, client request for offered parameters (or renewal).
    Request,
    /// 4, client: the offered address is already in use.
    Decline,
    /// 5, server acknowledgement with parameters.
    Ack,
    /// 6, server refusal.
    Nak,
    /// 7, client relinquishes its address.
    Release,
    /// 8, client asks for local parameters only.
    Inform,
    /// Any other value. `Other(1..=8)` is not canonical and is refused by emit.
    Other(u8),
}

impl DhcpMessageType {
    /// Decodes an option 53 value.
    pub fn from_value(v: u8) -> Self {
        match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            other => Self::Other(other),
        }
    }
    /// The option 53 value.
    pub fn value(self) -> u8 {
        match self {
            Self::Discover => 1,
            Self::Offer => 2,
            Self::Request => 3,
            Self::Decline => 4,
            Self::Ack => 5,
            Self::Nak => 6,
            Self::Release => 7,
            Self::Inform => 8,
            Self::Other(v) => v,
        }
    }
}

impl core::fmt::Display for DhcpMessageType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Discover => f.write_str("DISCOVER"),
            Self::Offer => f.write_str("OFFER"),
            Self::Request => f.write_str("REQUEST"),
            Self::Decline => f.write_str("DECLINE"),
            Self::Ack => f.write_str("ACK"),
            Self::Nak => f.write_str("NAK"),
            Self::Release => f.write_str("RELEASE"),
            Self::Inform => f.write_str("INFORM"),
            Self::Other(v) => write!(f, "unknown ({v})"),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for DhcpMessageType {
    /// Canonical values only: a name for 1..=8, `Other` for the rest.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self::from_value(u.arbitrary()?))
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for DhcpOptions<'a> {
    /// Up to [`MAX_INLINE_OPTIONS`] options with untyped codes and 0..=255 bytes of data.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut list = DhcpOptions::new();
        let n = u.int_in_range(0..=MAX_INLINE_OPTIONS)?;
        for _ in 0..n {
            let mut code: u8 = u.arbitrary()?;
            while is_typed(code) {
                code = code.wrapping_add(1);
            }
            let len = usize::from(u.arbitrary::<u8>()?);
            let data = u.bytes(len)?;
            if list.try_push(DhcpOption { code, data }).is_err() {
                break;
            }
        }
        Ok(list)
    }
}
