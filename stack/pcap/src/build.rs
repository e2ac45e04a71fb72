//! Test-only builders of pcap and pcapng byte streams, field by field, so tests can make
//! every kind of damage on purpose.

use crate::Endianness;

fn u16b(order: Endianness, v: u16) -> [u8; 2] {
    match order {
        Endianness::Big => v.to_be_bytes(),
        Endianness::Little => v.to_le_bytes(),
    }
}

fn u32b(order: Endianness, v: u32) -> [u8; 4] {
    match order {
        Endianness::Big => v.to_be_bytes(),
        Endianness::Little => v.to_le_bytes(),
    }
}

/// A pcap file under construction.
pub(crate) struct Pcap {
    pub(crate) order: Endianness,
    pub(crate) bytes: Vec<u8>,
}

impl Pcap {
    pub(crate) fn new(order: Endianness, magic: u32, snaplen: u32, link_field: u32) -> Pcap {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&u32b(order, magic));
        bytes.extend_from_slice(&u16b(order, 2));
        bytes.extend_from_slice(&u16b(order, 4));
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&u32b(order, snaplen));
        bytes.extend_from_slice(&u32b(order, link_field));
        Pcap { order, bytes }
    }

    /// Appends a record; returns its offset.
    pub(crate) fn record(&mut self, secs: u32, frac: u32, data: &[u8], orig_len: u32) -> usize {
        self.record_with_caplen(secs, frac, data.len() as u32, data, orig_len)
    }

    pub(crate) fn record_with_caplen(
        &mut self,
        secs: u32,
        frac: u32,
        caplen: u32,
        data: &[u8],
        orig_len: u32,
    ) -> usize {
        let offset = self.bytes.len();
        for v in [secs, frac, caplen, orig_len] {
            self.bytes.extend_from_slice(&u32b(self.order, v));
        }
        self.bytes.extend_from_slice(data);
        offset
    }
}

/// A pcapng file under construction.
pub(crate) struct PcapNg {
    pub(crate) order: Endianness,
    pub(crate) bytes: Vec<u8>,
}

/// Encodes options (code, value) with padding and an end-of-options marker.
pub(crate) fn options(order: Endianness, opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (code, value) in opts {
        b.extend_from_slice(&u16b(order, *code));
        b.extend_from_slice(&u16b(order, value.len() as u16));
        b.extend_from_slice(value);
        while b.len() % 4 != 0 {
            b.push(0);
        }
    }
    if !opts.is_empty() {
        b.extend_from_slice(&[0; 4]);
    }
    b
}

impl PcapNg {
    pub(crate) fn new(order: Endianness) -> PcapNg {
        let mut ng = PcapNg {
            order,
            bytes: Vec::new(),
        };
        ng.section(order, &[]);
        ng
    }

    /// Appends a section header block in `order` (which then applies).
    pub(crate) fn section(&mut self, order: Endianness, opts: &[(u16, &[u8])]) -> usize {
        self.order = order;
        let mut body = Vec::new();
        body.extend_from_slice(&u32b(order, 0x1a2b_3c4d));
        body.extend_from_slice(&u16b(order, 1));
        body.extend_from_slice(&u16b(order, 0));
        body.extend_from_slice(&[0xff; 8]);
        body.extend_from_slice(&options(order, opts));
        self.block(0x0a0d_0d0a, &body)
    }

    /// Appends a block of `block_type` around `body` (padded); returns its offset.
    pub(crate) fn block(&mut self, block_type: u32, body: &[u8]) -> usize {
        let offset = self.bytes.len();
        let padded = body.len().div_ceil(4) * 4;
        let total = (padded + 12) as u32;
        self.bytes.extend_from_slice(&u32b(self.order, block_type));
        self.bytes.extend_from_slice(&u32b(self.order, total));
        self.bytes.extend_from_slice(body);
        self.bytes.resize(offset + 8 + padded, 0);
        self.bytes.extend_from_slice(&u32b(self.order, total));
        offset
    }

    pub(crate) fn interface(&mut self, link: u16, snaplen: u32, opts: &[(u16, &[u8])]) -> usize {
        let order = self.order;
        let mut body = Vec::new();
        body.extend_from_slice(&u16b(order, link));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&u32b(order, snaplen));
        body.extend_from_slice(&options(order, opts));
        self.block(1, &body)
    }

    pub(crate) fn enhanced(
        &mut self,
        interface: u32,
        ticks: u64,
        data: &[u8],
        orig_len: u32,
        opts: &[(u16, &[u8])],
    ) -> usize {
        let order = self.order;
        let mut body = Vec::new();
        body.extend_from_slice(&u32b(order, interface));
        body.extend_from_slice(&u32b(order, (ticks >> 32) as u32));
        body.extend_from_slice(&u32b(order, ticks as u32));
        body.extend_from_slice(&u32b(order, data.len() as u32));
        body.extend_from_slice(&u32b(order, orig_len));
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        body.extend_from_slice(&options(order, opts));
        self.block(6, &body)
    }

    pub(crate) fn simple(&mut self, orig_len: u32, data: &[u8]) -> usize {
        let mut body = u32b(self.order, orig_len).to_vec();
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    pub(crate) fn obsolete_packet(
        &mut self,
        interface: u16,
        ticks: u64,
        data: &[u8],
        orig_len: u32,
    ) -> usize {
        let order = self.order;
        let mut body = Vec::new();
        body.extend_from_slice(&u16b(order, interface));
        body.extend_from_slice(&u16b(order, 0));
        body.extend_from_slice(&u32b(order, (ticks >> 32) as u32));
        body.extend_from_slice(&u32b(order, ticks as u32));
        body.extend_from_slice(&u32b(order, data.len() as u32));
        body.extend_from_slice(&u32b(order, orig_len));
        body.extend_from_slice(data);
        self.block(2, &body)
    }

    /// Overwrites the u32 at `at` in the current byte order.
    pub(crate) fn put32(&mut self, at: usize, v: u32) {
        let b = u32b(self.order, v);
        self.bytes[at..at + 4].copy_from_slice(&b);
    }
}
