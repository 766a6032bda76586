//! [`OfferGate`]: one offer at a time on the connection we offer on. JSEP lets a side make a
//! new offer only from the stable state, once its last offer is answered (RFC 8829 §5.2,
//! §4.1.8); livekit-client keeps the same rule with its `renegotiate` flag
//! (`PCTransport.ts` `negotiate`/`createAndSendOffer`). An offer wanted meanwhile — the SFU's
//! `MediaSectionsRequirement` arriving while our first offer waits — is made once the answer is
//! in, and several wanted meanwhile make one. I/O-free.

/// Whether an offer may be made now. See the module documentation.
#[derive(Debug, Default)]
pub struct OfferGate {
    /// Our last offer waits for its answer.
    pending: bool,
    /// … and another is wanted once it is in.
    again: bool,
}

impl OfferGate {
    /// An offer is wanted (our track was published, the SFU asked for one). `true`: make and
    /// send it now (it is then pending); `false`: one is pending, and another follows its answer.
    pub fn want(&mut self) -> bool {
        if self.pending {
            self.again = true;
            false
        } else {
            self.pending = true;
            true
        }
    }

    /// The answer to our offer came. `true`: make and send the offer wanted meanwhile (it is
    /// then pending).
    pub fn answered(&mut self) -> bool {
        self.pending = std::mem::take(&mut self.again);
        self.pending
    }

    /// The offer [`want`](Self::want) allowed could not be made or sent: none is pending (an
    /// offer wanted meanwhile is still wanted at the next answer or `want`).
    pub fn failed(&mut self) {
        self.pending = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_offer_goes_at_once_and_one_wanted_meanwhile_follows_its_answer() {
        let mut gate = OfferGate::default();
        assert!(gate.want(), "nothing pending: offer now");
        assert!(!gate.want(), "pending: wait");
        assert!(!gate.want(), "still one more, not two");
        assert!(
            gate.answered(),
            "the answer releases the one wanted meanwhile"
        );
        assert!(!gate.answered(), "its answer: nothing more wanted");
        assert!(gate.want(), "stable again: offer now");
    }

    #[test]
    fn an_answer_with_nothing_wanted_leaves_the_gate_open() {
        let mut gate = OfferGate::default();
        assert!(gate.want());
        assert!(!gate.answered());
        assert!(gate.want());
    }

    #[test]
    fn a_failed_offer_does_not_block_the_next() {
        let mut gate = OfferGate::default();
        assert!(gate.want());
        gate.failed();
        assert!(gate.want());
        assert!(!gate.want());
        gate.failed();
        assert!(gate.want(), "a failure frees the gate");
    }
}
