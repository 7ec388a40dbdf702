//! Writes the seed corpus of `decode_group_message` under
//! `fuzz/corpus/decode_group_message/seed-*`, deterministically: one seed per message type,
//! every one checked to decode.
//!
//! ```text
//! cd fuzz && cargo run --example group_seeds
//! ```

use std::fs;
use std::path::Path;

use peerdrt_core::group::id::{GroupTag, RecordId};
use peerdrt_core::group::limits::RANGE_FANOUT;
use peerdrt_core::group::membership::{Credentials, GroupRoot, Role, member_key};
use peerdrt_core::group::password::{PasswordGrantor, PasswordProof};
use peerdrt_core::group::range::{Range, RangeDigest};
use peerdrt_core::group::record::{Record, RecordDraft};
use peerdrt_core::group::session::{Session, SessionKeys};
use peerdrt_core::group::time::PeerTime;
use peerdrt_core::group::wire::{Abstract, Abstracts, Body, Ids, Message, Records, RefuseReason};

const NOW: PeerTime = PeerTime(133_000_000_000_000_000);

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/decode_group_message");
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("seed-") {
            fs::remove_file(path).unwrap();
        }
    }

    // The same group and member the target builds, so seeded records pass verification.
    let root = GroupRoot::from_secret(&[0xa5; 32]);
    let secret = [0x11; 32];
    let certificate = root.invite(&member_key(&secret), Role::Member, PeerTime(0), PeerTime(u64::MAX));
    let author = Credentials::new(&secret, certificate).unwrap();
    let draft = RecordDraft {
        record_type: [0x42; 16],
        attributes: r#"<attributes><attribute name="topic" type="string">seed</attribute><attribute name="n" type="int">7</attribute></attributes>"#.into(),
        data: b"hello group".to_vec(),
        expiration: NOW.plus_seconds(3600),
        flags: 0,
    };
    let record = Record::create(&author, &root.public_key(), draft.clone(), 99, NOW).unwrap();
    let tombstone = record.tombstone(&author, &root.public_key(), NOW.plus_seconds(1)).unwrap();
    let tag = GroupTag::of_root(&root.public_key());
    let range = Range::ROOT.child(0x3).unwrap().child(0xc).unwrap();
    let abstracts = Abstracts::encode(&[
        Abstract { id: record.id, version: 1, modified: NOW },
        Abstract { id: RecordId([0x33; 16]), version: 4, modified: NOW.plus_seconds(5) },
    ]);
    let ids = Ids::encode(&[record.id, RecordId([0x44; 16])]);
    let mut encoded = Vec::new();
    record.encode(&mut encoded);
    tombstone.encode(&mut encoded);

    // A password joiner's proof for the grantor the target builds (password key seed [0x77; 32]):
    // the grant path, not only the refusal.
    let password_key = ed25519_dalek::SigningKey::from_bytes(&[0x77; 32]);
    let joiner = ed25519_dalek::SigningKey::from_bytes(&[0x22; 32]);
    let grantor = PasswordGrantor::new(root.clone(), password_key.verifying_key().to_bytes(), Role::Member, 3600);
    let joiner_key = joiner.verifying_key().to_bytes();
    let challenge = grantor.challenge(&joiner_key, &[0x5f; 16], NOW);
    let proof = PasswordProof::answer(&password_key, &joiner, tag, [0x5f; 16], challenge);

    let seeds: Vec<(&str, Body)> = vec![
        ("hello", Body::Hello { certificate, nonce: [0x5e; 16], ephemeral: [0x09; 32], clock: NOW }),
        (
            "welcome",
            Body::Welcome { certificate, nonce: [0x6f; 16], ephemeral: [0x0a; 32], clock: NOW, proof: [0x70; 64] },
        ),
        ("refuse-clock-skew", Body::Refuse(RefuseReason::ClockSkew)),
        ("proof", Body::Proof([0x71; 64])),
        ("refuse", Body::Refuse(RefuseReason::NotMember)),
        ("disconnect", Body::Disconnect),
        ("ack", Body::Ack(41)),
        ("solicit-hash", Body::SolicitHash(Range::ROOT)),
        (
            "hashes",
            Body::Hashes {
                range,
                children: std::array::from_fn::<_, RANGE_FANOUT, _>(|i| RangeDigest {
                    hash: [i as u8; 16],
                    count: i as u32,
                }),
            },
        ),
        ("solicit-abstracts", Body::SolicitAbstracts(range)),
        ("advertise", Body::Advertise { range, abstracts: Abstracts::from_encoded(&abstracts).unwrap() }),
        ("request", Body::Request(Ids::from_encoded(&ids).unwrap())),
        ("flood", Body::Flood(record.view())),
        ("flood-tombstone", Body::Flood(tombstone.view())),
        (
            "records",
            Body::Records {
                records: Records::from_encoded(&encoded).unwrap(),
                gone: Ids::from_encoded(&ids).unwrap(),
            },
        ),
        ("password-hello", Body::PasswordHello { member: joiner_key, nonce: [0x5f; 16] }),
        ("password-challenge", Body::PasswordChallenge { nonce: [0x5f; 16], challenge }),
        ("password-proof", Body::PasswordProof(proof)),
        ("password-grant", Body::PasswordGrant(certificate)),
        ("refuse-authentication-failed", Body::Refuse(RefuseReason::AuthenticationFailed)),
    ];
    // Sealed frames under the target's fixed key (SEED_KEY), so the fuzzer reaches the inner
    // decoder through the opening.
    let mut session = Session::new(&SessionKeys { send: [0x5c; 32], receive: [0x5c; 32] });
    let count = seeds.len();
    for (name, body) in seeds {
        let bytes = Message { tag, id: 0x0102_0304, body }.encode();
        assert_eq!(Message::decode(&bytes).map(|m| m.encode()), Ok(bytes.clone()), "{name} decodes");
        fs::write(dir.join(format!("seed-{name}")), &bytes).unwrap();
        if !Message::decode(&bytes).unwrap().body.is_handshake() {
            let sealed = session.seal(&bytes).unwrap();
            fs::write(dir.join(format!("seed-sealed-{name}")), &sealed).unwrap();
        }
    }
    println!("wrote {count} clear seeds and their sealed frames to {}", dir.display());
}
