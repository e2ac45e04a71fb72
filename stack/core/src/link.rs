//! The link seam (DESIGN.md, "The link seam"): what a link knows about a frame it hands over
//! or takes, and the token-based `Link` trait real adapters implement.

/// The state of a checksum as the link knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumState {
    /// Nothing known: the stack verifies in software (the default).
    #[default]
    Unknown,
    /// The device verified the transport and IP checksums (virtio-net
    /// `VIRTIO_NET_HDR_F_DATA_VALID`, Xen `NETRXF_data_validated`).
    Verified,
    /// The checksum fields are blank and to be filled by whoever sends the frame on (Xen
    /// netfront's `NETTXF_csum_blank`): received frames in this state are trusted.
    Blank,
}

/// Metadata of a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxMeta {
    /// What the link knows of the checksums.
    pub checksum: ChecksumState,
}

/// Metadata of a frame to transmit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxMeta {
    /// `Unknown`: checksums were computed in software. `Blank`: transport checksum left for
    /// the device (only when the link offers offload).
    pub checksum: ChecksumState,
    /// Segmentation size for a device that segments (TAP's virtio-net header); `None` when
    /// the frame goes out as it is.
    pub segment_size: Option<u16>,
}

/// A token to receive one frame: consuming it hands the frame to `f`.
pub trait RxToken {
    /// Calls `f` with the frame's bytes and metadata.
    fn consume<R>(self, f: impl FnOnce(&[u8], RxMeta) -> R) -> R;
}

/// A token to transmit one frame: the stack writes straight into the link's buffer.
pub trait TxToken {
    /// Calls `f` with a buffer of `len` bytes to fill, then sends it with `meta`.
    fn consume<R>(self, len: usize, meta: TxMeta, f: impl FnOnce(&mut [u8]) -> R) -> R;
}

/// Anything that moves Ethernet frames: a TAP device, a Xen ring pair, the simulator's link,
/// a pcap replay, an in-memory pair. Non-blocking, with back-pressure: `transmit` returns
/// `None` when the link cannot take a frame now.
pub trait Link {
    /// The receive token type.
    type Rx<'a>: RxToken
    where
        Self: 'a;
    /// The transmit token type.
    type Tx<'a>: TxToken
    where
        Self: 'a;
    /// A received frame, if one is waiting.
    fn receive(&mut self) -> Option<Self::Rx<'_>>;
    /// Room for one frame to send, if the link has it.
    fn transmit(&mut self) -> Option<Self::Tx<'_>>;
    /// The largest frame the link carries (Ethernet header included, FCS excluded).
    fn max_frame_len(&self) -> usize;
}

/// One pass of the generic driver loop (DESIGN.md, "The link seam") for a stack with a single
/// link on `iface`: every received frame in, due timers, then every frame the stack has out
/// (until the link pushes back). Returns how many frames went each way. The caller then waits
/// for a frame or for `stack.poll_timeout()`, and calls again.
///
/// A frame is written straight into the link's buffer through its transmit token, which is
/// given the frame's metadata first ([`crate::Stack::peek_transmit`]); when the link has no
/// room, the frame stays queued in the stack for the next pass.
pub fn drive_once<L: Link>(
    stack: &mut crate::Stack,
    link: &mut L,
    iface: crate::IfaceId,
    now: crate::Instant,
) -> (usize, usize) {
    let mut received = 0;
    while let Some(rx) = link.receive() {
        rx.consume(|frame, meta| stack.handle_frame(now, iface, frame, meta));
        received += 1;
    }
    if stack.poll_timeout().is_some_and(|t| t <= now) {
        stack.handle_timeout(now);
    }
    let mut sent = 0;
    while let Some((len, meta)) = stack.peek_transmit(now, iface) {
        let Some(tx) = link.transmit() else { break };
        tx.consume(len, meta, |buf| stack.poll_transmit(now, buf));
        sent += 1;
    }
    (received, sent)
}
