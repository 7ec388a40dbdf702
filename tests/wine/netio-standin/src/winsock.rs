//! The few ws2_32 calls the provider is built on, declared by hand, and WSA error → NTSTATUS.

#![allow(clippy::upper_case_acronyms)]

use std::sync::Once;

use peerdrt_nt_sys::*;

pub type SOCKET = usize;
pub const INVALID_SOCKET: SOCKET = !0;

#[repr(C)]
pub struct FD_SET {
    pub fd_count: u32,
    pub fd_array: [SOCKET; 64],
}

#[repr(C)]
pub struct TIMEVAL {
    pub tv_sec: i32,
    pub tv_usec: i32,
}

#[link(name = "ws2_32")]
unsafe extern "system" {
    fn WSAStartup(version: u16, data: *mut u8) -> i32;
    pub fn WSAGetLastError() -> i32;
    pub fn socket(af: i32, kind: i32, protocol: i32) -> SOCKET;
    pub fn bind(s: SOCKET, name: *const SOCKADDR, namelen: i32) -> i32;
    pub fn sendto(s: SOCKET, buf: *const u8, len: i32, flags: i32, to: *const SOCKADDR, tolen: i32) -> i32;
    pub fn recvfrom(
        s: SOCKET,
        buf: *mut u8,
        len: i32,
        flags: i32,
        from: *mut SOCKADDR,
        fromlen: *mut i32,
    ) -> i32;
    pub fn closesocket(s: SOCKET) -> i32;
    pub fn setsockopt(s: SOCKET, level: i32, name: i32, value: *const u8, len: i32) -> i32;
    pub fn getsockname(s: SOCKET, name: *mut SOCKADDR, namelen: *mut i32) -> i32;
    pub fn select(
        nfds: i32,
        read: *mut FD_SET,
        write: *mut FD_SET,
        except: *mut FD_SET,
        timeout: *const TIMEVAL,
    ) -> i32;
}

const WSAEINTR: i32 = 10004;
const WSAEACCES: i32 = 10013;
const WSAEFAULT: i32 = 10014;
const WSAEINVAL: i32 = 10022;
pub const WSAEWOULDBLOCK: i32 = 10035;
const WSAENOTSOCK: i32 = 10038;
const WSAEMSGSIZE: i32 = 10040;
const WSAEAFNOSUPPORT: i32 = 10047;
const WSAEADDRINUSE: i32 = 10048;
const WSAEADDRNOTAVAIL: i32 = 10049;
const WSAENETUNREACH: i32 = 10051;
pub const WSAENETRESET: i32 = 10052;
pub const WSAECONNRESET: i32 = 10054;
const WSAENOBUFS: i32 = 10055;
const WSAEHOSTUNREACH: i32 = 10065;

/// WSAStartup once per process.
pub fn startup() {
    static START: Once = Once::new();
    START.call_once(|| {
        let mut data = [0u8; 512];
        // SAFETY: `data` is larger than WSADATA.
        let r = unsafe { WSAStartup(0x0202, data.as_mut_ptr()) };
        if r != 0 {
            crate::log::note(&format!("WSAStartup failed: {r}"));
        }
    });
}

/// The NTSTATUS the WSK subsystem reports for a Winsock error.
pub fn status_of(wsa: i32) -> NTSTATUS {
    match wsa {
        WSAEADDRINUSE => STATUS_ADDRESS_ALREADY_EXISTS,
        WSAEADDRNOTAVAIL => STATUS_INVALID_ADDRESS_COMPONENT,
        WSAEACCES => STATUS_ACCESS_DENIED,
        WSAEINVAL | WSAEFAULT | WSAEAFNOSUPPORT => STATUS_INVALID_PARAMETER,
        WSAEMSGSIZE => STATUS_INVALID_BUFFER_SIZE,
        WSAENETUNREACH => STATUS_NETWORK_UNREACHABLE,
        WSAEHOSTUNREACH => STATUS_HOST_UNREACHABLE,
        WSAECONNRESET | WSAENETRESET => STATUS_CONNECTION_RESET,
        WSAENOBUFS => STATUS_INSUFFICIENT_RESOURCES,
        WSAENOTSOCK | WSAEINTR => STATUS_CANCELLED,
        _ => STATUS_UNSUCCESSFUL,
    }
}

/// The last Winsock error as an NTSTATUS, with the raw code.
pub fn last_status() -> (NTSTATUS, i32) {
    // SAFETY: no preconditions.
    let wsa = unsafe { WSAGetLastError() };
    (status_of(wsa), wsa)
}

/// Waits up to `timeout_ms` for `s` to be readable.
pub fn readable(s: SOCKET, timeout_ms: u32) -> bool {
    let mut set = FD_SET { fd_count: 1, fd_array: [0; 64] };
    set.fd_array[0] = s;
    let tv = TIMEVAL { tv_sec: (timeout_ms / 1000) as i32, tv_usec: ((timeout_ms % 1000) * 1000) as i32 };
    // SAFETY: valid set and timeout.
    let r = unsafe { select(0, &mut set, std::ptr::null_mut(), std::ptr::null_mut(), &tv) };
    r > 0
}

/// The length of a WSK socket address by family (`None`: not an address WSK accepts).
pub fn sockaddr_len(family: ADDRESS_FAMILY) -> Option<i32> {
    match family {
        AF_INET => Some(core::mem::size_of::<SOCKADDR_IN>() as i32),
        AF_INET6 => Some(core::mem::size_of::<SOCKADDR_IN6>() as i32),
        _ => None,
    }
}

/// A socket address read from client memory, for Winsock and for logs.
#[derive(Clone, Copy)]
pub struct Addr {
    pub storage: SOCKADDR_STORAGE,
    pub len: i32,
}

impl Addr {
    /// Copies the address at `sa` (AF_INET or AF_INET6 only).
    ///
    /// # Safety
    /// `sa` must be null or point to a readable socket address of its family's size.
    pub unsafe fn read(sa: *const SOCKADDR) -> Option<Addr> {
        if sa.is_null() {
            return None;
        }
        // SAFETY: the caller passes a readable address; its first field is the family.
        let family = unsafe { (*sa).sa_family };
        let len = sockaddr_len(family)?;
        // SAFETY: all-zero is a valid SOCKADDR_STORAGE.
        let mut storage: SOCKADDR_STORAGE = unsafe { core::mem::zeroed() };
        // SAFETY: `len` bytes are readable at `sa` and fit in the storage.
        unsafe {
            std::ptr::copy_nonoverlapping(
                sa.cast::<u8>(),
                (&mut storage as *mut SOCKADDR_STORAGE).cast(),
                len as usize,
            )
        };
        Some(Addr { storage, len })
    }

    pub fn as_ptr(&self) -> *const SOCKADDR {
        (&self.storage as *const SOCKADDR_STORAGE).cast()
    }

    pub fn describe(&self) -> String {
        let p = self.as_ptr();
        // SAFETY: the storage holds an address of the family it names.
        unsafe {
            match (*p).sa_family {
                AF_INET => {
                    let a = &*(p as *const SOCKADDR_IN);
                    let o = a.sin_addr.octets();
                    format!("{}.{}.{}.{}:{}", o[0], o[1], o[2], o[3], u16::from_be(a.sin_port))
                }
                AF_INET6 => {
                    let a = &*(p as *const SOCKADDR_IN6);
                    let ip = std::net::Ipv6Addr::from(a.sin6_addr.octets());
                    format!("[{ip}]:{}", u16::from_be(a.sin6_port))
                }
                f => format!("<family {f}>"),
            }
        }
    }
}
