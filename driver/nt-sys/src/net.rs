//! Socket addresses and socket-level constants (ws2def.h, ws2ipdef.h, inaddr.h, in6addr.h), as
//! WSK and Winsock share them.

use crate::base::*;
use crate::layout;

/// `typedef USHORT ADDRESS_FAMILY` (ws2def.h).
pub type ADDRESS_FAMILY = USHORT;
pub const AF_UNSPEC: ADDRESS_FAMILY = 0;
pub const AF_INET: ADDRESS_FAMILY = 2;
pub const AF_INET6: ADDRESS_FAMILY = 23;

pub const SOCK_STREAM: USHORT = 1;
pub const SOCK_DGRAM: USHORT = 2;
pub const SOCK_RAW: USHORT = 3;

pub const IPPROTO_IP: ULONG = 0;
pub const IPPROTO_TCP: ULONG = 6;
pub const IPPROTO_UDP: ULONG = 17;
pub const IPPROTO_IPV6: ULONG = 41;

/// `SOL_SOCKET` (ws2def.h), the `Level` of socket options.
pub const SOL_SOCKET: ULONG = 0xffff;
pub const SO_REUSEADDR: ULONG = 0x0004;
pub const SO_BROADCAST: ULONG = 0x0020;
pub const SO_SNDBUF: ULONG = 0x1001;
pub const SO_RCVBUF: ULONG = 0x1002;
/// `SO_EXCLUSIVEADDRUSE` = `(int)(~SO_REUSEADDR)`.
pub const SO_EXCLUSIVEADDRUSE: ULONG = !SO_REUSEADDR;
/// `WSK_SO_BASE` (ws2def.h): WSK's own socket options start here.
pub const WSK_SO_BASE: ULONG = 0x4000;
/// `IPV6_V6ONLY` (ws2ipdef.h), level `IPPROTO_IPV6`. Windows' default is TRUE.
pub const IPV6_V6ONLY: ULONG = 27;

/// Receive flags (ws2def.h) WSK reports in `ControlFlags` / indication `Flags`.
pub const MSG_TRUNC: ULONG = 0x0100;
pub const MSG_CTRUNC: ULONG = 0x0200;
pub const MSG_BCAST: ULONG = 0x0400;
pub const MSG_MCAST: ULONG = 0x0800;

/// `struct sockaddr` (ws2def.h).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SOCKADDR {
    pub sa_family: ADDRESS_FAMILY,
    pub sa_data: [CHAR; 14],
}
pub type PSOCKADDR = *mut SOCKADDR;
layout!(SOCKADDR, size 16, align 2; sa_family @ 0; sa_data @ 2);

/// `IN_ADDR.S_un.S_un_b`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IN_ADDR_0_0 {
    pub s_b1: UCHAR,
    pub s_b2: UCHAR,
    pub s_b3: UCHAR,
    pub s_b4: UCHAR,
}

/// `IN_ADDR.S_un.S_un_w`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IN_ADDR_0_1 {
    pub s_w1: USHORT,
    pub s_w2: USHORT,
}

/// `IN_ADDR.S_un`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IN_ADDR_0 {
    pub S_un_b: IN_ADDR_0_0,
    pub S_un_w: IN_ADDR_0_1,
    /// Network byte order.
    pub S_addr: ULONG,
}

/// `struct in_addr` (inaddr.h).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IN_ADDR {
    pub S_un: IN_ADDR_0,
}
layout!(IN_ADDR, size 4, align 4);

impl IN_ADDR {
    /// From the four address bytes in order (`a.b.c.d`).
    pub const fn from_octets(octets: [u8; 4]) -> Self {
        IN_ADDR { S_un: IN_ADDR_0 { S_addr: u32::from_ne_bytes(octets) } }
    }
    /// The four address bytes in order.
    pub fn octets(&self) -> [u8; 4] {
        // SAFETY: every member of the union is plain 4-byte data.
        unsafe { self.S_un.S_addr }.to_ne_bytes()
    }
}

/// `struct sockaddr_in` (ws2def.h). `sin_port` is in network byte order.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SOCKADDR_IN {
    pub sin_family: ADDRESS_FAMILY,
    pub sin_port: USHORT,
    pub sin_addr: IN_ADDR,
    pub sin_zero: [CHAR; 8],
}
pub type PSOCKADDR_IN = *mut SOCKADDR_IN;
layout!(SOCKADDR_IN, size 16, align 4; sin_family @ 0; sin_port @ 2; sin_addr @ 4; sin_zero @ 8);

/// `IN6_ADDR.u`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IN6_ADDR_0 {
    pub Byte: [UCHAR; 16],
    pub Word: [USHORT; 8],
}

/// `struct in6_addr` (in6addr.h).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IN6_ADDR {
    pub u: IN6_ADDR_0,
}
layout!(IN6_ADDR, size 16, align 2);

impl IN6_ADDR {
    pub const fn from_octets(octets: [u8; 16]) -> Self {
        IN6_ADDR { u: IN6_ADDR_0 { Byte: octets } }
    }
    pub fn octets(&self) -> [u8; 16] {
        // SAFETY: every member of the union is plain 16-byte data.
        unsafe { self.u.Byte }
    }
}

/// `SCOPE_ID` (ws2def.h): a 32-bit value, `Zone:28 Level:4` when read as bit fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SCOPE_ID {
    pub Value: ULONG,
}

/// The `{ sin6_scope_id; sin6_scope_struct; }` union of `SOCKADDR_IN6`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union SOCKADDR_IN6_0 {
    pub sin6_scope_id: ULONG,
    pub sin6_scope_struct: SCOPE_ID,
}

/// `struct sockaddr_in6` (ws2ipdef.h), 28 bytes. `sin6_port` is in network byte order.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SOCKADDR_IN6 {
    pub sin6_family: ADDRESS_FAMILY,
    pub sin6_port: USHORT,
    pub sin6_flowinfo: ULONG,
    pub sin6_addr: IN6_ADDR,
    pub __bindgen_anon_1: SOCKADDR_IN6_0,
}
pub type PSOCKADDR_IN6 = *mut SOCKADDR_IN6;
layout!(SOCKADDR_IN6, size 28, align 4;
    sin6_family @ 0; sin6_port @ 2; sin6_flowinfo @ 4; sin6_addr @ 8; __bindgen_anon_1 @ 24);

/// `struct sockaddr_storage` (ws2def.h), 128 bytes, 8-aligned: room for any address.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SOCKADDR_STORAGE {
    pub ss_family: ADDRESS_FAMILY,
    pub __ss_pad1: [CHAR; 6],
    pub __ss_align: LONGLONG,
    pub __ss_pad2: [CHAR; 112],
}
pub type PSOCKADDR_STORAGE = *mut SOCKADDR_STORAGE;
layout!(SOCKADDR_STORAGE, size 128, align 8; ss_family @ 0; __ss_align @ 8; __ss_pad2 @ 16);

/// `WSACMSGHDR` / `CMSGHDR` (ws2def.h): a control-data header.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CMSGHDR {
    pub cmsg_len: SIZE_T,
    pub cmsg_level: i32,
    pub cmsg_type: i32,
}
pub type PCMSGHDR = *mut CMSGHDR;
layout!(CMSGHDR, size 16; cmsg_len @ 0; cmsg_level @ 8; cmsg_type @ 12);
