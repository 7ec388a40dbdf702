//! What the grouping engine's tests share: one group root, members' credentials under it, and
//! a loop that delivers every datagram among members until nothing moves.

use ed25519_dalek::SigningKey;

use super::member::Member;
use super::membership::{Credentials, GroupRoot, Role};
use super::time::PeerTime;

/// The peer time every test starts at.
pub(super) const NOW: PeerTime = PeerTime(133_000_000_000_000_000);

/// The root of the group every test runs in.
pub(super) fn root() -> GroupRoot {
    GroupRoot::from_secret(&[1; 32])
}

/// The credentials of the member whose key comes from the secret `[secret; 32]`: invited by
/// `root` as `role`, valid from just before [`NOW`] for a day.
pub(super) fn credentials(root: &GroupRoot, secret: u8, role: Role) -> Credentials {
    let key = SigningKey::from_bytes(&[secret; 32]).verifying_key().to_bytes();
    let certificate = root.invite(&key, role, PeerTime(NOW.0 - 1), NOW.plus_seconds(86_400));
    Credentials::new(&[secret; 32], certificate).unwrap()
}

/// Delivers every datagram among `members` (addressed by index) until nothing moves; fails
/// the test if they are still talking after 10,000 rounds.
pub(super) fn settle(members: &mut [Member<usize>], now: PeerTime) {
    for _ in 0..10_000 {
        let mut moved = false;
        for from in 0..members.len() {
            while let Some((to, bytes)) = members[from].poll_transmit(now) {
                let _ = members[to].handle_datagram(from, &bytes, now);
                moved = true;
            }
        }
        if !moved {
            return;
        }
    }
    panic!("the members did not settle");
}
