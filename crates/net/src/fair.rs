//! Inbound control requests, queued per partner and handed to the node round-robin (issue #16
//! item 2: "bounded queues everywhere a peer can push"; one partner must not starve another).
//!
//! Before: every inbound control request went straight into the node's one event channel
//! (256 slots), and a request that found it full was answered `Busy`; a partner sending
//! requests faster than the node answers them filled the channel, and *every* partner's
//! requests were then answered `Busy`.
//!
//! Now each partner has its own bounded queue ([`PER_PEER_QUEUE`]); only a request that finds
//! its own partner's queue full is answered `Busy`. Requests move from the queues into the
//! event channel one partner at a time in turn, and at most [`PER_PEER_IN_FLIGHT`] of one
//! partner's requests are in the channel or being handled at once; so a request of partner B
//! waits behind at most that many of a flooding partner H's, whatever H sends.
//!
//! ```text
//!  request from P ─► queue[P] (≤ PER_PEER_QUEUE, else Busy to P)
//!  ready: P1 → P2 → P3 …  (peers with queued requests, round-robin)
//!  next(): first ready peer with < PER_PEER_IN_FLIGHT in flight ─► event channel ─► node
//!  done(P) when the node's answer is sent
//! ```
//!
//! Pure bookkeeping, no IO: the actor owns one and drives it.

use std::collections::{HashMap, VecDeque};

use libp2p::PeerId;

/// Control requests one partner may have waiting before further ones are answered `Busy`.
pub(crate) const PER_PEER_QUEUE: usize = 64;
/// Control requests of one partner in the node's event channel or being handled at once.
pub(crate) const PER_PEER_IN_FLIGHT: usize = 4;

/// Per-partner bounded queues served round-robin, with an in-flight cap per partner.
#[derive(Debug)]
pub(crate) struct FairQueue<T> {
    queues: HashMap<PeerId, VecDeque<T>>,
    /// Partners with queued items, in the order they are served next.
    ready: VecDeque<PeerId>,
    in_flight: HashMap<PeerId, usize>,
    per_peer_queue: usize,
    per_peer_in_flight: usize,
}

impl<T> FairQueue<T> {
    pub(crate) fn new(per_peer_queue: usize, per_peer_in_flight: usize) -> Self {
        Self {
            queues: HashMap::new(),
            ready: VecDeque::new(),
            in_flight: HashMap::new(),
            per_peer_queue,
            per_peer_in_flight,
        }
    }

    /// Queues `item` from `peer`; gives it back when that peer's queue is full.
    pub(crate) fn push(&mut self, peer: PeerId, item: T) -> Result<(), T> {
        let queue = self.queues.entry(peer).or_default();
        if queue.len() >= self.per_peer_queue {
            return Err(item);
        }
        if queue.is_empty() {
            self.ready.push_back(peer);
        }
        queue.push_back(item);
        Ok(())
    }

    fn has_room(&self, peer: &PeerId) -> bool {
        self.in_flight.get(peer).copied().unwrap_or(0) < self.per_peer_in_flight
    }

    /// Whether [`next`](Self::next) would give an item.
    pub(crate) fn has_next(&self) -> bool {
        self.ready.iter().any(|p| self.has_room(p))
    }

    /// The next item, from the first partner in turn that is under its in-flight cap; counts it
    /// in flight until [`done`](Self::done).
    pub(crate) fn next(&mut self) -> Option<(PeerId, T)> {
        for _ in 0..self.ready.len() {
            let peer = self.ready.pop_front()?;
            if !self.has_room(&peer) {
                self.ready.push_back(peer);
                continue;
            }
            let queue = self.queues.get_mut(&peer)?;
            let item = queue.pop_front()?;
            if queue.is_empty() {
                self.queues.remove(&peer);
            } else {
                self.ready.push_back(peer);
            }
            *self.in_flight.entry(peer).or_default() += 1;
            return Some((peer, item));
        }
        None
    }

    /// One of `peer`'s items is answered.
    pub(crate) fn done(&mut self, peer: &PeerId) {
        if let Some(n) = self.in_flight.get_mut(peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(peer);
            }
        }
    }

    /// Takes every queued item (the node stopped taking requests).
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.ready.clear();
        self.queues.drain().flat_map(|(_, q)| q).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_peer_fills_only_its_own_queue_and_others_are_served_in_turn() {
        let (h, b) = (PeerId::random(), PeerId::random());
        let mut q = FairQueue::new(3, 2);
        for i in 0..3 {
            assert!(q.push(h, ("h", i)).is_ok());
        }
        assert_eq!(q.push(h, ("h", 3)), Err(("h", 3)), "H's own queue is full");
        assert!(q.push(b, ("b", 0)).is_ok(), "B still has room");
        // Round-robin: H, B, then H again; H is capped at 2 in flight.
        assert_eq!(q.next(), Some((h, ("h", 0))));
        assert_eq!(q.next(), Some((b, ("b", 0))));
        assert_eq!(q.next(), Some((h, ("h", 1))));
        assert!(!q.has_next(), "H has 2 in flight");
        assert_eq!(q.next(), None);
        q.done(&h);
        assert!(q.has_next());
        assert_eq!(q.next(), Some((h, ("h", 2))));
        assert!(!q.has_next());
        assert!(q.drain().is_empty());
    }
}
