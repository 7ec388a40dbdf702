//! PNRP clouds in the device: standing instances published by name, attachments that own
//! what they register, searches that never return the searching open's own keys.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use peerdrt_abi::status;
use peerdrt_abi::{
    EventRecord, Handle, KeyBytes, OpenInstance, Request, Response, SecurityKind, StartSearch, ioctl, pnrp,
};
use peerdrt_core::time::Instant;

use super::*;

struct Fake {
    next: u32,
}

impl Platform for Fake {
    fn bind(&mut self, port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
        self.next += 1;
        let port = if port == 0 { 30_000 + self.next as u16 } else { port };
        Ok(Bound { id: self.next, port, addresses: vec![Ipv6Addr::LOCALHOST] })
    }
    fn unbind(&mut self, _id: TransportId) {}
    fn random_seed(&mut self) -> [u8; 32] {
        [self.next as u8; 32]
    }
}

struct World {
    device: Device,
    fake: Fake,
    now: Instant,
}

impl World {
    fn new() -> Self {
        Self { device: Device::new(), fake: Fake { next: 0 }, now: Instant(1) }
    }

    fn call(&mut self, open: OpenId, r: &Request<'_>) -> (u32, Vec<u8>) {
        let mut input = vec![0u8; 512];
        let n = r.encode(&mut input).unwrap();
        let mut output = vec![0u8; peerdrt_abi::MAX_EVENT_LEN];
        let irp = Irp { code: r.code(), input: &input[..n], output: &mut output, token: 1 };
        match self.device.ioctl(self.now, open, irp, &mut self.fake) {
            Completion::Complete { status, information } => {
                output.truncate(information);
                (status, output)
            }
            Completion::Pending => (status::PENDING, Vec::new()),
        }
    }

    /// A standing instance of `owner` published as `name`.
    fn cloud(&mut self, owner: OpenId, name: &str) -> Result<Handle, u32> {
        let open = Request::OpenInstance(OpenInstance {
            version_major: 4,
            version_minor: 0,
            port: 0,
            scope: 1,
            scope_id: 0,
            max_addresses: 1,
            security_mode: 0,
            security: SecurityKind::Null,
            root: None,
            identity: None,
            seeds: peerdrt_abi::Endpoints::from_encoded(&[]).unwrap(),
        });
        let (st, out) = self.call(owner, &open);
        assert_eq!(st, status::SUCCESS);
        let Ok(Response::Instance { instance, .. }) = Response::decode(ioctl::OPEN_INSTANCE, &out) else {
            panic!()
        };
        self.device.publish_cloud(owner, instance, name, 1, 0).map(|()| instance)
    }

    fn attach(&mut self, open: OpenId, name: &str) -> Result<Handle, u32> {
        match self.call(open, &Request::AttachCloud { name }) {
            (status::SUCCESS, out) => match Response::decode(pnrp::ATTACH_CLOUD, &out) {
                Ok(Response::Instance { instance, .. }) => Ok(instance),
                _ => panic!("bad reply"),
            },
            (st, _) => Err(st),
        }
    }

    fn register(&mut self, open: OpenId, via: Handle, key: &KeyBytes) -> u32 {
        self.call(open, &Request::RegisterKey { instance: via, key, app_data: b"record", credential: None }).0
    }

    /// The keys a range search over everything returns to `open` through `via`.
    fn search(&mut self, open: OpenId, via: Handle) -> Vec<KeyBytes> {
        let (lo, hi, target) = ([0u8; 32], [0xFF; 32], [0x80; 32]);
        let r = Request::StartSearch(StartSearch {
            instance: via,
            key: &target,
            iterative: false,
            allow_current_instance_match: true,
            any_match_in_range: false,
            max_endpoints: 4,
            range: Some((&lo, &hi)),
            timeout_ms: 1000,
        });
        assert_eq!(self.call(open, &r).0, status::SUCCESS);
        let mut keys = Vec::new();
        for _ in 0..100 {
            let (st, out) = self.call(open, &Request::WaitEvent);
            if st == status::PENDING {
                self.now = Instant(self.now.0 + 100);
                self.device.handle_timeout(self.now);
                while let Some(c) = self.device.poll_wait_completion() {
                    match EventRecord::decode(&c.output) {
                        Ok(EventRecord::SearchResult { key, .. }) => keys.push(*key),
                        Ok(EventRecord::SearchEnded { .. }) => return keys,
                        _ => {}
                    }
                }
                continue;
            }
            match EventRecord::decode(&out) {
                Ok(EventRecord::SearchResult { key, .. }) => keys.push(*key),
                Ok(EventRecord::SearchEnded { .. }) => return keys,
                _ => {}
            }
        }
        panic!("the search never ended");
    }
}

#[test]
fn attached_opens_find_each_others_keys_but_never_their_own() {
    let mut w = World::new();
    let owner = w.device.open(Owner::default()).unwrap();
    w.cloud(owner, "Global_").unwrap();
    let (a, b) =
        (w.device.open(Owner { pid: 1, uid: 0 }).unwrap(), w.device.open(Owner { pid: 2, uid: 0 }).unwrap());
    let (va, vb) = (w.attach(a, "Global_").unwrap(), w.attach(b, "Global_").unwrap());
    assert_eq!(w.register(a, va, &[0x10; 32]), status::SUCCESS);
    assert_eq!(w.register(b, vb, &[0x20; 32]), status::SUCCESS);
    assert_eq!(w.search(a, va), vec![[0x20; 32]]);
    assert_eq!(w.search(b, vb), vec![[0x10; 32]]);

    // Detaching removes what the open registered; the other open's keys stay.
    assert_eq!(w.call(a, &Request::DetachCloud { attachment: va }).0, status::SUCCESS);
    assert_eq!(w.search(b, vb), Vec::<KeyBytes>::new());
    let va = w.attach(a, "Global_").unwrap();
    assert_eq!(w.search(a, va), vec![[0x20; 32]]);
    // Closing the open does too.
    w.device.close(w.now, b, &mut w.fake);
    assert_eq!(w.search(a, va), Vec::<KeyBytes>::new());
    assert_eq!(w.device.instance_count(), 1, "the cloud's instance is the device's, not an attacher's");
}

#[test]
fn an_attachment_is_not_an_instance_of_its_own() {
    let mut w = World::new();
    let owner = w.device.open(Owner::default()).unwrap();
    w.cloud(owner, "Global_").unwrap();
    let a = w.device.open(Owner::default()).unwrap();
    let va = w.attach(a, "Global_").unwrap();
    assert_eq!(w.attach(a, "Global_"), Err(status::ADDRESS_ALREADY_EXISTS), "one attachment per cloud");
    assert_eq!(w.attach(a, "LinkLocal_none"), Err(status::OBJECT_NAME_NOT_FOUND));
    assert_eq!(w.call(a, &Request::CloseInstance { instance: va }).0, status::INVALID_HANDLE);
    assert_eq!(w.call(owner, &Request::DetachCloud { attachment: va }).0, status::INVALID_HANDLE);
    let (st, out) = w.call(a, &Request::EnumClouds);
    assert_eq!(st, status::SUCCESS);
    let Ok(Response::Clouds(list)) = Response::decode(pnrp::ENUM_CLOUDS, &out) else { panic!() };
    assert_eq!(list.iter().map(|c| c.name).collect::<Vec<_>>(), vec!["Global_"]);
}

#[test]
fn clouds_are_limited_and_vanish_with_their_instance() {
    let mut w = World::new();
    let owner = w.device.open(Owner::default()).unwrap();
    let names: Vec<alloc::string::String> =
        (0..=MAX_CLOUDS).map(|i| alloc::format!("LinkLocal_if{i}")).collect();
    for name in &names[..MAX_CLOUDS] {
        w.cloud(owner, name).unwrap();
    }
    let second = w.device.open(Owner::default()).unwrap();
    assert_eq!(w.cloud(second, &names[MAX_CLOUDS]), Err(status::INSUFFICIENT_RESOURCES));
    assert_eq!(w.device.cloud_names().count(), MAX_CLOUDS);

    let a = w.device.open(Owner::default()).unwrap();
    let va = w.attach(a, &names[0]).unwrap();
    assert_eq!(w.register(a, va, &[1; 32]), status::SUCCESS);
    // The owner closes: its clouds go, and the attachment's handle no longer resolves.
    w.device.close(w.now, owner, &mut w.fake);
    assert_eq!(w.device.cloud_names().count(), 0);
    assert_eq!(w.register(a, va, &[2; 32]), status::INVALID_HANDLE);
    assert_eq!(w.attach(a, &names[0]), Err(status::OBJECT_NAME_NOT_FOUND));
}
