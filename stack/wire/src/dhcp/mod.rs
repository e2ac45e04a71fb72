//! DHCPv4 messages (RFC 2131 §2) with their options (RFC 2132), carried in UDP between ports
//! 67 and 68.
//!
//! [`DhcpPacket`] is a checked view over a UDP payload: the fixed BOOTP header (RFC 951), the
//! magic cookie and the option framing of every field that carries options (the `options`
//! field, and `file`/`sname` when option 52 overloads them). [`DhcpRepr`] is the meaning:
//! header fields and the options a client and server need as typed fields, and every other
//! option kept with its bytes, in order.
//!
//! Decisions:
//! * Hardware: the view accepts any `htype`/`hlen` (a decoder can show them; `chaddr` is cut
//!   to at most its 16 bytes); [`DhcpRepr::parse`] requires Ethernet (`htype` 1, `hlen` 6) so
//!   `chaddr` is a [`MacAddr`], and returns [`DhcpError::UnsupportedHardware`] otherwise.
//! * The magic cookie 99.130.83.99 (RFC 2131 §3) is required. A message that stops before it,
//!   a plain RFC 951 BOOTP message (vendor area starting 0.0.0.0) and any other cookie are
//!   three different errors.
//! * The end option: RFC 2131 §4.1 expects every field that carries options to end with it.
//!   Like tcpdump, parsing is lenient (a field may simply run out of bytes); the view reports
//!   it through [`DhcpPacket::missing_end`] and [`DhcpPacket::check_end`].
//! * Long options (RFC 3396): a typed option that appears twice is refused with
//!   [`DhcpError::DuplicateOption`] rather than concatenated. Other options are kept as they
//!   appear, split instances included, so a caller can concatenate them.
//! * Overload: options in `file` and `sname` are read after the `options` field (RFC 3396 §5
//!   order: options, file, sname), and those fields then have no name in the `Repr`.
//!   [`DhcpRepr::emit`] never overloads: all options go in the `options` field.
//! * Emit pads the message with zeros to the 300-byte BOOTP size (RFC 951's 64-byte vendor
//!   area; RFC 1542 §2.1 notes relay agents that drop shorter messages), after the end
//!   option.

mod options;

pub use options::{
    ClientIdentifier, DhcpField, DhcpMessageType, DhcpOption, DhcpOptionIter, DhcpOptions,
    DhcpOverload, Ipv4List, Ipv4ListIter, MAX_INLINE_OPTIONS, is_typed,
};
/// Option codes (RFC 2132).
pub mod code {
    pub use super::options::{
        CLIENT_IDENTIFIER, DNS_SERVERS, END, HOST_NAME, LEASE_TIME, MAX_MESSAGE_SIZE, MESSAGE_TYPE,
        OVERLOAD, PAD, PARAMETER_REQUEST_LIST, REBINDING_TIME, RENEWAL_TIME, REQUESTED_IP, ROUTER,
        SERVER_IDENTIFIER, SUBNET_MASK,
    };
}

use crate::{EmitError, Ipv4Addr, MacAddr, be16, be32, ipv4_at, need, put16, put32};
use options::{length_rule, walk_field};

/// UDP port of DHCP servers and relay agents (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;
/// UDP port of DHCP clients (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;
/// The magic cookie opening the options field (RFC 2131 §3, RFC 2132 §2).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Length of the fixed BOOTP header, `op` through `file` (RFC 2131 §2).
pub const FIXED_LEN: usize = 236;
/// Offset of the options after the magic cookie.
pub const OPTIONS_OFFSET: usize = 240;
/// Size emit pads messages to: the RFC 951 BOOTP message with its 64-byte vendor area.
pub const MIN_EMIT_LEN: usize = 300;

// RFC 2131 §2, Figure 1: field offsets.
const OP: usize = 0;
const HTYPE: usize = 1;
const HLEN: usize = 2;
const HOPS: usize = 3;
const XID: usize = 4;
const SECS: usize = 8;
const FLAGS: usize = 10;
const CIADDR: usize = 12;
const YIADDR: usize = 16;
const SIADDR: usize = 20;
const GIADDR: usize = 24;
const CHADDR: usize = 28;
const SNAME: usize = 44;
const FILE: usize = 108;
const SNAME_LEN: usize = 64;
const FILE_LEN: usize = 128;
const CHADDR_LEN: usize = 16;
/// RFC 2131 §2: the leftmost bit of `flags` is the broadcast flag.
const BROADCAST_FLAG: u16 = 0x8000;

/// Why bytes are not a DHCP message this module can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DhcpError {
    /// Shorter than the fixed 236-byte BOOTP header.
    #[error("DHCP message truncated: {len} bytes, the BOOTP header needs {needed}")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// `op` is neither BOOTREQUEST (1) nor BOOTREPLY (2).
    #[error("BOOTP op code {0} is neither BOOTREQUEST (1) nor BOOTREPLY (2)")]
    BadOpCode(u8),
    /// The message ends after the BOOTP header, before the 4-byte magic cookie.
    #[error("DHCP message of {len} bytes ends before the magic cookie (needs 240)")]
    MissingMagicCookie {
        /// Bytes present.
        len: usize,
    },
    /// The vendor area starts with 0.0.0.0: plain BOOTP (RFC 951) without RFC 1497 vendor
    /// extensions, not DHCP.
    #[error("plain BOOTP message without vendor extensions (cookie 0.0.0.0), not DHCP")]
    PlainBootp,
    /// The vendor area starts with something other than 99.130.83.99.
    #[error("wrong DHCP magic cookie {} (expected 99.130.83.99)", Ipv4Addr::from(*found))]
    WrongMagicCookie {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// An option's code is the last byte of its field: its length octet is missing.
    #[error("DHCP option {code} at the end of the {field} field has no length octet")]
    OptionLengthMissing {
        /// Option code.
        code: u8,
        /// Field it sits in.
        field: DhcpField,
    },
    /// An option's length runs past the end of its field.
    #[error(
        "DHCP option {code} of length {len} runs past the {field} field ({available} bytes left)"
    )]
    OptionOverrun {
        /// Option code.
        code: u8,
        /// Its length octet.
        len: u8,
        /// Bytes left in the field after the length octet.
        available: usize,
        /// Field it sits in.
        field: DhcpField,
    },
    /// Option 52 (overload) has a value other than 1, 2 or 3.
    #[error("DHCP option overload (52) value {0}: must be 1 (file), 2 (sname) or 3 (both)")]
    InvalidOverload(u8),
    /// A typed option has a length its definition does not allow.
    #[error("DHCP option {code} has length {len}, expected {expected}")]
    OptionLength {
        /// Option code.
        code: u8,
        /// Length found.
        len: usize,
        /// What RFC 2132 allows.
        expected: &'static str,
    },
    /// A typed option appears more than once (RFC 3396 concatenation is not supported for
    /// typed options).
    #[error("DHCP option {code} appears more than once")]
    DuplicateOption {
        /// Option code.
        code: u8,
    },
    /// The hardware type and length are not Ethernet (1, 6).
    #[error("DHCP hardware type {htype}, length {hlen}: only Ethernet (1, 6) is supported")]
    UnsupportedHardware {
        /// `htype`.
        htype: u8,
        /// `hlen`.
        hlen: u8,
    },
    /// A field carrying options does not end with the end option (RFC 2131 §4.1). Only
    /// [`DhcpPacket::check_end`] returns this; parsing is lenient.
    #[error("DHCP {field} field does not end with the end option (255)")]
    MissingEnd {
        /// The first field without it.
        field: DhcpField,
    },
}

/// The BOOTP operation (RFC 2131 §2 `op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DhcpOp {
    /// BOOTREQUEST (1): client to server.
    Request,
    /// BOOTREPLY (2): server to client.
    Reply,
}

impl DhcpOp {
    fn value(self) -> u8 {
        match self {
            DhcpOp::Request => 1,
            DhcpOp::Reply => 2,
        }
    }
}

/// A checked view of a DHCP message (a UDP payload).
///
/// Invariants established by `new_checked`: at least 240 bytes; `op` is 1 or 2; the magic
/// cookie is present; every option in every field that carries options has its length octet
/// and data inside that field; option 52, if present, has length 1 and value 1..=3.
#[derive(Debug, Clone)]
pub struct DhcpPacket<T: AsRef<[u8]>> {
    buffer: T,
    overload: Option<DhcpOverload>,
    missing_end: Option<DhcpField>,
}

impl<T: AsRef<[u8]>> DhcpPacket<T> {
    /// Validates the header, the magic cookie and the option framing.
    pub fn new_checked(buffer: T) -> Result<Self, DhcpError> {
        let b = buffer.as_ref();
        let len = b.len();
        let (Some(head), Some(&op)) = (b.get(..FIXED_LEN), b.first()) else {
            return Err(DhcpError::Truncated {
                len,
                needed: FIXED_LEN,
            });
        };
        // RFC 2131 §2: op 1 = BOOTREQUEST, 2 = BOOTREPLY.
        if op != 1 && op != 2 {
            return Err(DhcpError::BadOpCode(op));
        }
        let Some(cookie) = b.get(FIXED_LEN..OPTIONS_OFFSET) else {
            return Err(DhcpError::MissingMagicCookie { len });
        };
        // RFC 2131 §3: the first four octets of 'options' are 99, 130, 83, 99. RFC 951's
        // vendor area with 0.0.0.0 there is plain BOOTP.
        if cookie != MAGIC_COOKIE {
            let mut found = [0u8; 4];
            found.copy_from_slice(cookie);
            return Err(if found == [0; 4] {
                DhcpError::PlainBootp
            } else {
                DhcpError::WrongMagicCookie { found }
            });
        }
        let opts = b.get(OPTIONS_OFFSET..).unwrap_or(&[]);
        let walk = walk_field(opts, DhcpField::Options)?;
        let mut missing_end = (!walk.end_found).then_some(DhcpField::Options);
        // RFC 2131 §4.1, RFC 2132 §9.3: option 52 in 'options' says file and/or sname hold
        // options too.
        let overload = match walk.overload {
            None => None,
            Some(v) => Some(DhcpOverload::from_value(v).ok_or(DhcpError::InvalidOverload(v))?),
        };
        if let Some(o) = overload {
            for (on, at, n, field) in [
                (o.file(), FILE, FILE_LEN, DhcpField::File),
                (o.sname(), SNAME, SNAME_LEN, DhcpField::Sname),
            ] {
                if on {
                    let region = head.get(at..at + n).unwrap_or(&[]);
                    // Option 52 only counts in 'options'; elsewhere the Repr refuses it as a
                    // duplicate.
                    let w = walk_field(region, field)?;
                    if !w.end_found && missing_end.is_none() {
                        missing_end = Some(field);
                    }
                }
            }
        }
        Ok(DhcpPacket {
            buffer,
            overload,
            missing_end,
        })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    fn byte(&self, at: usize) -> u8 {
        self.b().get(at).copied().unwrap_or(0)
    }
    fn addr(&self, at: usize) -> Ipv4Addr {
        ipv4_at(self.b(), at).unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// `op`.
    pub fn op(&self) -> DhcpOp {
        if self.byte(OP) == 2 {
            DhcpOp::Reply
        } else {
            DhcpOp::Request
        }
    }
    /// Hardware address type (`htype`, ARP hardware types).
    pub fn htype(&self) -> u8 {
        self.byte(HTYPE)
    }
    /// Hardware address length (`hlen`).
    pub fn hlen(&self) -> u8 {
        self.byte(HLEN)
    }
    /// Relay hops (`hops`).
    pub fn hops(&self) -> u8 {
        self.byte(HOPS)
    }
    /// Transaction id (`xid`).
    pub fn xid(&self) -> u32 {
        be32(self.b(), XID).unwrap_or(0)
    }
    /// Seconds since the client began (`secs`).
    pub fn secs(&self) -> u16 {
        be16(self.b(), SECS).unwrap_or(0)
    }
    /// The whole `flags` field, reserved bits included.
    pub fn flags(&self) -> u16 {
        be16(self.b(), FLAGS).unwrap_or(0)
    }
    /// The broadcast flag (RFC 2131 §2, §4.1).
    pub fn broadcast(&self) -> bool {
        self.flags() & BROADCAST_FLAG != 0
    }
    /// Client IP address (`ciaddr`).
    pub fn ciaddr(&self) -> Ipv4Addr {
        self.addr(CIADDR)
    }
    /// 'Your' (client) address (`yiaddr`).
    pub fn yiaddr(&self) -> Ipv4Addr {
        self.addr(YIADDR)
    }
    /// Next server address (`siaddr`).
    pub fn siaddr(&self) -> Ipv4Addr {
        self.addr(SIADDR)
    }
    /// Relay agent address (`giaddr`).
    pub fn giaddr(&self) -> Ipv4Addr {
        self.addr(GIADDR)
    }
    /// The 16-byte `chaddr` field.
    pub fn chaddr(&self) -> &[u8] {
        self.b().get(CHADDR..CHADDR + CHADDR_LEN).unwrap_or(&[])
    }
    /// The first `hlen` bytes of `chaddr` (all 16 when `hlen` is larger).
    pub fn client_hardware_addr(&self) -> &[u8] {
        let n = usize::from(self.hlen()).min(CHADDR_LEN);
        self.chaddr().get(..n).unwrap_or(&[])
    }
    /// The raw 64-byte `sname` field (options when overloaded).
    pub fn sname(&self) -> &[u8] {
        self.b().get(SNAME..SNAME + SNAME_LEN).unwrap_or(&[])
    }
    /// The raw 128-byte `file` field (options when overloaded).
    pub fn file(&self) -> &[u8] {
        self.b().get(FILE..FILE + FILE_LEN).unwrap_or(&[])
    }
    /// The `options` field after the magic cookie, to the end of the buffer.
    pub fn options_field(&self) -> &[u8] {
        self.b().get(OPTIONS_OFFSET..).unwrap_or(&[])
    }
    /// Option 52, when present.
    pub fn overload(&self) -> Option<DhcpOverload> {
        self.overload
    }
    /// All options, pad and end excluded, in RFC 3396 §5 order (options, file, sname).
    pub fn options(&self) -> DhcpOptionIter<'_> {
        options_of(self.b(), self.overload)
    }
    /// The first field carrying options that does not end with the end option.
    pub fn missing_end(&self) -> Option<DhcpField> {
        self.missing_end
    }
    /// Strict check of RFC 2131 §4.1's end option, for callers that want it.
    pub fn check_end(&self) -> Result<(), DhcpError> {
        match self.missing_end {
            Some(field) => Err(DhcpError::MissingEnd { field }),
            None => Ok(()),
        }
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DhcpPacket<T> {
    /// Sets `hops` (a relay agent increments it, RFC 1542 §4.1.1).
    pub fn set_hops(&mut self, hops: u8) {
        if let Some(h) = self.buffer.as_mut().get_mut(HOPS) {
            *h = hops;
        }
    }
    /// Sets `giaddr` (a relay agent fills it in, RFC 2131 §4.1).
    pub fn set_giaddr(&mut self, addr: Ipv4Addr) {
        put32(self.buffer.as_mut(), GIADDR, u32::from(addr));
    }
}

fn options_of(b: &[u8], overload: Option<DhcpOverload>) -> DhcpOptionIter<'_> {
    let opts = b.get(OPTIONS_OFFSET..).unwrap_or(&[]);
    let o = overload;
    let file = match o {
        Some(o) if o.file() => b.get(FILE..FILE + FILE_LEN).unwrap_or(&[]),
        _ => &[],
    };
    let sname = match o {
        Some(o) if o.sname() => b.get(SNAME..SNAME + SNAME_LEN).unwrap_or(&[]),
        _ => &[],
    };
    DhcpOptionIter::new(opts, file, sname)
}

/// A name field's text: the bytes before the first NUL (RFC 2131 §2: "null terminated
/// string").
fn until_nul(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or(&[])
}

/// The meaning of a DHCP message.
///
/// Options with typed fields are `Option`s (absent when the message lacks them); lists are
/// never empty when present. All other options are in `other_options`, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpRepr<'a> {
    /// BOOTREQUEST or BOOTREPLY.
    pub op: DhcpOp,
    /// Relay hops.
    pub hops: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began acquisition or renewal.
    pub secs: u16,
    /// The broadcast flag; the 15 reserved flag bits are ignored (RFC 2131 §2: "MUST be
    /// ignored by servers and relay agents") and emitted as zero.
    pub broadcast: bool,
    /// `ciaddr`.
    pub client_ip: Ipv4Addr,
    /// `yiaddr`.
    pub your_ip: Ipv4Addr,
    /// `siaddr`.
    pub server_ip: Ipv4Addr,
    /// `giaddr`.
    pub relay_agent_ip: Ipv4Addr,
    /// `chaddr` (Ethernet).
    pub client_hardware_address: MacAddr,
    /// `sname` up to its first NUL (at most 64 bytes, no NUL); empty when overloaded.
    pub server_name: &'a [u8],
    /// `file` up to its first NUL (at most 128 bytes, no NUL); empty when overloaded.
    pub boot_file: &'a [u8],
    /// Option 53. A message without it is BOOTP with RFC 1497 vendor extensions.
    pub message_type: Option<DhcpMessageType>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3, 1..=63 addresses.
    pub routers: Option<Ipv4List<'a>>,
    /// Option 6, 1..=63 addresses.
    pub dns_servers: Option<Ipv4List<'a>>,
    /// Option 12, 1..=255 bytes.
    pub host_name: Option<&'a [u8]>,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 51, seconds (0xffffffff is infinity).
    pub lease_time: Option<u32>,
    /// Option 54.
    pub server_identifier: Option<Ipv4Addr>,
    /// Option 55, 1..=255 option codes.
    pub parameter_request_list: Option<&'a [u8]>,
    /// Option 58 (T1), seconds.
    pub renewal_time: Option<u32>,
    /// Option 59 (T2), seconds.
    pub rebinding_time: Option<u32>,
    /// Option 61; the identifier is 1..=254 bytes.
    pub client_identifier: Option<ClientIdentifier<'a>>,
    /// Every option without a typed field, in order (codes for which [`is_typed`] is false).
    pub other_options: DhcpOptions<'a>,
}

/// Bit for each typed option code, to spot duplicates.
fn seen_bit(code: u8) -> u16 {
    match code {
        code::SUBNET_MASK => 1,
        code::ROUTER => 1 << 1,
        code::DNS_SERVERS => 1 << 2,
        code::HOST_NAME => 1 << 3,
        code::REQUESTED_IP => 1 << 4,
        code::LEASE_TIME => 1 << 5,
        code::OVERLOAD => 1 << 6,
        code::MESSAGE_TYPE => 1 << 7,
        code::SERVER_IDENTIFIER => 1 << 8,
        code::PARAMETER_REQUEST_LIST => 1 << 9,
        code::RENEWAL_TIME => 1 << 10,
        code::REBINDING_TIME => 1 << 11,
        code::CLIENT_IDENTIFIER => 1 << 12,
        _ => 0,
    }
}

fn addr4(d: &[u8]) -> Ipv4Addr {
    ipv4_at(d, 0).unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn u32_of(d: &[u8]) -> u32 {
    be32(d, 0).unwrap_or(0)
}

impl<'a> DhcpRepr<'a> {
    /// Reads a checked message: Ethernet hardware, typed options with the lengths RFC 2132
    /// gives them, each at most once. The `Repr` borrows the message's bytes.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &DhcpPacket<&'a T>) -> Result<Self, DhcpError> {
        let buf: &'a T = packet.buffer;
        let b: &'a [u8] = buf.as_ref();
        let (htype, hlen) = (packet.htype(), packet.hlen());
        if (htype, hlen) != (1, 6) {
            return Err(DhcpError::UnsupportedHardware { htype, hlen });
        }
        let overload = packet.overload();
        let server_name = match overload {
            Some(o) if o.sname() => &[],
            _ => until_nul(b.get(SNAME..SNAME + SNAME_LEN).unwrap_or(&[])),
        };
        let boot_file = match overload {
            Some(o) if o.file() => &[],
            _ => until_nul(b.get(FILE..FILE + FILE_LEN).unwrap_or(&[])),
        };
        let all = options_of(b, overload);
        let mut r = DhcpRepr {
            op: packet.op(),
            hops: packet.hops(),
            xid: packet.xid(),
            secs: packet.secs(),
            broadcast: packet.broadcast(),
            client_ip: packet.ciaddr(),
            your_ip: packet.yiaddr(),
            server_ip: packet.siaddr(),
            relay_agent_ip: packet.giaddr(),
            client_hardware_address: MacAddr::from_slice(packet.chaddr()).unwrap_or_default(),
            server_name,
            boot_file,
            message_type: None,
            subnet_mask: None,
            routers: None,
            dns_servers: None,
            host_name: None,
            requested_ip: None,
            lease_time: None,
            server_identifier: None,
            parameter_request_list: None,
            renewal_time: None,
            rebinding_time: None,
            client_identifier: None,
            other_options: DhcpOptions::from_wire(all.clone()),
        };
        let mut seen = 0u16;
        for opt in all {
            let bit = seen_bit(opt.code);
            if bit == 0 {
                continue;
            }
            if seen & bit != 0 {
                return Err(DhcpError::DuplicateOption { code: opt.code });
            }
            seen |= bit;
            let d = opt.data;
            if let Some(expected) = length_rule(opt.code, d.len()) {
                return Err(DhcpError::OptionLength {
                    code: opt.code,
                    len: d.len(),
                    expected,
                });
            }
            match opt.code {
                code::MESSAGE_TYPE => {
                    r.message_type = d.first().map(|&v| DhcpMessageType::from_value(v));
                }
                code::SUBNET_MASK => r.subnet_mask = Some(addr4(d)),
                code::ROUTER => r.routers = Ipv4List::from_bytes(d),
                code::DNS_SERVERS => r.dns_servers = Ipv4List::from_bytes(d),
                code::HOST_NAME => r.host_name = Some(d),
                code::REQUESTED_IP => r.requested_ip = Some(addr4(d)),
                code::LEASE_TIME => r.lease_time = Some(u32_of(d)),
                code::SERVER_IDENTIFIER => r.server_identifier = Some(addr4(d)),
                code::PARAMETER_REQUEST_LIST => r.parameter_request_list = Some(d),
                code::RENEWAL_TIME => r.renewal_time = Some(u32_of(d)),
                code::REBINDING_TIME => r.rebinding_time = Some(u32_of(d)),
                code::CLIENT_IDENTIFIER => {
                    if let Some((&kind, id)) = d.split_first() {
                        r.client_identifier = Some(ClientIdentifier { kind, id });
                    }
                }
                // Overload (52): encoding, already applied by the view.
                _ => {}
            }
        }
        Ok(r)
    }

    /// The typed options, in the order emit writes them.
    fn typed_options(&self) -> [Option<(u8, Value<'a>)>; 12] {
        let addr = |c: u8, v: Option<Ipv4Addr>| v.map(|v| (c, Value::Bytes4(v.octets())));
        let secs = |c: u8, v: Option<u32>| v.map(|v| (c, Value::Bytes4(v.to_be_bytes())));
        [
            self.message_type
                .map(|t| (code::MESSAGE_TYPE, Value::Byte(t.value()))),
            self.client_identifier
                .map(|c| (code::CLIENT_IDENTIFIER, Value::ClientId(c))),
            addr(code::REQUESTED_IP, self.requested_ip),
            addr(code::SERVER_IDENTIFIER, self.server_identifier),
            secs(code::LEASE_TIME, self.lease_time),
            secs(code::RENEWAL_TIME, self.renewal_time),
            secs(code::REBINDING_TIME, self.rebinding_time),
            addr(code::SUBNET_MASK, self.subnet_mask),
            self.routers.map(|l| (code::ROUTER, Value::List(l))),
            self.dns_servers
                .map(|l| (code::DNS_SERVERS, Value::List(l))),
            self.host_name.map(|h| (code::HOST_NAME, Value::Raw(h))),
            self.parameter_request_list
                .map(|p| (code::PARAMETER_REQUEST_LIST, Value::Raw(p))),
        ]
    }

    /// Refuses what parse would read back differently or what cannot be encoded.
    fn check(&self) -> Result<(), EmitError> {
        let bad = |field: &'static str, reason: &'static str| {
            Err(EmitError::Unencodable { field, reason })
        };
        if self.server_name.len() > SNAME_LEN || self.server_name.contains(&0) {
            return bad("server_name", "at most 64 bytes, without NUL");
        }
        if self.boot_file.len() > FILE_LEN || self.boot_file.contains(&0) {
            return bad("boot_file", "at most 128 bytes, without NUL");
        }
        if let Some(DhcpMessageType::Other(1..=8)) = self.message_type {
            return bad("message_type", "values 1..=8 must use their named variants");
        }
        for (field, list) in [("routers", self.routers), ("dns_servers", self.dns_servers)] {
            if list.is_some_and(|l| l.is_empty() || l.len() > 63) {
                return bad(field, "1..=63 addresses (one option of at most 255 bytes)");
            }
        }
        for (field, bytes) in [
            ("host_name", self.host_name),
            ("parameter_request_list", self.parameter_request_list),
        ] {
            if bytes.is_some_and(|h| h.is_empty() || h.len() > 255) {
                return bad(field, "1..=255 bytes");
            }
        }
        if self
            .client_identifier
            .is_some_and(|c| c.id.is_empty() || c.id.len() > 254)
        {
            return bad("client_identifier", "identifier of 1..=254 bytes");
        }
        for o in self.other_options.iter() {
            if is_typed(o.code) {
                return bad(
                    "other_options",
                    "codes with typed fields (and pad, end, overload) go in those fields",
                );
            }
            if o.data.len() > 255 {
                return bad("other_options", "option data longer than 255 bytes");
            }
        }
        Ok(())
    }

    /// Length of the options emit writes, end option included.
    fn options_len(&self) -> usize {
        let typed: usize = self
            .typed_options()
            .iter()
            .flatten()
            .map(|(_, v)| 2 + v.len())
            .sum();
        let other: usize = self.other_options.iter().map(|o| 2 + o.data.len()).sum();
        typed + other + 1
    }

    /// Bytes `emit` writes: the header, cookie and options, padded to 300.
    pub fn buffer_len(&self) -> usize {
        (OPTIONS_OFFSET + self.options_len()).max(MIN_EMIT_LEN)
    }

    /// Writes the message at the start of `buf` (a UDP payload) and returns its length.
    /// Every byte up to that length is written: header fields, zero-filled `chaddr`, `sname`
    /// and `file`, the cookie, the options, the end option and zero padding to 300 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        self.check()?;
        let n = self.buffer_len();
        need(buf, n)?;
        let Some(out) = buf.get_mut(..n) else {
            return Err(EmitError::BufferTooSmall {
                needed: n,
                available: 0,
            });
        };
        out.fill(0);
        let head = [self.op.value(), 1, 6, self.hops];
        if let Some(h) = out.get_mut(OP..XID) {
            h.copy_from_slice(&head);
        }
        put32(out, XID, self.xid);
        put16(out, SECS, self.secs);
        put16(out, FLAGS, if self.broadcast { BROADCAST_FLAG } else { 0 });
        for (at, a) in [
            (CIADDR, self.client_ip),
            (YIADDR, self.your_ip),
            (SIADDR, self.server_ip),
            (GIADDR, self.relay_agent_ip),
        ] {
            put32(out, at, u32::from(a));
        }
        for (at, bytes) in [
            (CHADDR, &self.client_hardware_address.0[..]),
            (SNAME, self.server_name),
            (FILE, self.boot_file),
            (FIXED_LEN, &MAGIC_COOKIE[..]),
        ] {
            if let Some(d) = out.get_mut(at..at + bytes.len()) {
                d.copy_from_slice(bytes);
            }
        }
        let mut w = OptionWriter {
            out,
            at: OPTIONS_OFFSET,
        };
        for (code, v) in self.typed_options().into_iter().flatten() {
            w.typed(code, v);
        }
        for o in self.other_options.iter() {
            w.option(o.code, &[o.data]);
        }
        w.option_byte(code::END);
        Ok(n)
    }
}

/// The value of a typed option, with its encoding.
#[derive(Clone, Copy)]
enum Value<'a> {
    Byte(u8),
    Bytes4([u8; 4]),
    List(Ipv4List<'a>),
    Raw(&'a [u8]),
    ClientId(ClientIdentifier<'a>),
}

impl Value<'_> {
    fn len(&self) -> usize {
        match self {
            Value::Byte(_) => 1,
            Value::Bytes4(_) => 4,
            Value::List(l) => 4 * l.len(),
            Value::Raw(r) => r.len(),
            Value::ClientId(c) => 1 + c.id.len(),
        }
    }
}

/// Appends options to an emit buffer whose length was computed beforehand.
struct OptionWriter<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl OptionWriter<'_> {
    fn option_byte(&mut self, b: u8) {
        if let Some(d) = self.out.get_mut(self.at) {
            *d = b;
        }
        self.at += 1;
    }
    fn bytes(&mut self, bytes: &[u8]) {
        if let Some(d) = self.out.get_mut(self.at..self.at + bytes.len()) {
            d.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
    /// Code, length, then the concatenation of `parts` (checked to be at most 255 bytes).
    fn option(&mut self, code: u8, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.option_byte(code);
        self.option_byte(u8::try_from(len).unwrap_or(u8::MAX));
        for p in parts {
            self.bytes(p);
        }
    }
    fn typed(&mut self, code: u8, v: Value<'_>) {
        match v {
            Value::Byte(b) => self.option(code, &[&[b]]),
            Value::Bytes4(b) => self.option(code, &[&b]),
            Value::Raw(r) => self.option(code, &[r]),
            Value::ClientId(c) => self.option(code, &[&[c.kind], c.id]),
            Value::List(l) => {
                self.option_byte(code);
                self.option_byte(u8::try_from(4 * l.len()).unwrap_or(u8::MAX));
                for a in l {
                    self.bytes(&a.octets());
                }
            }
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for DhcpRepr<'a> {
    /// Valid by construction: names without NUL within their fields, lists of 1..=63
    /// addresses, 1..=255-byte host names and request lists, canonical message types, and up
    /// to 16 untyped other options.
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        fn name<'a>(
            u: &mut arbitrary::Unstructured<'a>,
            max: usize,
        ) -> arbitrary::Result<&'a [u8]> {
            let n = u.int_in_range(0..=max)?;
            Ok(until_nul(u.bytes(n)?))
        }
        fn maybe<'a, T>(
            u: &mut arbitrary::Unstructured<'a>,
            f: impl FnOnce(&mut arbitrary::Unstructured<'a>) -> arbitrary::Result<T>,
        ) -> arbitrary::Result<Option<T>> {
            Ok(if u.arbitrary()? { Some(f(u)?) } else { None })
        }
        fn addr(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Ipv4Addr> {
            Ok(Ipv4Addr::from(u.arbitrary::<u32>()?))
        }
        fn list<'a>(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Ipv4List<'a>> {
            let n = u.int_in_range(1..=63usize)?;
            Ipv4List::from_bytes(u.bytes(4 * n)?).ok_or(arbitrary::Error::IncorrectFormat)
        }
        fn bytes<'a>(
            u: &mut arbitrary::Unstructured<'a>,
            min: usize,
            max: usize,
        ) -> arbitrary::Result<&'a [u8]> {
            let n = u.int_in_range(min..=max)?;
            u.bytes(n)
        }
        Ok(DhcpRepr {
            op: u.arbitrary()?,
            hops: u.arbitrary()?,
            xid: u.arbitrary()?,
            secs: u.arbitrary()?,
            broadcast: u.arbitrary()?,
            client_ip: addr(u)?,
            your_ip: addr(u)?,
            server_ip: addr(u)?,
            relay_agent_ip: addr(u)?,
            client_hardware_address: u.arbitrary()?,
            server_name: name(u, SNAME_LEN)?,
            boot_file: name(u, FILE_LEN)?,
            message_type: maybe(u, |u| u.arbitrary())?,
            subnet_mask: maybe(u, addr)?,
            routers: maybe(u, list)?,
            dns_servers: maybe(u, list)?,
            host_name: maybe(u, |u| bytes(u, 1, 255))?,
            requested_ip: maybe(u, addr)?,
            lease_time: maybe(u, |u| u.arbitrary())?,
            server_identifier: maybe(u, addr)?,
            parameter_request_list: maybe(u, |u| bytes(u, 1, 255))?,
            renewal_time: maybe(u, |u| u.arbitrary())?,
            rebinding_time: maybe(u, |u| u.arbitrary())?,
            client_identifier: maybe(u, |u| {
                Ok(ClientIdentifier {
                    kind: u.arbitrary()?,
                    id: bytes(u, 1, 254)?,
                })
            })?,
            other_options: u.arbitrary()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::{EtherType, EthernetFrame};

    const MAC: MacAddr = MacAddr([0x42, 0xb4, 0x44, 0xb4, 0xf0, 0xee]);

    /// A 240-byte header (op, Ethernet, xid 0x9edf45b0, chaddr MAC) with the magic cookie.
    fn header(op: u8) -> Vec<u8> {
        let mut b = vec![0u8; OPTIONS_OFFSET];
        b[..4].copy_from_slice(&[op, 1, 6, 0]);
        b[4..8].copy_from_slice(&0x9edf_45b0u32.to_be_bytes());
        b[CHADDR..CHADDR + 6].copy_from_slice(&MAC.0);
        b[FIXED_LEN..OPTIONS_OFFSET].copy_from_slice(&MAGIC_COOKIE);
        b
    }

    fn msg(op: u8, opts: &[u8]) -> Vec<u8> {
        let mut b = header(op);
        b.extend_from_slice(opts);
        b
    }

    fn parse(b: &[u8]) -> Result<DhcpRepr<'_>, DhcpError> {
        DhcpRepr::parse(&DhcpPacket::new_checked(b)?)
    }

    /// Emits `r` and parses it back.
    fn round_trip(r: &DhcpRepr<'_>) -> Vec<u8> {
        let mut out = vec![0u8; r.buffer_len()];
        assert_eq!(r.emit(&mut out).unwrap(), out.len());
        assert_eq!(&parse(&out).unwrap(), r);
        out
    }

    #[test]
    fn dhcp_parses_request_fields_and_emits_same_bytes() {
        // A DISCOVER with options in the order emit writes them, then 57 (kept), end, pad.
        let mut opts = vec![53, 1, 1, 61, 7, 1];
        opts.extend_from_slice(&MAC.0);
        opts.extend_from_slice(&[50, 4, 10, 0, 0, 7, 51, 4, 0, 0x76, 0xa7, 0]);
        opts.extend_from_slice(&[12, 10]);
        opts.extend_from_slice(b"MacBookPro");
        opts.extend_from_slice(&[55, 4, 1, 3, 6, 108, 57, 2, 0x05, 0xdc, 255]);
        let mut b = msg(1, &opts);
        b[8..10].copy_from_slice(&3u16.to_be_bytes()); // secs
        b[10] = 0x80; // broadcast
        b[SNAME..SNAME + 3].copy_from_slice(b"srv");
        b.resize(MIN_EMIT_LEN, 0);

        let p = DhcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.op(), DhcpOp::Request);
        assert_eq!((p.htype(), p.hlen(), p.hops()), (1, 6, 0));
        assert_eq!(p.xid(), 0x9edf_45b0);
        assert_eq!(p.secs(), 3);
        assert_eq!(p.flags(), 0x8000);
        assert!(p.broadcast());
        assert_eq!(p.client_hardware_addr(), &MAC.0);
        assert_eq!(p.chaddr().len(), 16);
        assert_eq!(&p.sname()[..4], b"srv\0");
        assert_eq!(p.overload(), None);
        assert_eq!(p.missing_end(), None);
        assert!(p.check_end().is_ok());
        let codes: Vec<u8> = p.options().map(|o| o.code).collect();
        assert_eq!(codes, [53, 61, 50, 51, 12, 55, 57]);

        let r = DhcpRepr::parse(&p).unwrap();
        assert_eq!(r.op, DhcpOp::Request);
        assert_eq!(r.message_type, Some(DhcpMessageType::Discover));
        assert!(r.broadcast);
        assert_eq!(r.secs, 3);
        assert_eq!(r.client_hardware_address, MAC);
        assert_eq!(r.server_name, b"srv");
        assert_eq!(r.boot_file, b"");
        assert_eq!(r.requested_ip, Some(Ipv4Addr::new(10, 0, 0, 7)));
        assert_eq!(r.lease_time, Some(7_776_000));
        assert_eq!(r.host_name, Some(&b"MacBookPro"[..]));
        assert_eq!(r.parameter_request_list, Some(&[1, 3, 6, 108][..]));
        assert_eq!(
            r.client_identifier,
            Some(ClientIdentifier {
                kind: 1,
                id: &MAC.0
            })
        );
        assert_eq!(r.other_options.len(), 1);
        assert_eq!(
            r.other_options.get(code::MAX_MESSAGE_SIZE),
            Some(&[5, 0xdc][..])
        );
        assert_eq!(r.routers, None);

        // Emit writes exactly these bytes (same option order, zero padding to 300).
        assert_eq!(r.buffer_len(), MIN_EMIT_LEN);
        let out = round_trip(&r);
        assert_eq!(out, b);
    }

    #[test]
    fn dhcp_header_errors() {
        let good = msg(2, &[255]);
        assert_eq!(
            DhcpPacket::new_checked(&good[..235]).unwrap_err(),
            DhcpError::Truncated {
                len: 235,
                needed: 236
            }
        );
        assert_eq!(
            DhcpPacket::new_checked(&[][..]).unwrap_err(),
            DhcpError::Truncated {
                len: 0,
                needed: 236
            }
        );
        let mut bad_op = good.clone();
        bad_op[0] = 3;
        assert_eq!(
            DhcpPacket::new_checked(&bad_op[..]).unwrap_err(),
            DhcpError::BadOpCode(3)
        );
        for len in 236..240 {
            assert_eq!(
                DhcpPacket::new_checked(&good[..len]).unwrap_err(),
                DhcpError::MissingMagicCookie { len }
            );
        }
        // RFC 951 BOOTP: a 64-byte vendor area of zeros.
        let mut bootp = good.clone();
        bootp.resize(300, 0);
        bootp[FIXED_LEN..OPTIONS_OFFSET].fill(0);
        assert_eq!(
            DhcpPacket::new_checked(&bootp[..]).unwrap_err(),
            DhcpError::PlainBootp
        );
        // dhcp-rfc4388 frame 43: the cookie shifted by a byte.
        let mut wrong = good.clone();
        wrong[FIXED_LEN..OPTIONS_OFFSET].copy_from_slice(&[0x53, 0x63, 0x35, 0x01]);
        let e = DhcpPacket::new_checked(&wrong[..]).unwrap_err();
        assert_eq!(
            e,
            DhcpError::WrongMagicCookie {
                found: [0x53, 0x63, 0x35, 0x01]
            }
        );
        assert_eq!(
            e.to_string(),
            "wrong DHCP magic cookie 83.99.53.1 (expected 99.130.83.99)"
        );
        // Hardware other than Ethernet: the view reads it, the Repr refuses it.
        let mut ib = good.clone();
        ib[1] = 32; // InfiniBand (RFC 4390): hlen 0
        ib[2] = 0;
        let p = DhcpPacket::new_checked(&ib[..]).unwrap();
        assert_eq!((p.htype(), p.hlen()), (32, 0));
        assert!(p.client_hardware_addr().is_empty());
        assert_eq!(
            DhcpRepr::parse(&p).unwrap_err(),
            DhcpError::UnsupportedHardware { htype: 32, hlen: 0 }
        );
        let mut long = good.clone();
        long[2] = 200;
        let p = DhcpPacket::new_checked(&long[..]).unwrap();
        assert_eq!(p.client_hardware_addr().len(), 16, "cut to chaddr");
        assert_eq!(
            DhcpRepr::parse(&p).unwrap_err(),
            DhcpError::UnsupportedHardware {
                htype: 1,
                hlen: 200
            }
        );
    }

    #[test]
    fn dhcp_option_framing_errors() {
        // Code 53 as the last byte: no length octet.
        assert_eq!(
            DhcpPacket::new_checked(&msg(1, &[53])[..]).unwrap_err(),
            DhcpError::OptionLengthMissing {
                code: 53,
                field: DhcpField::Options
            }
        );
        // Length 5 with one byte left.
        let e = DhcpPacket::new_checked(&msg(1, &[0, 0, 53, 5, 1])[..]).unwrap_err();
        assert_eq!(
            e,
            DhcpError::OptionOverrun {
                code: 53,
                len: 5,
                available: 1,
                field: DhcpField::Options
            }
        );
        assert_eq!(
            e.to_string(),
            "DHCP option 53 of length 5 runs past the options field (1 bytes left)"
        );
        // Overload: bad value, bad length.
        assert_eq!(
            DhcpPacket::new_checked(&msg(1, &[52, 1, 4, 255])[..]).unwrap_err(),
            DhcpError::InvalidOverload(4)
        );
        assert_eq!(
            DhcpPacket::new_checked(&msg(1, &[52, 2, 1, 1, 255])[..]).unwrap_err(),
            DhcpError::OptionLength {
                code: 52,
                len: 2,
                expected: "1"
            }
        );
        // An option running past the end of an overloaded file field (not into sname or
        // the cookie behind it).
        let mut b = msg(2, &[52, 1, 1, 255]);
        b[FILE + FILE_LEN - 3..FILE + FILE_LEN].copy_from_slice(&[66, 9, b'x']);
        assert_eq!(
            DhcpPacket::new_checked(&b[..]).unwrap_err(),
            DhcpError::OptionOverrun {
                code: 66,
                len: 9,
                available: 1,
                field: DhcpField::File
            }
        );
        let mut b = msg(2, &[52, 1, 2, 255]);
        b[SNAME + SNAME_LEN - 1] = 66;
        assert_eq!(
            DhcpPacket::new_checked(&b[..]).unwrap_err(),
            DhcpError::OptionLengthMissing {
                code: 66,
                field: DhcpField::Sname
            }
        );
        // Without overload the same bytes are just a name: no error.
        let mut b = msg(2, &[255]);
        b[SNAME + SNAME_LEN - 1] = 66;
        assert!(DhcpPacket::new_checked(&b[..]).is_ok());
    }

    #[test]
    fn dhcp_typed_option_length_and_duplicate_errors() {
        let cases: &[(&[u8], u8, usize, &str)] = &[
            (&[53, 2, 1, 1], 53, 2, "1"),
            (&[53, 0], 53, 0, "1"),
            (&[1, 3, 255, 255, 255], 1, 3, "4"),
            (&[50, 5, 1, 2, 3, 4, 5], 50, 5, "4"),
            (&[51, 2, 0, 1], 51, 2, "4"),
            (&[54, 0], 54, 0, "4"),
            (&[58, 8, 0, 0, 0, 1, 0, 0, 0, 1], 58, 8, "4"),
            (&[59, 1, 0], 59, 1, "4"),
            (&[3, 0], 3, 0, "a non-zero multiple of 4"),
            (&[3, 6, 1, 2, 3, 4, 5, 6], 3, 6, "a non-zero multiple of 4"),
            (&[6, 5, 1, 2, 3, 4, 5], 6, 5, "a non-zero multiple of 4"),
            (&[12, 0], 12, 0, "at least 1"),
            (&[55, 0], 55, 0, "at least 1"),
            (&[61, 1, 1], 61, 1, "at least 2"),
        ];
        for &(opts, code, len, expected) in cases {
            let mut o = opts.to_vec();
            o.push(255);
            let b = msg(1, &o);
            // The framing is fine: the view accepts it and iterates the option.
            let p = DhcpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(p.options().next().unwrap().code, code);
            assert_eq!(
                DhcpRepr::parse(&p).unwrap_err(),
                DhcpError::OptionLength {
                    code,
                    len,
                    expected
                },
                "{opts:?}"
            );
        }
        assert_eq!(
            parse(&msg(1, &[53, 2, 1, 1, 255])).unwrap_err().to_string(),
            "DHCP option 53 has length 2, expected 1"
        );
        assert_eq!(
            parse(&msg(1, &[53, 1, 1, 53, 1, 3, 255])).unwrap_err(),
            DhcpError::DuplicateOption { code: 53 }
        );
        // Overload repeated inside the overloaded file field.
        let mut b = msg(2, &[52, 1, 1, 255]);
        b[FILE..FILE + 4].copy_from_slice(&[52, 1, 1, 255]);
        assert_eq!(
            parse(&b).unwrap_err(),
            DhcpError::DuplicateOption { code: 52 }
        );
        // Untyped options may repeat (RFC 3396 split options are kept as they are).
        let b = msg(1, &[66, 1, b'a', 66, 1, b'b', 255]);
        let r = parse(&b).unwrap();
        let data: Vec<&[u8]> = r.other_options.iter().map(|o| o.data).collect();
        assert_eq!(data, [b"a", b"b"]);
    }

    #[test]
    fn dhcp_missing_end_is_lenient_but_reported() {
        let b = msg(2, &[53, 1, 5, 0, 0]);
        let p = DhcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.missing_end(), Some(DhcpField::Options));
        let e = p.check_end().unwrap_err();
        assert_eq!(
            e,
            DhcpError::MissingEnd {
                field: DhcpField::Options
            }
        );
        assert_eq!(
            e.to_string(),
            "DHCP options field does not end with the end option (255)"
        );
        let r = DhcpRepr::parse(&p).unwrap();
        assert_eq!(r.message_type, Some(DhcpMessageType::Ack));
        // Emit adds the end option.
        let out = round_trip(&r);
        assert_eq!(
            DhcpPacket::new_checked(&out[..]).unwrap().missing_end(),
            None
        );
        // No options at all: the options field is empty and has no end either.
        let b = header(2);
        let p = DhcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.missing_end(), Some(DhcpField::Options));
        assert_eq!(DhcpRepr::parse(&p).unwrap().message_type, None);
        // An overloaded sname without end is reported as such.
        let mut b = msg(2, &[52, 1, 2, 255]);
        b[SNAME..SNAME + SNAME_LEN].fill(0);
        let p = DhcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.missing_end(), Some(DhcpField::Sname));
    }

    #[test]
    fn dhcp_overload_reads_file_then_sname() {
        let mut b = msg(2, &[53, 1, 2, 52, 1, 3, 255]);
        let file = [15, 4, b'a', b'b', b'c', b'd', 54, 4, 10, 0, 0, 1, 255];
        b[FILE..FILE + file.len()].copy_from_slice(&file);
        let sname = [66, 3, b'x', b'y', b'z', 0, 255];
        b[SNAME..SNAME + sname.len()].copy_from_slice(&sname);
        let p = DhcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.overload(), Some(DhcpOverload::Both));
        assert_eq!(p.missing_end(), None);
        let codes: Vec<u8> = p.options().map(|o| o.code).collect();
        assert_eq!(
            codes,
            [53, 52, 15, 54, 66],
            "options, then file, then sname"
        );
        let r = DhcpRepr::parse(&p).unwrap();
        assert_eq!(r.server_name, b"", "sname holds options, not a name");
        assert_eq!(r.boot_file, b"");
        assert_eq!(r.message_type, Some(DhcpMessageType::Offer));
        assert_eq!(r.server_identifier, Some(Ipv4Addr::new(10, 0, 0, 1)));
        let other: Vec<(u8, &[u8])> = r.other_options.iter().map(|o| (o.code, o.data)).collect();
        assert_eq!(other, [(15, &b"abcd"[..]), (66, &b"xyz"[..])]);
        // Emit puts everything in the options field.
        let out = round_trip(&r);
        let p2 = DhcpPacket::new_checked(&out[..]).unwrap();
        assert_eq!(p2.overload(), None);
        assert!(p2.file().iter().all(|&x| x == 0));
        // Only file overloaded: sname is still a name.
        let mut b = msg(2, &[52, 1, 1, 255]);
        b[FILE..FILE + 5].copy_from_slice(&[66, 1, b'q', 255, 0]);
        b[SNAME..SNAME + 4].copy_from_slice(b"boot");
        let r = parse(&b).unwrap();
        assert_eq!(r.server_name, b"boot");
        assert_eq!(r.other_options.get(66), Some(&b"q"[..]));
    }

    #[test]
    fn dhcp_many_options_are_never_rejected() {
        // 700 untyped options (far more than any inline bound) plus typed ones.
        let mut opts = vec![53, 1, 3];
        for i in 0..700u32 {
            opts.extend_from_slice(&[224 + (i % 30) as u8, 1, i as u8]);
        }
        opts.extend_from_slice(&[6, 8, 1, 1, 1, 1, 8, 8, 8, 8, 255]);
        let b = msg(1, &opts);
        let r = parse(&b).unwrap();
        assert_eq!(r.other_options.len(), 700);
        assert_eq!(
            r.dns_servers.unwrap().iter().collect::<Vec<_>>(),
            [Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(8, 8, 8, 8)]
        );
        let out = round_trip(&r);
        assert_eq!(out.len(), OPTIONS_OFFSET + 3 + 700 * 3 + 10 + 1);
    }

    #[test]
    fn dhcp_emit_refuses_unencodable_and_small_buffer() {
        let addrs = [Ipv4Addr::new(10, 0, 0, 1); 64];
        let base_bytes = msg(2, &[53, 1, 5, 255]);
        let base = parse(&base_bytes).unwrap();
        let long = [b'a'; 300];
        let mut full = DhcpOptions::new();
        for _ in 0..MAX_INLINE_OPTIONS {
            full.try_push(DhcpOption {
                code: 200,
                data: b"",
            })
            .unwrap();
        }
        let typed_code = [DhcpOption {
            code: 53,
            data: &[1],
        }];
        let huge = [DhcpOption {
            code: 200,
            data: &[0; 256],
        }];
        let bad: Vec<(DhcpRepr<'_>, &str)> = vec![
            (
                DhcpRepr {
                    server_name: &long[..65],
                    ..base.clone()
                },
                "server_name",
            ),
            (
                DhcpRepr {
                    server_name: b"a\0b",
                    ..base.clone()
                },
                "server_name",
            ),
            (
                DhcpRepr {
                    boot_file: &long[..129],
                    ..base.clone()
                },
                "boot_file",
            ),
            (
                DhcpRepr {
                    message_type: Some(DhcpMessageType::Other(3)),
                    ..base.clone()
                },
                "message_type",
            ),
            (
                DhcpRepr {
                    routers: Some(Ipv4List::from_addrs(&[])),
                    ..base.clone()
                },
                "routers",
            ),
            (
                DhcpRepr {
                    dns_servers: Some(Ipv4List::from_addrs(&addrs)),
                    ..base.clone()
                },
                "dns_servers",
            ),
            (
                DhcpRepr {
                    host_name: Some(b""),
                    ..base.clone()
                },
                "host_name",
            ),
            (
                DhcpRepr {
                    parameter_request_list: Some(&long[..256]),
                    ..base.clone()
                },
                "parameter_request_list",
            ),
            (
                DhcpRepr {
                    client_identifier: Some(ClientIdentifier { kind: 1, id: b"" }),
                    ..base.clone()
                },
                "client_identifier",
            ),
            (
                DhcpRepr {
                    other_options: DhcpOptions::from_slice(&typed_code),
                    ..base.clone()
                },
                "other_options",
            ),
            (
                DhcpRepr {
                    other_options: DhcpOptions::from_slice(&huge),
                    ..base.clone()
                },
                "other_options",
            ),
        ];
        for (r, field) in bad {
            match r.emit(&mut [0u8; 2000]) {
                Err(EmitError::Unencodable { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        // Limits themselves are fine.
        let ok = DhcpRepr {
            server_name: &long[..64],
            boot_file: &long[..128],
            dns_servers: Some(Ipv4List::from_addrs(&addrs[..63])),
            parameter_request_list: Some(&long[..255]),
            message_type: Some(DhcpMessageType::Other(13)),
            other_options: full.clone(),
            ..base.clone()
        };
        let out = round_trip(&ok);
        assert!(out.len() > MIN_EMIT_LEN);
        // Full inline list refuses one more.
        let mut f2 = full;
        assert!(
            f2.try_push(DhcpOption {
                code: 201,
                data: b""
            })
            .is_err()
        );
        // Buffer too small, with the exact size in the error; padding to 300.
        assert_eq!(base.buffer_len(), 300);
        assert_eq!(
            base.emit(&mut [0u8; 299]),
            Err(EmitError::BufferTooSmall {
                needed: 300,
                available: 299
            })
        );
        let mut frame = vec![0xaau8; 42 + 310];
        assert_eq!(base.emit(&mut frame[42..]).unwrap(), 300);
        assert!(frame[..42].iter().all(|&x| x == 0xaa), "headroom untouched");
        assert!(frame[342..].iter().all(|&x| x == 0xaa), "tail untouched");
        assert_eq!(&frame[42 + 240..42 + 244], &[53, 1, 5, 255]);
        assert!(frame[42 + 244..342].iter().all(|&x| x == 0), "zero padding");
    }

    #[test]
    fn dhcp_lists_and_options_compare_by_content() {
        let bytes = [10, 0, 0, 1, 10, 0, 0, 2];
        let addrs = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
        let a = Ipv4List::from_bytes(&bytes).unwrap();
        let b = Ipv4List::from_addrs(&addrs);
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.first(), Some(addrs[0]));
        assert_eq!(a.iter().len(), 2);
        assert_ne!(a, Ipv4List::from_addrs(&addrs[..1]));
        assert!(Ipv4List::from_bytes(&bytes[..5]).is_none());
        assert_eq!(format!("{a:?}"), "[10.0.0.1, 10.0.0.2]");

        let opts = [
            DhcpOption {
                code: 15,
                data: b"example.org",
            },
            DhcpOption {
                code: 80,
                data: b"",
            },
        ];
        let s = DhcpOptions::from_slice(&opts);
        let mut i = DhcpOptions::new();
        assert!(i.is_empty());
        for o in opts {
            i.try_push(o).unwrap();
        }
        assert_eq!(s, i);
        assert_eq!(s.get(80), Some(&b""[..]));
        assert_eq!(s.get(81), None);
        // A parsed list (with typed options interleaved on the wire) equals them too.
        let mut wire = vec![53, 1, 1, 15, 11];
        wire.extend_from_slice(b"example.org");
        wire.extend_from_slice(&[54, 4, 1, 2, 3, 4, 80, 0, 255]);
        let b = msg(1, &wire);
        let r = parse(&b).unwrap();
        assert_eq!(r.other_options, s);
        assert_eq!(r.other_options.len(), 2);
        assert!(DhcpOptions::from_slice(&opts).try_push(opts[0]).is_err());
        assert_eq!(DhcpMessageType::from_value(13), DhcpMessageType::Other(13));
        assert_eq!(DhcpMessageType::Other(13).to_string(), "unknown (13)");
        assert_eq!(DhcpMessageType::Inform.value(), 8);
    }

    // ---- captures -------------------------------------------------------------------

    /// Frames of a pcap or pcapng Ethernet capture.
    fn capture(name: &str) -> Vec<Vec<u8>> {
        crate::testutil::ethernet_frames(name)
    }

    /// The UDP payload of an Ethernet/IPv4/UDP frame to or from port 67/68 (first fragment),
    /// read by hand: IHL from the first byte, 8 bytes of UDP, cut at the UDP length when it
    /// fits in what was captured.
    fn dhcp_payload(frame: &[u8]) -> Option<&[u8]> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        if eth.ethertype() != EtherType::IPV4 {
            return None;
        }
        let ip = frame.get(eth.header_len()..)?;
        let ihl = usize::from(ip.first()? & 0x0f) * 4;
        let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x1fff;
        if *ip.get(9)? != 17 || frag != 0 || ihl < 20 {
            return None;
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let ip = if (ihl..=ip.len()).contains(&total) {
            &ip[..total]
        } else {
            ip
        };
        let udp = ip.get(ihl..)?;
        let sport = u16::from_be_bytes([*udp.first()?, *udp.get(1)?]);
        let dport = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
        let is_dhcp = |p| p == SERVER_PORT || p == CLIENT_PORT;
        if !is_dhcp(sport) && !is_dhcp(dport) {
            return None;
        }
        let ulen = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
        let udp = if (8..=udp.len()).contains(&ulen) {
            &udp[..ulen]
        } else {
            udp
        };
        udp.get(8..)
    }

    #[derive(Debug, Default, PartialEq)]
    struct Tally {
        ok: usize,
        missing_end: usize,
        errors: Vec<DhcpError>,
    }

    /// Parses every DHCP message of a capture; the ones that parse must round-trip.
    fn tally(name: &str) -> (Tally, Vec<Vec<u8>>) {
        let mut t = Tally::default();
        let mut msgs = Vec::new();
        for f in capture(name) {
            let Some(m) = dhcp_payload(&f) else { continue };
            msgs.push(m.to_vec());
            let p = match DhcpPacket::new_checked(m) {
                Ok(p) => p,
                Err(e) => {
                    t.errors.push(e);
                    continue;
                }
            };
            t.missing_end += usize::from(p.missing_end().is_some());
            match DhcpRepr::parse(&p) {
                Ok(r) => {
                    round_trip(&r);
                    t.ok += 1;
                }
                Err(e) => t.errors.push(e),
            }
        }
        (t, msgs)
    }

    #[test]
    fn dhcp_captures_parse_and_round_trip() {
        // (capture, DHCP messages that parse). tshark and tcpdump decode all of them with
        // the cookie and an end option.
        for (name, ok) in [
            ("dhcp-option-33.pcap", 5),
            ("dhcp-rfc3004.pcap", 4),
            ("dhcp-rfc5859.pcap", 4),
            ("dhcp-mud.pcap", 2),
            ("dhcp-option-108.pcapng", 2),
            ("dhcpv4v6-rfc5970-rfc8572.pcap", 4),
        ] {
            let (t, _) = tally(name);
            assert_eq!(
                t,
                Tally {
                    ok,
                    missing_end: 0,
                    errors: vec![]
                },
                "{name}"
            );
        }
        // dhcp-rfc4388: 36 messages; frames 43 and 44 have shifted cookies (tcpdump prints
        // "Vendor-#0x53633501" and "Vendor-#0x82536335").
        let (t, _) = tally("dhcp-rfc4388.pcap");
        assert_eq!(t.ok, 34);
        assert_eq!(t.missing_end, 0);
        assert_eq!(
            t.errors,
            [
                DhcpError::WrongMagicCookie {
                    found: [0x53, 0x63, 0x35, 0x01]
                },
                DhcpError::WrongMagicCookie {
                    found: [0x82, 0x53, 0x63, 0x35]
                }
            ]
        );
    }

    #[test]
    fn dhcp_option_108_capture_fields() {
        // tcpdump -v of dhcp-option-108.pcapng.
        let (_, msgs) = tally("dhcp-option-108.pcapng");
        let d = parse(&msgs[0]).unwrap();
        assert_eq!(d.op, DhcpOp::Request);
        assert_eq!(d.xid, 0x9edf_45b0);
        assert_eq!(d.message_type, Some(DhcpMessageType::Discover));
        assert_eq!(d.client_hardware_address, MAC);
        assert_eq!(
            d.parameter_request_list,
            Some(&[1, 121, 3, 6, 15, 108, 114, 119, 252, 95, 44, 46][..])
        );
        assert_eq!(
            d.other_options.get(code::MAX_MESSAGE_SIZE),
            Some(&[0x05, 0xdc][..])
        );
        assert_eq!(
            d.client_identifier,
            Some(ClientIdentifier {
                kind: 1,
                id: &MAC.0
            })
        );
        assert_eq!(d.lease_time, Some(7_776_000));
        assert_eq!(d.host_name, Some(&b"MacBookPro"[..]));

        let o = parse(&msgs[1]).unwrap();
        assert_eq!(o.op, DhcpOp::Reply);
        assert_eq!(o.hops, 1);
        assert_eq!(o.message_type, Some(DhcpMessageType::Offer));
        assert_eq!(o.your_ip, Ipv4Addr::new(10, 56, 42, 232));
        assert_eq!(o.relay_agent_ip, Ipv4Addr::new(10, 56, 0, 2));
        assert_eq!(o.subnet_mask, Some(Ipv4Addr::new(255, 255, 0, 0)));
        assert_eq!(
            o.routers.unwrap().iter().collect::<Vec<_>>(),
            [Ipv4Addr::new(10, 56, 0, 1)]
        );
        assert_eq!(
            o.dns_servers.unwrap().iter().collect::<Vec<_>>(),
            [
                Ipv4Addr::new(31, 130, 229, 6),
                Ipv4Addr::new(31, 130, 229, 7)
            ]
        );
        assert_eq!(o.host_name, Some(&b"macbookpro"[..]));
        assert_eq!(o.lease_time, Some(3600));
        assert_eq!(o.server_identifier, Some(Ipv4Addr::new(31, 130, 229, 6)));
        let other: Vec<u8> = o.other_options.iter().map(|x| x.code).collect();
        assert_eq!(other, [15, 108]);
        assert_eq!(o.other_options.get(15), Some(&b"meeting.ietf.org"[..]));
        assert_eq!(o.other_options.get(108), Some(&900u32.to_be_bytes()[..]));
    }

    #[test]
    fn dhcp_rfc4388_and_mud_capture_fields() {
        // dhcp-rfc4388 frame 10: LEASEACTIVE (13) with T1/T2 and lease-query options 91/92.
        let (_, msgs) = tally("dhcp-rfc4388.pcap");
        let r = parse(&msgs[5]).unwrap();
        assert_eq!(r.message_type, Some(DhcpMessageType::Other(13)));
        assert!(r.renewal_time.is_some() && r.rebinding_time.is_some());
        let other: Vec<u8> = r.other_options.iter().map(|x| x.code).collect();
        assert_eq!(other, [92, 91]);
        // dhcp-mud frame 2: ACK with TZ-Name (101) "Europe/Berlin".
        let (_, msgs) = tally("dhcp-mud.pcap");
        let r = parse(&msgs[1]).unwrap();
        assert_eq!(r.message_type, Some(DhcpMessageType::Ack));
        assert_eq!(r.client_ip, Ipv4Addr::new(62, 12, 173, 123));
        assert_eq!(r.server_ip, Ipv4Addr::new(62, 12, 173, 114));
        assert_eq!(r.lease_time, Some(600));
        assert_eq!(r.other_options.get(101), Some(&b"Europe/Berlin"[..]));
        // dhcp-option-33 frame 4: static route option of length 3 (not a multiple of 8) is
        // an untyped option and kept as is.
        let (_, msgs) = tally("dhcp-option-33.pcap");
        let r = parse(&msgs[3]).unwrap();
        assert_eq!(r.other_options.get(33).map(<[u8]>::len), Some(3));
    }

    #[test]
    fn dhcp_truncated_bootp_captures() {
        // tcpdump: "BOOTP/DHCP, unknown (0x00) ... [|bootp]": 48 and 11 bytes of BOOTP were
        // captured behind IPv4 and UDP headers that claim far more.
        for (name, len) in [("bootp_asan.pcap", 48), ("bootp_asan-2.pcap", 11)] {
            let (t, msgs) = tally(name);
            assert_eq!(msgs.len(), 1, "{name}");
            assert_eq!(t.ok, 0);
            assert_eq!(
                t.errors,
                [DhcpError::Truncated { len, needed: 236 }],
                "{name}"
            );
        }
    }

    #[cfg(feature = "fuzzing")]
    #[test]
    fn dhcp_fuzz_body_on_captures_and_mutations() {
        use rand::{Rng, SeedableRng};
        let seed = 2132;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut msgs = Vec::new();
        for name in [
            "dhcp-rfc4388.pcap",
            "dhcp-option-33.pcap",
            "dhcp-rfc3004.pcap",
            "dhcp-rfc5859.pcap",
            "dhcp-mud.pcap",
            "dhcp-option-108.pcapng",
            "dhcpv4v6-rfc5970-rfc8572.pcap",
            "bootp_asan.pcap",
            "bootp_asan-2.pcap",
        ] {
            msgs.extend(tally(name).1);
        }
        let (mut runs, mut parsed) = (0, 0);
        for m in &msgs {
            crate::fuzzing::dhcp::dhcp_message(m);
            for _ in 0..300 {
                let mut x = m.clone();
                // Flip bytes, mostly in the options, sometimes cut or overload.
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..x.len());
                    x[at] = rng.r#gen();
                }
                if x.len() > OPTIONS_OFFSET && rng.gen_bool(0.2) {
                    x.truncate(rng.gen_range(OPTIONS_OFFSET..x.len()));
                }
                crate::fuzzing::dhcp::dhcp_message(&x);
                parsed += usize::from(parse(&x).is_ok());
                runs += 1;
            }
        }
        assert!(parsed > runs / 10, "{parsed} of {runs}");
        println!("{runs} mutated dhcp messages, {parsed} parsed");
    }

    #[cfg(feature = "arbitrary")]
    #[test]
    fn dhcp_arbitrary_round_trips() {
        use arbitrary::{Arbitrary, Unstructured};
        use rand::{RngCore, SeedableRng};
        let seed = 2131;
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut raw = vec![0u8; 8192];
        let mut out = vec![0u8; 8192];
        let (mut n, mut attempts, mut with_other) = (0, 0, 0);
        while n < 10_000 {
            attempts += 1;
            let len = 512 + (rng.next_u32() % 7680) as usize;
            rng.fill_bytes(&mut raw[..len]);
            let mut u = Unstructured::new(&raw[..len]);
            let Ok(r) = DhcpRepr::arbitrary(&mut u) else {
                continue;
            };
            let headroom = (rng.next_u32() % 64) as usize;
            let w = r.emit(&mut out[headroom..]).unwrap();
            assert_eq!(w, r.buffer_len());
            let p = DhcpPacket::new_checked(&out[headroom..headroom + w]).unwrap();
            assert_eq!(p.missing_end(), None);
            assert_eq!(p.xid(), r.xid);
            let back = DhcpRepr::parse(&p).unwrap();
            assert_eq!(back, r);
            with_other += usize::from(!r.other_options.is_empty());
            n += 1;
        }
        assert!(with_other > 1000, "{with_other}");
        println!("{n} dhcp round trips checked ({attempts} draws)");
    }
}
