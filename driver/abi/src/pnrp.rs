//! The PNRP part of the ABI: clouds the device runs itself (standing DRT instances a PNRP node
//! keeps), which an open attaches to by name instead of opening an instance of its own.
//!
//! Control codes use functions 0x810..=0x81F. An attachment handle stands where an instance
//! handle does in REGISTER_KEY, START_SEARCH and QUERY_INSTANCE; what an open registers through
//! it is its own (removed when it detaches or closes), and its searches never return the keys
//! it registered itself (the PNRP rule that a process never resolves its own names).

use crate::codec::{AbiError, Reader, Writer};
use crate::{FILE_DEVICE_NETWORK, FILE_READ_ACCESS, FILE_WRITE_ACCESS, METHOD_BUFFERED, ctl_code};

/// Attach to a cloud by name; replies like OPEN_INSTANCE (handle, port).
pub const ATTACH_CLOUD: u32 =
    ctl_code(FILE_DEVICE_NETWORK, 0x810, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS);
/// Detach: the attachment's registrations are removed and its searches end.
pub const DETACH_CLOUD: u32 =
    ctl_code(FILE_DEVICE_NETWORK, 0x811, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS);
/// List the clouds (PeerPnrpGetCloudInfo).
pub const ENUM_CLOUDS: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x812, METHOD_BUFFERED, FILE_READ_ACCESS);

/// `PEER_E_CLOUD_NOT_FOUND` (HRESULT_FROM_WIN32(WSA_PNRP_CLOUD_NOT_FOUND 11501)): what an
/// attach to an unknown cloud becomes.
pub const PEER_E_CLOUD_NOT_FOUND: u32 = 0x8007_2CED;

/// The PNRP control codes, in function order.
pub const ALL: [u32; 3] = [ATTACH_CLOUD, DETACH_CLOUD, ENUM_CLOUDS];

/// Longest cloud name, in UTF-8 bytes.
pub const MAX_CLOUD_NAME_LEN: usize = 64;
/// Most clouds a device runs (its standing instances all belong to one open, which holds at
/// most 8 instances).
pub const MAX_CLOUDS: usize = 8;
/// Largest encoded cloud record.
pub const MAX_CLOUD_RECORD_LEN: usize = 1 + MAX_CLOUD_NAME_LEN + 4 + 4 + 4 + 2;
/// Largest ENUM_CLOUDS reply.
pub const MAX_CLOUDS_REPLY_LEN: usize = 2 + MAX_CLOUDS * MAX_CLOUD_RECORD_LEN;

/// One cloud (PEER_PNRP_CLOUD_INFO plus what a status display wants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudRecord<'a> {
    /// `Global_`, `LinkLocal_<interface>`.
    pub name: &'a str,
    /// PNRP_SCOPE: 1 global, 2 site-local, 3 link-local.
    pub scope: u32,
    /// The interface index of a link-local cloud (0 otherwise).
    pub scope_id: u32,
    /// DRT_STATUS of its node.
    pub status: u32,
    /// Its UDP port.
    pub port: u16,
}

impl<'a> CloudRecord<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, AbiError> {
        let len = usize::from(r.u8()?);
        if len == 0 || len > MAX_CLOUD_NAME_LEN {
            return Err(AbiError::BadValue);
        }
        let name = core::str::from_utf8(r.bytes(len)?).map_err(|_| AbiError::BadValue)?;
        Ok(Self { name, scope: r.u32()?, scope_id: r.u32()?, status: r.u32()?, port: r.u16()? })
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), AbiError> {
        check_cloud_name(self.name)?;
        w.u8(self.name.len() as u8);
        w.bytes(self.name.as_bytes());
        w.u32(self.scope);
        w.u32(self.scope_id);
        w.u32(self.status);
        w.u16(self.port);
        Ok(())
    }
}

/// Checks a cloud name's length (1..=[`MAX_CLOUD_NAME_LEN`] bytes).
pub fn check_cloud_name(name: &str) -> Result<(), AbiError> {
    if name.is_empty() || name.len() > MAX_CLOUD_NAME_LEN { Err(AbiError::BadValue) } else { Ok(()) }
}

/// Cloud records as they stand in a reply (validated when decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudRecords<'a> {
    count: usize,
    bytes: &'a [u8],
}

impl<'a> CloudRecords<'a> {
    /// Encodes `records` into `out`.
    pub fn encode_into(records: &[CloudRecord<'_>], out: &'a mut [u8]) -> Result<Self, AbiError> {
        if records.len() > MAX_CLOUDS {
            return Err(AbiError::BadValue);
        }
        let mut w = Writer::new(out);
        for r in records {
            r.write(&mut w)?;
        }
        let len = w.finish()?;
        Ok(Self { count: records.len(), bytes: &out[..len] })
    }

    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, AbiError> {
        let count = usize::from(r.u16()?);
        if count > MAX_CLOUDS {
            return Err(AbiError::BadValue);
        }
        let rest = r.bytes(r.remaining())?;
        let mut check = Reader::new(rest);
        for _ in 0..count {
            CloudRecord::read(&mut check)?;
        }
        check.finish()?;
        Ok(Self { count, bytes: rest })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.count as u16);
        w.bytes(self.bytes);
    }

    /// Number of clouds.
    pub fn len(&self) -> usize {
        self.count
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The clouds.
    pub fn iter(&self) -> impl Iterator<Item = CloudRecord<'a>> + 'a {
        let mut r = Reader::new(self.bytes);
        (0..self.count).map_while(move |_| CloudRecord::read(&mut r).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, Response, ioctl};

    #[test]
    fn pnrp_codes_are_buffered_network_codes_from_0x810() {
        for (i, code) in ALL.iter().enumerate() {
            assert_eq!(code >> 16, FILE_DEVICE_NETWORK);
            assert_eq!(code & 3, METHOD_BUFFERED);
            assert_eq!(ioctl::function(*code), 0x810 + i as u32);
            assert!(!ioctl::ALL.contains(code));
        }
        assert_eq!(ioctl::access(ENUM_CLOUDS), FILE_READ_ACCESS);
    }

    #[test]
    fn requests_round_trip_and_names_are_bounded() {
        let mut buf = [0u8; 256];
        let xs = [b'x'; MAX_CLOUD_NAME_LEN + 1];
        let long = core::str::from_utf8(&xs[..MAX_CLOUD_NAME_LEN]).unwrap();
        let past = core::str::from_utf8(&xs).unwrap();
        for r in [
            Request::AttachCloud { name: "Global_" },
            Request::AttachCloud { name: long },
            Request::DetachCloud { attachment: 7 },
            Request::EnumClouds,
        ] {
            let n = r.encode(&mut buf).unwrap();
            assert_eq!(Request::decode(r.code(), &buf[..n]).unwrap(), r);
        }
        assert_eq!(Request::AttachCloud { name: past }.encode(&mut buf), Err(AbiError::BadValue));
        assert_eq!(Request::AttachCloud { name: "" }.encode(&mut buf), Err(AbiError::BadValue));
        // A hand-made request with an over-long name is refused too.
        let mut raw = [b'x'; 6 + MAX_CLOUD_NAME_LEN + 1];
        raw[..6].copy_from_slice(&[1, 0, 0, 0, MAX_CLOUD_NAME_LEN as u8 + 1, 0]);
        assert_eq!(Request::decode(ATTACH_CLOUD, &raw), Err(AbiError::BadValue));
        raw[4] = MAX_CLOUD_NAME_LEN as u8;
        assert_eq!(
            Request::decode(ATTACH_CLOUD, &raw[..raw.len() - 1]),
            Ok(Request::AttachCloud { name: long })
        );
    }

    #[test]
    fn a_cloud_list_round_trips_up_to_its_limit() {
        let names: [&str; MAX_CLOUDS + 1] = ["Global_"; MAX_CLOUDS + 1];
        let records: alloc_free::Recs = alloc_free::recs(&names);
        let mut out = [0u8; MAX_CLOUDS_REPLY_LEN];
        let mut enc = [0u8; MAX_CLOUDS_REPLY_LEN];
        let list = CloudRecords::encode_into(&records[..MAX_CLOUDS], &mut enc).unwrap();
        let n = Response::Clouds(list).encode(&mut out).unwrap();
        let Response::Clouds(back) = Response::decode(ENUM_CLOUDS, &out[..n]).unwrap() else { panic!() };
        assert_eq!(back.len(), MAX_CLOUDS);
        assert!(back.iter().eq(records[..MAX_CLOUDS].iter().copied()));
        let mut big = [0u8; MAX_CLOUDS_REPLY_LEN + MAX_CLOUD_RECORD_LEN];
        assert_eq!(CloudRecords::encode_into(&records, &mut big), Err(AbiError::BadValue));
        // Truncated replies are errors, never panics.
        for cut in 0..n {
            assert!(Response::decode(ENUM_CLOUDS, &out[..cut]).is_err(), "cut at {cut}");
        }
    }

    mod alloc_free {
        use super::*;
        pub type Recs = [CloudRecord<'static>; MAX_CLOUDS + 1];
        pub fn recs(names: &[&'static str; MAX_CLOUDS + 1]) -> Recs {
            core::array::from_fn(|i| CloudRecord {
                name: names[i],
                scope: 1 + (i as u32 % 3),
                scope_id: i as u32,
                status: 1,
                port: 3540 + i as u16,
            })
        }
    }
}
