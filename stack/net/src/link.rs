//! Links for the direct backend: weft-core's non-blocking [`Link`] plus readiness.
//!
//! The driver loop takes frames from a link until it has none, then asks the link to wake it
//! when it may have more ([`AsyncLink::poll_recv_ready`]) or room to send
//! ([`AsyncLink::poll_send_ready`]). A TAP fd does this with the reactor (tokio's `AsyncFd`),
//! the simulator with its event queue, [`memory::pair`] with stored wakers.

use core::task::{Context, Poll};
use weft_core::link::{Link, RxMeta, RxToken, TxMeta, TxToken};

/// A [`Link`] that can say when to try again.
pub trait AsyncLink: Link + 'static {
    /// `Ready` when `receive` may return a frame (spuriously ready is allowed); otherwise
    /// registers `cx`'s waker to be woken when one may have arrived.
    fn poll_recv_ready(&mut self, cx: &mut Context<'_>) -> Poll<()>;

    /// `Ready` when `transmit` may return a token; otherwise registers `cx`'s waker to be
    /// woken when there may be room.
    fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// [`AsyncLink`] in object-safe form, so one stack can have links of different types.
pub(crate) trait ErasedLink {
    /// Hands the next received frame to `f`; false when there was none.
    fn recv_with(&mut self, f: &mut dyn FnMut(&[u8], RxMeta)) -> bool;
    /// Lets `f` write a frame of `len` bytes into the link; false when the link is full.
    fn send_with(&mut self, len: usize, meta: TxMeta, f: &mut dyn FnMut(&mut [u8])) -> bool;
    fn poll_recv_ready(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

impl<L: AsyncLink> ErasedLink for L {
    fn recv_with(&mut self, f: &mut dyn FnMut(&[u8], RxMeta)) -> bool {
        match self.receive() {
            Some(rx) => {
                rx.consume(|frame, meta| f(frame, meta));
                true
            }
            None => false,
        }
    }

    fn send_with(&mut self, len: usize, meta: TxMeta, f: &mut dyn FnMut(&mut [u8])) -> bool {
        match self.transmit() {
            Some(tx) => {
                tx.consume(len, meta, |buf| f(buf));
                true
            }
            None => false,
        }
    }

    fn poll_recv_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        AsyncLink::poll_recv_ready(self, cx)
    }

    fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        AsyncLink::poll_send_ready(self, cx)
    }
}

pub mod memory {
    //! An in-memory Ethernet cable: two [`MemoryLink`]s, each end's transmissions the other's
    //! receptions, with a bounded queue per direction (back-pressure, not drops).

    use super::*;
    use core::task::Waker;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    #[derive(Debug, Default)]
    struct Direction {
        frames: VecDeque<Vec<u8>>,
        /// Woken when a frame is queued (the receiver waits here).
        rx_waker: Option<Waker>,
        /// Woken when a frame is taken (a blocked sender waits here).
        tx_waker: Option<Waker>,
    }

    #[derive(Debug)]
    struct Cable {
        dirs: [Direction; 2],
        capacity: usize,
        mtu: usize,
    }

    /// One end of an in-memory cable.
    #[derive(Debug)]
    pub struct MemoryLink {
        cable: Rc<RefCell<Cable>>,
        /// Index of the direction we receive from; we send on the other.
        side: usize,
    }

    /// A cable carrying frames up to `max_frame_len` bytes, holding at most `capacity`
    /// frames per direction.
    pub fn pair(capacity: usize, max_frame_len: usize) -> (MemoryLink, MemoryLink) {
        let cable = Rc::new(RefCell::new(Cable {
            dirs: [Direction::default(), Direction::default()],
            capacity: capacity.max(1),
            mtu: max_frame_len,
        }));
        (
            MemoryLink {
                cable: cable.clone(),
                side: 0,
            },
            MemoryLink { cable, side: 1 },
        )
    }

    /// A received frame.
    #[derive(Debug)]
    pub struct MemoryRx(Vec<u8>);

    impl RxToken for MemoryRx {
        fn consume<R>(self, f: impl FnOnce(&[u8], RxMeta) -> R) -> R {
            f(&self.0, RxMeta::default())
        }
    }

    /// Room for one frame.
    #[derive(Debug)]
    pub struct MemoryTx<'a>(&'a MemoryLink);

    impl TxToken for MemoryTx<'_> {
        fn consume<R>(self, len: usize, _meta: TxMeta, f: impl FnOnce(&mut [u8]) -> R) -> R {
            let mut frame = vec![0u8; len];
            let r = f(&mut frame);
            let mut cable = self.0.cable.borrow_mut();
            if let Some(d) = cable.dirs.get_mut(1 - self.0.side) {
                d.frames.push_back(frame);
                if let Some(w) = d.rx_waker.take() {
                    w.wake();
                }
            }
            r
        }
    }

    impl MemoryLink {
        fn with_dir<R>(&self, which: usize, f: impl FnOnce(&mut Direction, usize) -> R) -> R {
            let mut cable = self.cable.borrow_mut();
            let cap = cable.capacity;
            match cable.dirs.get_mut(which) {
                Some(d) => f(d, cap),
                // `side` is 0 or 1 by construction; both directions exist.
                None => f(&mut Direction::default(), cap),
            }
        }

        /// Frames waiting for this end to receive them.
        pub fn pending(&self) -> usize {
            self.with_dir(self.side, |d, _| d.frames.len())
        }
    }

    impl Link for MemoryLink {
        type Rx<'a> = MemoryRx;
        type Tx<'a> = MemoryTx<'a>;

        fn receive(&mut self) -> Option<MemoryRx> {
            self.with_dir(self.side, |d, _| {
                let f = d.frames.pop_front()?;
                if let Some(w) = d.tx_waker.take() {
                    w.wake();
                }
                Some(MemoryRx(f))
            })
        }

        fn transmit(&mut self) -> Option<MemoryTx<'_>> {
            let full = self.with_dir(1 - self.side, |d, cap| d.frames.len() >= cap);
            if full { None } else { Some(MemoryTx(self)) }
        }

        fn max_frame_len(&self) -> usize {
            self.cable.borrow().mtu
        }
    }

    impl AsyncLink for MemoryLink {
        fn poll_recv_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
            self.with_dir(self.side, |d, _| {
                if d.frames.is_empty() {
                    d.rx_waker = Some(cx.waker().clone());
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
        }

        fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
            self.with_dir(1 - self.side, |d, cap| {
                if d.frames.len() >= cap {
                    d.tx_waker = Some(cx.waker().clone());
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn frames_cross_and_back_pressure_holds() {
            let (mut a, mut b) = pair(2, 1514);
            for i in 0..2u8 {
                let tx = a.transmit().expect("room");
                tx.consume(3, TxMeta::default(), |buf| buf.fill(i));
            }
            assert!(a.transmit().is_none(), "a full direction refuses a token");
            assert_eq!(b.pending(), 2);
            let got = b.receive().expect("frame").consume(|f, _| f.to_vec());
            assert_eq!(got, vec![0, 0, 0]);
            assert!(a.transmit().is_some());
            assert!(b.transmit().is_some(), "the other direction is independent");
        }
    }
}
