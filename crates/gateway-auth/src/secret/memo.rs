//! A per-thread memo of the digests of secrets that recently authenticated.
//!
//! SHA-256 of a 28-byte key is about 3,500 instructions, the largest single cost of
//! admitting a request once the key table is in memory. A busy key is presented
//! thousands of times a second by the same few threads, so each thread remembers
//! the digests of the last keys that were accepted and hashes a key only the first
//! time it sees it.
//!
//! What the memo maps is secret → digest, nothing more: the key's entry is still
//! looked up by digest in the live table on every request, so a revoked, disabled or
//! expired key is refused exactly as before. Only secrets that matched a key are
//! remembered ([`remember`]), so unknown secrets sprayed at the gateway neither fill
//! nor evict it. A remembered secret is compared in constant time: how much of a
//! guess matched a remembered key does not show in the answer's timing.
//!
//! The memo holds plaintext secrets for as long as they stay hot; a process that can
//! be read holds the provider keys in plaintext too, so this widens nothing.

use std::cell::RefCell;
use std::hash::BuildHasher;

/// Slots per thread. Direct-mapped: a key lands in the slot its hash names, and two
/// hot keys that share one take turns (each then costs a digest, as without a memo).
const SLOTS: usize = 256;

/// Longer secrets are hashed every time rather than kept (a memo slot should not
/// pin a header-sized string).
const LONGEST: usize = 128;

/// A secret that authenticated, and its digest.
type Kept = (Box<[u8]>, [u8; 32]);

struct Memo {
    seed: foldhash::fast::RandomState,
    slots: Vec<Option<Kept>>,
}

impl Memo {
    fn slot(&self, secret: &[u8]) -> usize {
        // The low bits of a 64-bit hash index the table; the cast keeps them.
        (self.seed.hash_one(secret) as usize) % SLOTS
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo {
        seed: foldhash::fast::RandomState::default(),
        slots: Vec::new(),
    });
}

/// The SHA-256 of `secret`: from this thread's memo when it accepted `secret`
/// lately, else computed.
pub fn digest(secret: &str) -> [u8; 32] {
    let bytes = secret.as_bytes();
    if bytes.len() <= LONGEST {
        let known = MEMO.with_borrow(|memo| {
            let (kept, digest) = memo.slots.get(memo.slot(bytes))?.as_ref()?;
            super::bytes_equal(kept, bytes).then_some(*digest)
        });
        if let Some(digest) = known {
            return digest;
        }
    }
    super::digest(secret)
}

/// Keeps `digest` as the digest of `secret`, which has just authenticated.
pub fn remember(secret: &str, digest: [u8; 32]) {
    let bytes = secret.as_bytes();
    if bytes.len() > LONGEST {
        return;
    }
    MEMO.with_borrow_mut(|memo| {
        let at = memo.slot(bytes);
        if memo.slots.is_empty() {
            memo.slots.resize(SLOTS, None);
        }
        match &memo.slots[at] {
            Some((kept, _)) if super::bytes_equal(kept, bytes) => {}
            _ => memo.slots[at] = Some((bytes.into(), digest)),
        }
    });
}

/// Forgets every secret this thread remembers (tests).
#[cfg(test)]
fn forget_all() {
    MEMO.with_borrow_mut(|memo| memo.slots.clear());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_secret_gives_its_digest_and_nothing_else_is_remembered() {
        forget_all();
        let real = super::super::digest("pbk_alice");
        assert_eq!(digest("pbk_alice"), real);
        // A wrong digest kept for a secret is what the memo answers with: proof that
        // the answer came from the memo, not from hashing again.
        remember("pbk_alice", [7; 32]);
        assert_eq!(digest("pbk_alice"), [7; 32]);
        // Another secret is hashed, whichever slot it lands in.
        assert_eq!(digest("pbk_alicf"), super::super::digest("pbk_alicf"));
        assert_eq!(digest("pbk_alic"), super::super::digest("pbk_alic"));
        forget_all();
        assert_eq!(digest("pbk_alice"), real);
    }

    #[test]
    fn long_secrets_are_not_kept() {
        forget_all();
        let long = "k".repeat(LONGEST + 1);
        remember(&long, [7; 32]);
        assert_eq!(digest(&long), super::super::digest(&long));
    }

    #[test]
    fn each_thread_keeps_its_own() {
        forget_all();
        remember("pbk_bob", [9; 32]);
        let elsewhere = std::thread::spawn(|| digest("pbk_bob")).join().unwrap();
        assert_eq!(elsewhere, super::super::digest("pbk_bob"));
        assert_eq!(digest("pbk_bob"), [9; 32]);
    }
}
