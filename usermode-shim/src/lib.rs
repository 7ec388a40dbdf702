//! peerdrt-shim: the Win32 peer-to-peer API family (`Drt*`, `PeerPnrp*`, `PeerGroup*`) over the
//! peerdrt driver's IOCTLs. The API surface arrives with the Linux node issue.

pub use peerdrt_abi as abi;
