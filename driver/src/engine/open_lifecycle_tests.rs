//! An open's end of life and its waits' races with the adapter: IRP_MJ_CLEANUP leaves an open
//! that takes no new requests, and an event whose wait was cancelled while the engine completed
//! it is not lost.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use peerdrt_abi::{Request, status};

use super::*;

/// The NTSTATUS of a completed request (None while it pends).
fn status_of(c: Completion) -> Option<u32> {
    match c {
        Completion::Complete { status, .. } => Some(status),
        Completion::Pending => None,
    }
}

/// A platform that counts the sockets it binds.
#[derive(Default)]
struct CountingSockets {
    binds: usize,
}

impl Platform for CountingSockets {
    fn bind(&mut self, _port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
        self.binds += 1;
        Ok(Bound { id: self.binds as TransportId, port: 3540, addresses: vec![Ipv6Addr::LOCALHOST] })
    }
    fn unbind(&mut self, _id: TransportId) {}
    fn random_seed(&mut self) -> [u8; 32] {
        [5; 32]
    }
}

fn call(
    device: &mut Device,
    open: OpenId,
    request: &Request<'_>,
    token: WaitToken,
    p: &mut CountingSockets,
) -> Completion {
    let mut input = [0u8; 256];
    let len = request.encode(&mut input).unwrap();
    let mut output = vec![0u8; MAX_EVENT_LEN];
    let irp = Irp { code: request.code(), input: &input[..len], output: &mut output, token };
    device.ioctl(Instant(1), open, irp, p)
}

fn open_instance(device: &mut Device, open: OpenId, p: &mut CountingSockets) -> Completion {
    let mut input = [0u8; 512];
    let len = super::test_requests::open_instance_input(&[], &mut input);
    let mut output = [0u8; 16];
    let irp =
        Irp { code: peerdrt_abi::ioctl::OPEN_INSTANCE, input: &input[..len], output: &mut output, token: 0 };
    device.ioctl(Instant(1), open, irp, p)
}

fn wait(device: &mut Device, open: OpenId, token: WaitToken, p: &mut CountingSockets) -> Completion {
    call(device, open, &Request::WaitEvent, token, p)
}

/// A wait pended under `token`, then an instance opened: the engine completes the wait with the
/// instance's first event.
fn wait_completed_with_an_event(
    device: &mut Device,
    open: OpenId,
    token: WaitToken,
    p: &mut CountingSockets,
) -> WaitCompletion {
    assert_eq!(wait(device, open, token, p), Completion::Pending);
    assert_eq!(status_of(open_instance(device, open, p)), Some(status::SUCCESS));
    let done = device.poll_wait_completion().expect("the instance's first event completes the wait");
    assert_eq!((done.token, done.status), (token, status::SUCCESS));
    assert!(!done.output.is_empty());
    done
}

#[test]
fn after_cleanup_an_open_refuses_every_request_and_creates_nothing() {
    let mut device = Device::new();
    let mut p = CountingSockets::default();
    let open = device.open(Owner::default()).unwrap();
    device.cleanup(Instant(1), open, &mut p);
    // An IRP already in dispatch when the last handle closed arrives before IRP_MJ_CLOSE.
    assert_eq!(status_of(open_instance(&mut device, open, &mut p)), Some(status::INVALID_HANDLE));
    assert_eq!(p.binds, 0, "no instance was created for a cleaned-up open");
    assert_eq!(status_of(wait(&mut device, open, 9, &mut p)), Some(status::INVALID_HANDLE), "no wait pends");
    assert!(device.poll_wait_completion().is_none());
    // Other opens are served as before.
    let other = device.open(Owner::default()).unwrap();
    assert_eq!(status_of(open_instance(&mut device, other, &mut p)), Some(status::SUCCESS));
    device.close(Instant(2), open, &mut p);
}

#[test]
fn an_event_whose_wait_was_cancelled_under_it_goes_to_the_next_wait() {
    let mut device = Device::new();
    let mut p = CountingSockets::default();
    let open = device.open(Owner::default()).unwrap();
    let done = wait_completed_with_an_event(&mut device, open, 1, &mut p);
    let event = done.output.clone();
    // The adapter found the IRP already cancelled: it hands the completion back.
    device.wait_completion_undelivered(done);
    // The adapter then reports the cancellation, which finds no wait pending.
    assert!(!device.cancel_wait(open, 1));
    // The next WAIT_EVENT returns that event at once.
    let mut input = [0u8; 16];
    let len = Request::WaitEvent.encode(&mut input).unwrap();
    let mut output = vec![0u8; MAX_EVENT_LEN];
    let irp = Irp { code: Request::WaitEvent.code(), input: &input[..len], output: &mut output, token: 2 };
    match device.ioctl(Instant(2), open, irp, &mut p) {
        Completion::Complete { status: s, information } => {
            assert_eq!(s, status::SUCCESS);
            assert_eq!(&output[..information], &event[..]);
        }
        Completion::Pending => panic!("the returned event was lost"),
    }
}

#[test]
fn a_returned_event_completes_a_wait_already_pending() {
    let mut device = Device::new();
    let mut p = CountingSockets::default();
    let open = device.open(Owner::default()).unwrap();
    let done = wait_completed_with_an_event(&mut device, open, 1, &mut p);
    let event = done.output.clone();
    // Meanwhile the process queued another wait.
    assert_eq!(wait(&mut device, open, 2, &mut p), Completion::Pending);
    device.wait_completion_undelivered(done);
    let again = device.poll_wait_completion().expect("the pending wait takes the event");
    assert_eq!((again.token, again.status, again.output), (2, status::SUCCESS, event));
}

#[test]
fn returned_cancellations_and_events_of_cleaned_up_opens_are_not_queued() {
    let mut device = Device::new();
    let mut p = CountingSockets::default();
    let open = device.open(Owner::default()).unwrap();
    // A cancellation's completion carries no event: nothing to return.
    device.wait_completion_undelivered(WaitCompletion {
        open,
        token: 1,
        status: status::CANCELLED,
        output: Vec::new(),
    });
    assert_eq!(wait(&mut device, open, 3, &mut p), Completion::Pending, "no phantom event was queued");
    assert!(device.cancel_wait(open, 3));
    let _ = device.poll_wait_completion();
    // An event returned after the open's cleanup is dropped with the open.
    let done = wait_completed_with_an_event(&mut device, open, 4, &mut p);
    device.cleanup(Instant(2), open, &mut p);
    while device.poll_wait_completion().is_some() {}
    device.wait_completion_undelivered(done);
    assert!(device.poll_wait_completion().is_none());
    assert_eq!(status_of(wait(&mut device, open, 5, &mut p)), Some(status::INVALID_HANDLE));
}
