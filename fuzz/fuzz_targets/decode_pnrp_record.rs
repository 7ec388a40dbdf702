//! `Record::decode` (the PNRP registration record a resolver receives from any node) on
//! arbitrary bytes: never panics; what decodes stays within the record limits, and verifying
//! it under any key and time never panics either. The same bytes are tried as a peer name and
//! as the input of the PNRP control codes and the cloud list reply, and as a multicast
//! discovery datagram.

#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdrt_abi::{Request, Response, pnrp};
use peerdrt_core::pnrp::record::{MAX_ADDRESSES, MAX_COMMENT_UNITS, MAX_PAYLOAD};
use peerdrt_core::pnrp::discovery::Message;
use peerdrt_core::pnrp::{PeerName, Record};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Record::decode(data) {
        assert!(r.addresses().count() <= MAX_ADDRESSES);
        assert!(r.comment.encode_utf16().count() <= MAX_COMMENT_UNITS);
        assert!(r.payload.len() <= MAX_PAYLOAD);
        assert!(r.addresses().count() > 0 || !r.payload.is_empty());
        let _ = r.verify(&r.id.0, r.not_before);
        let _ = r.verify(&[0; 32], u64::MAX);
    }
    if let Ok(text) = core::str::from_utf8(data)
        && let Ok(name) = PeerName::parse(text)
    {
        let printed = name.to_string();
        assert_eq!(PeerName::parse(&printed).as_ref(), Ok(&name));
    }
    for code in pnrp::ALL {
        if let Ok(req) = Request::decode(code, data) {
            let mut buf = [0u8; 128];
            let n = req.encode(&mut buf).expect("a decoded request encodes");
            assert_eq!(Request::decode(code, &buf[..n]), Ok(req));
        }
    }
    if let Ok(m) = Message::decode(data)
        && !m.encode().is_empty()
    {
        let again = m.encode();
        assert_eq!(Message::decode(&again), Ok(m), "a decoded discovery message round-trips");
    }
    let _ = Response::decode(pnrp::ENUM_CLOUDS, data).map(|r| match r {
        Response::Clouds(c) => c.iter().count(),
        _ => 0,
    });
});
