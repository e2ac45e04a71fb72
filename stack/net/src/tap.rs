//! The Linux TAP adapter: a [`Link`] over a TAP device (`/dev/net/tun`, `IFF_TAP | IFF_NO_PI`),
//! non-blocking under tokio.
//!
//! A TAP device is an Ethernet interface whose far end is a file descriptor: every frame the
//! kernel sends out of the interface is one `read(2)`, every `write(2)` is one frame the kernel
//! receives on it. [`TapLink`] is that descriptor as a weft-core [`Link`] (receive and transmit
//! tokens over its own buffers) and an [`AsyncLink`] (readiness from tokio's reactor), so the
//! direct backend's driver can run a stack on it.
//!
//! # Setting up the kernel side
//!
//! The library never configures the host: it opens (or creates) the device and moves frames.
//! Addresses, routes and the link state are the caller's business, for example:
//!
//! ```text
//! ip tuntap add dev wtap0 mode tap user $USER   # optional: a persistent device this user may open
//! ip addr add 10.200.0.1/24 dev wtap0           # the host's address on the TAP network
//! ip link set wtap0 up
//! ip link set wtap0 mtu 1500                    # match TapLink::with_mtu
//! ```
//!
//! Without a persistent device, [`TapLink::open`] creates one; it vanishes when the link is
//! dropped (so configure it after opening). Creating or attaching needs `CAP_NET_ADMIN`, unless
//! the device is persistent and owned by the caller's user or group. A device lives in the
//! network namespace of the thread that opens it.
//!
//! # Runtime
//!
//! [`TapLink::open`] registers the descriptor with tokio's reactor, so it must be called inside
//! a tokio runtime with IO enabled (`Builder::enable_io` or `enable_all`; the direct backend's
//! [`block_on_local`](crate::tokio_rt::block_on_local) provides one), and the link must be
//! used on that runtime. Outside any runtime it returns [`TapError::NoRuntime`].
//!
//! # Receiving and transmitting
//!
//! [`Link::receive`] reads one frame with a non-blocking `read(2)` into a buffer sized for the
//! MTU ([`TapLink::with_mtu`], 1500 by default, so frames up to 1514 bytes). A frame larger
//! than that is cut by the kernel; the adapter reads one byte more than the largest frame to
//! notice, drops the frame and counts it ([`TapCounters::rx_truncated`]).
//! [`AsyncLink::poll_recv_ready`] reads too when the reactor reports the descriptor readable,
//! keeping the frame for the next `receive`, and clears tokio's readiness only when a read
//! would block, so interest is always registered before it returns `Pending`.
//!
//! [`Link::transmit`] hands out a token over the write buffer; consuming it writes the frame
//! with `write(2)`. If the kernel would block, the frame is kept (counted in
//! [`TapCounters::tx_would_block`]), `transmit` returns `None` until it has gone, and
//! [`AsyncLink::poll_send_ready`] sends it once the reactor reports the descriptor writable.
//! A frame is never dropped silently: one the kernel refuses is counted in
//! [`TapCounters::tx_errors`] and its error kept ([`TapLink::take_last_error`]).
//!
//! When the device goes away under an open link (`ip link del`), reads and writes fail with
//! `EBADFD`: the link counts the error, reports [`TapLink::is_gone`], and from then on
//! `poll_recv_ready` stays `Pending` (the descriptor would otherwise report an error forever
//! and a driver would spin). Frames given to a gone link are counted as transmit errors.
//!
//! # Offloads (the virtio-net header)
//!
//! Every per-frame header the device may add lives in [`Offload`]; only [`Offload::None`] is
//! implemented: frames are plain Ethernet, checksums are computed and verified in software,
//! received frames carry `RxMeta::default()`, and a frame whose `TxMeta` asks for an offload
//! (a blank checksum or a segment size) is refused and counted.
//!
//! A virtio-net variant (`IFF_VNET_HDR`) would change only [`Offload`] and the buffer sizes:
//! `open` would add `IFF_VNET_HDR` to the flags and set the header size
//! (`TUNSETVNETHDRSZ`, 12 bytes for `virtio_net_hdr_v1`) and the offloads the stack accepts
//! (`TUNSETOFFLOAD` with `TUN_F_CSUM`, `TUN_F_TSO4`); `Offload::header_len` would be 12, so
//! each read and write carries the header in front of the frame at the same place the empty
//! header sits now; `rx_meta` would map `VIRTIO_NET_HDR_F_DATA_VALID` to
//! `ChecksumState::Verified` and `NEEDS_CSUM` to `ChecksumState::Blank`; `write_tx_header`
//! would turn `ChecksumState::Blank` into `NEEDS_CSUM` with `csum_start`/`csum_offset` and
//! `segment_size` into `gso_type = TCPV4`, `gso_size`. The receive buffer would grow to 64 KiB
//! once segmentation offload is on (the kernel then hands over unsegmented TCP super-frames).
//! The read and write paths would not change shape.

#![allow(unsafe_code)]

use crate::link::AsyncLink;
use core::task::{Context, Poll};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use tokio::io::unix::AsyncFd;
use weft_core::link::{ChecksumState, Link, RxMeta, RxToken, TxMeta, TxToken};

/// The TUN/TAP clone device.
pub const CLONE_DEVICE: &str = "/dev/net/tun";
/// The MTU a link assumes until told otherwise ([`TapLink::with_mtu`]).
pub const DEFAULT_MTU: u16 = 1500;
/// The smallest MTU [`TapLink::with_mtu`] accepts (RFC 791 §3.1: every IPv4 module must
/// forward a 68-octet datagram without fragmenting it).
pub const MIN_MTU: u16 = 68;
/// Ethernet II header (no VLAN tag); the FCS is not part of what a TAP device moves.
const ETHERNET_HEADER_LEN: usize = 14;
/// `IFNAMSIZ`: an interface name and its NUL.
const IFNAMSIZ: usize = 16;
/// Truncated frames read and dropped in one go before a receive call gives up for now.
const MAX_SKIPPED_PER_CALL: usize = 64;

/// Why a TAP device could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TapError {
    /// The clone device is absent, or no TUN/TAP driver stands behind it.
    #[error(
        "{path} is missing or is not the TUN/TAP clone device ({source}): load the tun module \
         (`modprobe tun`) or create the device node (`mkdir -p /dev/net && mknod /dev/net/tun c 10 200`)"
    )]
    DeviceMissing {
        /// The clone device path tried.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The caller may not create or attach the device.
    #[error(
        "opening TAP device {name:?} needs CAP_NET_ADMIN: run as root or grant the capability \
         (`setcap cap_net_admin+ep <program>`), or have root create a persistent device this \
         user may open (`ip tuntap add dev {name} mode tap user <user>`) ({source})"
    )]
    PermissionDenied {
        /// The device name asked for.
        name: String,
        /// What the operating system said (`EPERM` from the kernel, or `EACCES` on the clone
        /// device's node).
        source: io::Error,
    },
    /// The name cannot name a network interface; nothing was opened.
    #[error("{name:?} cannot name a network interface: {problem}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// The device exists and another descriptor is attached to it.
    #[error(
        "TAP device {name:?} is busy: another open descriptor (another process?) is attached to \
         it; close that or pick another name"
    )]
    Busy {
        /// The device name.
        name: String,
    },
    /// A device of that name exists and cannot be attached as a plain TAP device.
    #[error(
        "a network device named {name:?} exists but is not a single-queue TAP device (a TUN \
         device, veth, bridge, multi-queue TAP, …): pick another name or remove it \
         (`ip link del {name}`)"
    )]
    WrongKind {
        /// The device name.
        name: String,
    },
    /// No tokio runtime is running on this thread.
    #[error(
        "TapLink::open must be called inside a tokio runtime with IO enabled \
         (Builder::enable_io or enable_all), on the thread that will use the link"
    )]
    NoRuntime,
    /// Anything else the operating system refused.
    #[error("{op} for TAP device {name:?} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The device name asked for.
        name: String,
        /// What the operating system said.
        source: io::Error,
    },
}

/// What is wrong with an interface name (the kernel's `dev_valid_name` rules, checked before
/// the clone device is touched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is empty.
    #[error("it is empty")]
    Empty,
    /// Longer than `IFNAMSIZ - 1`.
    #[error("it is {len} bytes long; interface names have at most 15 bytes")]
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// Contains a NUL byte.
    #[error("it contains a NUL byte")]
    Nul,
    /// Contains `/` (names are directory entries under /sys/class/net).
    #[error("it contains '/'")]
    Slash,
    /// Contains `:` (reserved for address aliases such as `eth0:1`).
    #[error("it contains ':'")]
    Colon,
    /// Contains whitespace.
    #[error("it contains whitespace")]
    Whitespace,
    /// `.` or `..`.
    #[error("'.' and '..' are not names")]
    Dots,
    /// A `%` that is not the single `%d` the kernel replaces with a free number.
    #[error("'%' may appear only once, as \"%d\" (the kernel then picks a free number)")]
    Percent,
}

/// What a [`TapLink`] has counted since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapCounters {
    /// Frames read and handed over (truncated ones excluded).
    pub rx_frames: u64,
    /// Bytes of those frames (Ethernet header included).
    pub rx_bytes: u64,
    /// Frames larger than the receive buffer (the MTU plus the Ethernet header), cut by the
    /// kernel and dropped.
    pub rx_truncated: u64,
    /// Reads that failed with an error other than "would block".
    pub rx_errors: u64,
    /// Frames written.
    pub tx_frames: u64,
    /// Bytes of those frames (Ethernet header included).
    pub tx_bytes: u64,
    /// Writes that would have blocked; the frame was kept and sent later.
    pub tx_would_block: u64,
    /// Frames not sent: the kernel refused them (device down, device gone, malformed), they
    /// exceeded the MTU, or they asked for an offload the link does not do.
    pub tx_errors: u64,
}

/// The per-frame header a TAP device exchanges with us, and what it can take off the stack's
/// hands (see the module docs for the virtio-net header this is shaped for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Offload {
    /// No header (`IFF_VNET_HDR` off): plain Ethernet frames, checksums in software.
    #[default]
    None,
}

impl Offload {
    /// Flags added to `IFF_TAP | IFF_NO_PI` when opening.
    fn open_flags(self) -> libc::c_short {
        match self {
            Offload::None => 0,
        }
    }

    /// Bytes in front of every frame read or written.
    fn header_len(self) -> usize {
        match self {
            Offload::None => 0,
        }
    }

    /// The metadata of a received frame, from its header.
    fn rx_meta(self, _header: &[u8]) -> RxMeta {
        match self {
            Offload::None => RxMeta::default(),
        }
    }

    /// Fills the header of a frame to write from its metadata; an error says why the frame
    /// cannot be sent as asked.
    fn write_tx_header(self, meta: &TxMeta, _header: &mut [u8]) -> Result<(), &'static str> {
        match self {
            Offload::None => {
                if meta.checksum == ChecksumState::Blank {
                    Err("frame with a blank checksum on a link without checksum offload")
                } else if meta.segment_size.is_some() {
                    Err("frame with a segment size on a link without segmentation offload")
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// A TAP device as a weft-core [`Link`] and an [`AsyncLink`].
///
/// Invariants: `rx_buf` holds `offload.header_len() + max_frame + 1` bytes (one spare byte
/// to notice truncation); `rx_ready` describes a frame inside it; `tx_pending` a frame
/// (header included) inside `tx_buf`.
pub struct TapLink {
    fd: AsyncFd<File>,
    name: String,
    offload: Offload,
    mtu: u16,
    /// `mtu` plus the Ethernet header.
    max_frame: usize,
    rx_buf: Vec<u8>,
    /// A frame read and not yet handed over: its length after the header, its metadata.
    rx_ready: Option<(usize, RxMeta)>,
    tx_buf: Vec<u8>,
    /// A frame the kernel would not take yet: its length with the header.
    tx_pending: Option<usize>,
    counters: TapCounters,
    last_error: Option<io::Error>,
    /// The kernel detached the descriptor (device deleted): nothing will arrive again.
    gone: bool,
}

impl core::fmt::Debug for TapLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TapLink")
            .field("name", &self.name)
            .field("fd", &self.fd.as_raw_fd())
            .field("mtu", &self.mtu)
            .field("offload", &self.offload)
            .field("counters", &self.counters)
            .field("gone", &self.gone)
            .finish_non_exhaustive()
    }
}

/// `struct ifreq` as TUNSETIFF reads and writes it: the name, then the flags at the start of
/// the union, padded to the full size of the C struct.
#[repr(C)]
struct IfReq {
    name: [libc::c_char; IFNAMSIZ],
    flags: libc::c_short,
    rest: [u8; IFREQ_REST],
}

const IFREQ_REST: usize =
    core::mem::size_of::<libc::ifreq>() - IFNAMSIZ - core::mem::size_of::<libc::c_short>();
const _: () = assert!(core::mem::size_of::<IfReq>() >= core::mem::size_of::<libc::ifreq>());

impl TapLink {
    /// Opens the TAP device `name` through [`CLONE_DEVICE`], attaching to an existing
    /// (persistent) device of that name or creating one. `name` may contain one `%d`, which
    /// the kernel replaces with a free number ([`TapLink::name`] gives the result).
    ///
    /// Must be called inside a tokio runtime with IO enabled (see the module docs).
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime built without IO (tokio panics when registering the descriptor).
    pub fn open(name: &str) -> Result<TapLink, TapError> {
        TapLink::open_at(CLONE_DEVICE, name)
    }

    /// [`TapLink::open`] through the clone device at `clone_device`.
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime built without IO.
    pub fn open_at(clone_device: impl AsRef<Path>, name: &str) -> Result<TapLink, TapError> {
        let path = clone_device.as_ref();
        let ifname = check_name(name).map_err(|problem| TapError::BadName {
            name: name.to_owned(),
            problem,
        })?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(TapError::NoRuntime);
        }
        let offload = Offload::default();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| open_error(path, name, e))?;
        let flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short | offload.open_flags();
        let actual = set_iff(&file, ifname, flags).map_err(|e| iff_error(path, name, e))?;
        TapLink::attach(file, actual, offload)
    }

    /// Wraps a non-blocking descriptor that moves one frame per read and write (a TAP device
    /// after TUNSETIFF; a datagram socket in tests), registering it with tokio's reactor.
    fn attach(file: File, name: String, offload: Offload) -> Result<TapLink, TapError> {
        // SAFETY: `file` owns its descriptor, which stays open until the `File` is dropped;
        // the `AsyncFd` takes the `File` by value and is the only owner from here on, and
        // `File::as_raw_fd` always returns that same descriptor.
        let fd = unsafe { AsyncFd::register(file) }.map_err(|e| TapError::Io {
            op: "registering with the tokio reactor",
            name: name.clone(),
            source: e.into_parts().1,
        })?;
        let mut link = TapLink {
            fd,
            name,
            offload,
            mtu: DEFAULT_MTU,
            max_frame: 0,
            rx_buf: Vec::new(),
            rx_ready: None,
            tx_buf: Vec::new(),
            tx_pending: None,
            counters: TapCounters::default(),
            last_error: None,
            gone: false,
        };
        link.size_buffers(DEFAULT_MTU);
        Ok(link)
    }

    /// Sets the MTU this link carries (at least [`MIN_MTU`]): frames up to `mtu + 14` bytes
    /// are received and sent. It should match the device's (`ip link set <name> mtu <mtu>`);
    /// larger frames from the kernel are dropped and counted as truncated.
    pub fn with_mtu(mut self, mtu: u16) -> TapLink {
        self.size_buffers(mtu.max(MIN_MTU));
        self
    }

    fn size_buffers(&mut self, mtu: u16) {
        self.mtu = mtu;
        self.max_frame = usize::from(mtu) + ETHERNET_HEADER_LEN;
        let hdr = self.offload.header_len();
        if self.rx_ready.is_some_and(|(len, _)| len > self.max_frame) {
            self.rx_ready = None;
            self.counters.rx_truncated += 1;
        }
        self.rx_buf.resize(hdr + self.max_frame + 1, 0);
        let tx_len = (hdr + self.max_frame).max(self.tx_pending.unwrap_or(0));
        self.tx_buf.resize(tx_len, 0);
    }

    /// The device's name as the kernel has it (with `%d` filled in).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MTU this link carries.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// The per-frame header in use.
    pub fn offload(&self) -> Offload {
        self.offload
    }

    /// What the link has counted so far.
    pub fn counters(&self) -> TapCounters {
        self.counters
    }

    /// The most recent read or write error (counted in `rx_errors`/`tx_errors`), once.
    pub fn take_last_error(&mut self) -> Option<io::Error> {
        self.last_error.take()
    }

    /// True once the kernel detached the descriptor (the device was deleted): the link will
    /// never receive again, and every frame given to it is counted as a transmit error.
    pub fn is_gone(&self) -> bool {
        self.gone
    }

    /// Reads frames until one is ready, none is waiting, or an error; truncated frames are
    /// dropped on the way. Never blocks.
    fn fill_rx(&mut self) {
        for _ in 0..MAX_SKIPPED_PER_CALL {
            if self.rx_ready.is_some() || self.gone {
                return;
            }
            let res = read_frame(self.fd.get_ref(), &mut self.rx_buf);
            match self.take_read(res) {
                ReadOutcome::Skipped => continue,
                ReadOutcome::Frame | ReadOutcome::Empty | ReadOutcome::Failed => return,
            }
        }
    }

    /// Accounts for one read.
    fn take_read(&mut self, res: io::Result<usize>) -> ReadOutcome {
        let hdr = self.offload.header_len();
        match res {
            Ok(n) if n > hdr + self.max_frame => {
                self.counters.rx_truncated += 1;
                ReadOutcome::Skipped
            }
            Ok(n) if n <= hdr => {
                // The kernel never hands over an empty frame; a short read is an error.
                self.counters.rx_errors += 1;
                self.last_error = Some(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("read of {n} bytes from TAP device {}", self.name),
                ));
                ReadOutcome::Skipped
            }
            Ok(n) => {
                let meta = self
                    .offload
                    .rx_meta(self.rx_buf.get(..hdr).unwrap_or_default());
                let len = n - hdr;
                self.rx_ready = Some((len, meta));
                self.counters.rx_frames += 1;
                self.counters.rx_bytes += len as u64;
                ReadOutcome::Frame
            }
            Err(e) if is_would_block(&e) => ReadOutcome::Empty,
            Err(e) => {
                self.counters.rx_errors += 1;
                self.note_error(e);
                ReadOutcome::Failed
            }
        }
    }

    /// Tries once to write the pending frame; true when it is still pending.
    fn flush(&mut self) -> bool {
        let Some(total) = self.tx_pending else {
            return false;
        };
        let res = write_frame(
            self.fd.get_ref(),
            self.tx_buf.get(..total).unwrap_or_default(),
        );
        self.take_write(res)
    }

    /// Accounts for one write of the pending frame; true when it is still pending.
    fn take_write(&mut self, res: io::Result<usize>) -> bool {
        let Some(total) = self.tx_pending else {
            return false;
        };
        match res {
            Err(e) if is_would_block(&e) => {
                self.counters.tx_would_block += 1;
                true
            }
            Ok(n) if n == total => {
                self.tx_pending = None;
                let len = total.saturating_sub(self.offload.header_len());
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += len as u64;
                false
            }
            Ok(n) => {
                // A TAP write takes the whole frame or nothing.
                self.tx_pending = None;
                self.counters.tx_errors += 1;
                self.last_error = Some(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("TAP device {} took {n} of {total} bytes", self.name),
                ));
                false
            }
            Err(e) => {
                self.tx_pending = None;
                self.counters.tx_errors += 1;
                self.note_error(e);
                false
            }
        }
    }

    /// Fills the write buffer through `f` and sends it (or keeps it for later).
    fn send<R>(&mut self, len: usize, meta: TxMeta, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let hdr = self.offload.header_len();
        let total = hdr + len;
        if self.tx_buf.len() < total {
            self.tx_buf.resize(total, 0);
        }
        let Some((header, body)) = self.tx_buf.split_at_mut_checked(hdr) else {
            // Unreachable: the buffer holds at least `hdr` bytes. Still give `f` its bytes.
            return f(&mut vec![0u8; len]);
        };
        let frame = body.get_mut(..len).unwrap_or_default();
        frame.fill(0);
        let r = f(frame);
        if len > self.max_frame {
            self.counters.tx_errors += 1;
            self.last_error = Some(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "frame of {len} bytes exceeds {} bytes, the MTU of TAP device {} plus the \
                     Ethernet header",
                    self.max_frame, self.name
                ),
            ));
            return r;
        }
        if let Err(why) = self.offload.write_tx_header(&meta, header) {
            self.counters.tx_errors += 1;
            self.last_error = Some(io::Error::new(io::ErrorKind::Unsupported, why));
            return r;
        }
        self.tx_pending = Some(total);
        self.flush();
        r
    }

    fn note_error(&mut self, e: io::Error) {
        if is_detached(&e) {
            self.gone = true;
        }
        self.last_error = Some(e);
    }
}

/// What one read gave.
enum ReadOutcome {
    /// A frame is ready.
    Frame,
    /// A frame was dropped (truncated or short); try again.
    Skipped,
    /// Nothing waiting.
    Empty,
    /// An error, counted.
    Failed,
}

/// A received frame, borrowed from the link's buffer.
#[derive(Debug)]
pub struct TapRx<'a> {
    frame: &'a [u8],
    meta: RxMeta,
}

impl RxToken for TapRx<'_> {
    fn consume<R>(self, f: impl FnOnce(&[u8], RxMeta) -> R) -> R {
        f(self.frame, self.meta)
    }
}

/// Room for one frame in the link's write buffer.
#[derive(Debug)]
pub struct TapTx<'a> {
    link: &'a mut TapLink,
}

impl TxToken for TapTx<'_> {
    fn consume<R>(self, len: usize, meta: TxMeta, f: impl FnOnce(&mut [u8]) -> R) -> R {
        self.link.send(len, meta, f)
    }
}

impl Link for TapLink {
    type Rx<'a> = TapRx<'a>;
    type Tx<'a> = TapTx<'a>;

    fn receive(&mut self) -> Option<TapRx<'_>> {
        if self.rx_ready.is_none() {
            self.fill_rx();
        }
        let (len, meta) = self.rx_ready.take()?;
        let hdr = self.offload.header_len();
        let frame = self.rx_buf.get(hdr..hdr + len)?;
        Some(TapRx { frame, meta })
    }

    fn transmit(&mut self) -> Option<TapTx<'_>> {
        if self.flush() {
            return None;
        }
        Some(TapTx { link: self })
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame
    }
}

impl AsyncLink for TapLink {
    fn poll_recv_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.rx_ready.is_some() {
            return Poll::Ready(());
        }
        for _ in 0..MAX_SKIPPED_PER_CALL {
            if self.gone {
                // Detached: the descriptor reports an error forever; nothing will arrive.
                return Poll::Pending;
            }
            let res = {
                let mut guard = match self.fd.poll_read_ready(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(guard)) => guard,
                    Poll::Ready(Err(e)) => {
                        // The reactor is gone (runtime shutting down): nothing will wake us.
                        self.counters.rx_errors += 1;
                        self.last_error = Some(e);
                        return Poll::Pending;
                    }
                };
                let buf = &mut self.rx_buf;
                match guard.try_io(|fd| read_frame(fd.get_ref(), buf)) {
                    Ok(res) => res,
                    // Would block: readiness cleared; polling again registers the waker.
                    Err(_would_block) => continue,
                }
            };
            match self.take_read(res) {
                ReadOutcome::Frame => return Poll::Ready(()),
                ReadOutcome::Skipped | ReadOutcome::Empty => continue,
                ReadOutcome::Failed if self.gone => return Poll::Pending,
                // Spuriously ready: the caller's receive will see the next frame or error.
                ReadOutcome::Failed => return Poll::Ready(()),
            }
        }
        // Many truncated frames in a row: let the caller come back.
        Poll::Ready(())
    }

    fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let Some(total) = self.tx_pending else {
                return Poll::Ready(());
            };
            let res = {
                let mut guard = match self.fd.poll_write_ready(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(guard)) => guard,
                    Poll::Ready(Err(e)) => {
                        // The reactor is gone: the frame cannot be sent.
                        self.tx_pending = None;
                        self.counters.tx_errors += 1;
                        self.last_error = Some(e);
                        return Poll::Ready(());
                    }
                };
                let buf = self.tx_buf.get(..total).unwrap_or_default();
                match guard.try_io(|fd| write_frame(fd.get_ref(), buf)) {
                    Ok(res) => res,
                    Err(_would_block) => {
                        self.counters.tx_would_block += 1;
                        continue;
                    }
                }
            };
            self.take_write(res);
        }
    }
}

/// One `read(2)`: one frame, or its first `buf.len()` bytes when it is longer (the kernel
/// cuts it and returns `buf.len()`, hence the spare byte in the receive buffer).
fn read_frame(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match (&*file).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// One `write(2)`: one whole frame.
fn write_frame(file: &File, frame: &[u8]) -> io::Result<usize> {
    loop {
        match (&*file).write(frame) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

fn is_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// The kernel detached the descriptor from its device (`EBADFD`: deleted or detached), or the
/// device is otherwise unusable for good.
fn is_detached(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADFD | libc::EBADF | libc::ENODEV | libc::ENXIO)
    )
}

/// Checks `name` against the kernel's rules (`dev_valid_name`, `__dev_alloc_name`) and lays
/// it out NUL-terminated for `ifreq`.
fn check_name(name: &str) -> Result<[libc::c_char; IFNAMSIZ], NameProblem> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(NameProblem::Empty);
    }
    if bytes.len() >= IFNAMSIZ {
        return Err(NameProblem::TooLong { len: bytes.len() });
    }
    if name == "." || name == ".." {
        return Err(NameProblem::Dots);
    }
    for &b in bytes {
        match b {
            0 => return Err(NameProblem::Nul),
            b'/' => return Err(NameProblem::Slash),
            b':' => return Err(NameProblem::Colon),
            // C's isspace: space, \t, \n, \v, \f, \r.
            b' ' | b'\t'..=b'\r' => return Err(NameProblem::Whitespace),
            _ => {}
        }
    }
    if let Some(at) = name.find('%') {
        let after = name.get(at + 1..).unwrap_or_default();
        if !after.starts_with('d') || after.get(1..).unwrap_or_default().contains('%') {
            return Err(NameProblem::Percent);
        }
    }
    let mut out = [0 as libc::c_char; IFNAMSIZ];
    for (o, &b) in out.iter_mut().zip(bytes) {
        *o = b as libc::c_char;
    }
    Ok(out)
}

/// TUNSETIFF: attaches `file` to the device `name` with `flags`, creating it if needed;
/// returns the device's name as the kernel has it.
fn set_iff(
    file: &File,
    name: [libc::c_char; IFNAMSIZ],
    flags: libc::c_short,
) -> io::Result<String> {
    let mut req = IfReq {
        name,
        flags,
        rest: [0; IFREQ_REST],
    };
    // SAFETY: `file` keeps the descriptor open for the call. TUNSETIFF reads and writes one
    // `struct ifreq` through the pointer; `req` is a live, exclusively borrowed #[repr(C)]
    // value at least as large as `struct ifreq` (asserted above) with a NUL-terminated name
    // (`check_name` leaves the last byte zero), so the kernel stays within it.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let actual: Vec<u8> = req
        .name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&actual).into_owned())
}

/// Classifies an error from opening the clone device.
fn open_error(path: &Path, name: &str, e: io::Error) -> TapError {
    match e.raw_os_error() {
        // No node; a node with no driver behind it (module not loaded); a path through a file.
        Some(libc::ENOENT | libc::ENODEV | libc::ENXIO | libc::ENOTDIR) => {
            TapError::DeviceMissing {
                path: path.to_owned(),
                source: e,
            }
        }
        Some(libc::EACCES | libc::EPERM) => TapError::PermissionDenied {
            name: name.to_owned(),
            source: e,
        },
        _ => TapError::Io {
            op: "opening the clone device",
            name: name.to_owned(),
            source: e,
        },
    }
}

/// Classifies an error from TUNSETIFF (the kernel's `tun_set_iff`).
fn iff_error(path: &Path, name: &str, e: io::Error) -> TapError {
    match e.raw_os_error() {
        // No CAP_NET_ADMIN in the device's namespace, or a persistent device owned by another
        // user or group.
        Some(libc::EPERM | libc::EACCES) => TapError::PermissionDenied {
            name: name.to_owned(),
            source: e,
        },
        // A single-queue device with a descriptor already attached.
        Some(libc::EBUSY) => TapError::Busy {
            name: name.to_owned(),
        },
        // The name is valid (checked), so: a device of another kind, or a TAP device with
        // other queue flags.
        Some(libc::EINVAL) => TapError::WrongKind {
            name: name.to_owned(),
        },
        // The path opened is not the TUN/TAP clone device.
        Some(libc::ENOTTY) => TapError::DeviceMissing {
            path: path.to_owned(),
            source: e,
        },
        _ => TapError::Io {
            op: "TUNSETIFF",
            name: name.to_owned(),
            source: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_names_follow_the_kernel_rules() {
        assert!(check_name("wtap0").is_ok());
        assert!(check_name("tap%d").is_ok());
        assert!(check_name("a23456789012345").is_ok());
        assert_eq!(check_name(""), Err(NameProblem::Empty));
        assert_eq!(
            check_name("a234567890123456"),
            Err(NameProblem::TooLong { len: 16 })
        );
        assert_eq!(check_name("a\0b"), Err(NameProblem::Nul));
        assert_eq!(check_name("a/b"), Err(NameProblem::Slash));
        assert_eq!(check_name("eth0:1"), Err(NameProblem::Colon));
        assert_eq!(check_name("a b"), Err(NameProblem::Whitespace));
        assert_eq!(check_name("a\u{b}b"), Err(NameProblem::Whitespace));
        assert_eq!(check_name("."), Err(NameProblem::Dots));
        assert_eq!(check_name(".."), Err(NameProblem::Dots));
        assert_eq!(check_name("a%s"), Err(NameProblem::Percent));
        assert_eq!(check_name("a%d%d"), Err(NameProblem::Percent));
        assert_eq!(check_name("a%"), Err(NameProblem::Percent));
        let laid = check_name("ab").unwrap();
        assert_eq!(laid[0], b'a' as libc::c_char);
        assert_eq!(laid[2], 0);
    }

    #[test]
    fn tap_offload_none_refuses_offloaded_frames() {
        let none = Offload::None;
        assert_eq!(none.header_len(), 0);
        assert_eq!(none.rx_meta(&[]), RxMeta::default());
        assert!(none.write_tx_header(&TxMeta::default(), &mut []).is_ok());
        let blank = TxMeta {
            checksum: ChecksumState::Blank,
            ..TxMeta::default()
        };
        assert!(none.write_tx_header(&blank, &mut []).is_err());
        let tso = TxMeta {
            segment_size: Some(1448),
            ..TxMeta::default()
        };
        assert!(none.write_tx_header(&tso, &mut []).is_err());
    }

    /// A link over one end of a datagram socket pair (one frame per read and write, cut to
    /// the buffer like a TAP read), and the other end standing in for the kernel.
    fn socket_link() -> (TapLink, std::os::unix::net::UnixDatagram) {
        let (ours, peer) = std::os::unix::net::UnixDatagram::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        peer.set_nonblocking(true).unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(ours));
        let link = TapLink::attach(file, "pair".to_owned(), Offload::None).unwrap();
        (link, peer)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn noop_cx() -> Context<'static> {
        Context::from_waker(std::task::Waker::noop())
    }

    #[test]
    fn tap_receive_cuts_nothing_up_to_the_mtu_and_counts_the_rest() {
        let rt = runtime();
        rt.block_on(async {
            let (mut link, peer) = socket_link();
            assert!(link.receive().is_none());
            assert_eq!(link.poll_recv_ready(&mut noop_cx()), Poll::Pending);
            for len in [60usize, 1514, 1515, 9000, 0, 42] {
                let frame: Vec<u8> = (0..len).map(|i| i as u8).collect();
                peer.send(&frame).unwrap();
            }
            let mut got = Vec::new();
            loop {
                while let Some(rx) = link.receive() {
                    got.push(rx.consume(|f, meta| {
                        assert_eq!(meta, RxMeta::default());
                        f.to_vec()
                    }));
                }
                if got.len() == 3 {
                    break;
                }
                tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    core::future::poll_fn(|cx| link.poll_recv_ready(cx)),
                )
                .await
                .unwrap();
            }
            let lens: Vec<usize> = got.iter().map(Vec::len).collect();
            assert_eq!(lens, [60, 1514, 42]);
            assert_eq!(got[1][1513], (1513 % 256) as u8);
            let c = link.counters();
            assert_eq!((c.rx_frames, c.rx_bytes), (3, 60 + 1514 + 42));
            assert_eq!(c.rx_truncated, 2, "1515 and 9000 bytes exceed 1514");
            assert_eq!(c.rx_errors, 1, "the empty read");
            assert!(!link.is_gone());
        });
    }

    #[test]
    fn tap_would_block_keeps_the_frame_until_send_ready() {
        let rt = runtime();
        rt.block_on(async {
            let (mut link, peer) = socket_link();
            // Let the reactor see the socket writable: from now on tokio believes it is.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            // Fill the socket until a write would block; each frame carries its number.
            let mut consumed = 0u32;
            while let Some(tx) = link.transmit() {
                tx.consume(60, TxMeta::default(), |buf| {
                    buf[..4].copy_from_slice(&consumed.to_be_bytes())
                });
                consumed += 1;
                assert!(consumed < 1_000_000, "the socket never filled");
            }
            let c = link.counters();
            assert_eq!(
                c.tx_would_block, 2,
                "the blocked write and transmit's retry"
            );
            assert_eq!(
                c.tx_frames,
                u64::from(consumed) - 1,
                "one frame is held back"
            );
            assert_eq!(c.tx_errors, 0);

            // The peer reads once our first poll has returned Pending (tokio still believes
            // the socket writable, so that poll meets the full socket itself); only the
            // reactor can wake us then, and the held frame goes out.
            let (polled, first_poll_done) = std::sync::mpsc::channel::<()>();
            let reader = std::thread::spawn(move || {
                first_poll_done.recv().unwrap();
                let mut seen = Vec::new();
                let mut buf = [0u8; 100];
                while let Ok(n) = peer.recv(&mut buf) {
                    assert_eq!(n, 60);
                    seen.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
                }
                (peer, seen)
            });
            let mut first = None;
            // The timer first: a lost wake-up must fail, not be rescued by the timer's.
            tokio::select! {
                biased;
                () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
                    panic!("poll_send_ready was never woken")
                }
                () = core::future::poll_fn(|cx| {
                    let r = link.poll_send_ready(cx);
                    if first.is_none() {
                        first = Some(r);
                        polled.send(()).unwrap();
                    }
                    r
                }) => {}
            }
            let (peer, mut seen) = reader.join().unwrap();
            assert_eq!(first, Some(Poll::Pending));
            assert_eq!(link.counters().tx_frames, u64::from(consumed));
            assert!(link.transmit().is_some());
            // The held frame may have reached the reader already; the rest is here.
            let mut buf = [0u8; 100];
            while let Ok(n) = peer.recv(&mut buf) {
                assert_eq!(n, 60);
                seen.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
            }
            assert_eq!(
                seen,
                (0..consumed).collect::<Vec<u32>>(),
                "every frame, in order"
            );
        });
    }

    #[test]
    fn tap_ifreq_is_as_large_as_the_c_struct() {
        assert_eq!(
            core::mem::size_of::<IfReq>(),
            core::mem::size_of::<libc::ifreq>()
        );
        // The flags sit at the start of the union, right after the name.
        assert_eq!(core::mem::offset_of!(IfReq, flags), IFNAMSIZ);
    }
}
