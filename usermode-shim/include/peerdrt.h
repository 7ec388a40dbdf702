/*
 * peerdrt.h — what the peerdrt shim adds to drt.h.
 *
 *  - Event objects (not on Windows, where hEvent is a real Win32 event): DrtOpen and
 *    DrtStartSearch signal the HANDLE they are given; on Linux that HANDLE comes from
 *    PeerDrtCreateEvent. Auto-reset and manual-reset behave as Win32 events (the sample uses
 *    an auto-reset event for DrtOpen and a manual-reset one per search: "the DRT will reset the
 *    event when the search result buffer has been consumed").
 *  - The port a transport was bound to (the driver binds at DrtOpen).
 *  - Credentials for the derived-key security provider: a peerdrt root and certificates it
 *    issues (Ed25519; a key is SHA-256 of the holder's public key), carried in CERT_CONTEXTs
 *    with dwCertEncodingType = PEERDRT_CERT_ENCODING.
 */
#ifndef PEERDRT_PEERDRT_H
#define PEERDRT_PEERDRT_H

#include "drt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CERT_CONTEXT.dwCertEncodingType of peerdrt credentials ("PDRT"). pbCertEncoded holds 32
   bytes (a root public key), 64 (a root that can issue: public key, secret key) or 128 (a
   local identity: secret key, then the 96-byte certificate). */
#define PEERDRT_CERT_ENCODING 0x50445254u

#ifndef _WIN32
#define WAIT_OBJECT_0 0x00000000u
#define WAIT_TIMEOUT  0x00000102u
#define WAIT_FAILED   0xFFFFFFFFu
#define INFINITE      0xFFFFFFFFu

/* CreateEvent(NULL, bManualReset, FALSE, NULL). NULL on failure. */
HANDLE WINAPI PeerDrtCreateEvent(BOOL bManualReset);
/* WaitForSingleObject: WAIT_OBJECT_0, WAIT_TIMEOUT, or WAIT_FAILED for an unknown handle.
   A satisfied wait resets an auto-reset event. */
DWORD WINAPI PeerDrtWaitForEvent(HANDLE hEvent, DWORD dwMilliseconds);
BOOL WINAPI PeerDrtSetEvent(HANDLE hEvent);
BOOL WINAPI PeerDrtResetEvent(HANDLE hEvent);
BOOL WINAPI PeerDrtCloseEvent(HANDLE hEvent);

typedef void (*PEERDRT_EVENT_CALLBACK)(void *pvContext);
/* The stand-in for RegisterWaitForSingleObject: pfnCallback(pvContext) runs each time the event
   is set, on the setting thread (the DRT's event pump), with no shim lock held — it may call any
   Drt* function, DrtClose included. On an auto-reset event the callback consumes the signal.
   NULL removes the callback. */
BOOL WINAPI PeerDrtSetEventCallback(HANDLE hEvent, PEERDRT_EVENT_CALLBACK pfnCallback, void *pvContext);
#endif

/* The UDP port of a transport: the one the driver bound once a DRT opened on it, else the port
   requested at DrtCreateIpv6UdpTransport. */
HRESULT WINAPI PeerDrtGetTransportPort(HDRT_TRANSPORT hTransport, USHORT *pwPort);

/* A new root that can issue certificates (the sample's self-signed root certificate). */
HRESULT WINAPI PeerDrtCreateRootCertificate(PCCERT_CONTEXT *ppRoot);
/* A new local identity issued by pRoot (a root made by PeerDrtCreateRootCertificate). */
HRESULT WINAPI PeerDrtIssueCertificate(PCCERT_CONTEXT pRoot, PCCERT_CONTEXT *ppLocal);
/* Frees a certificate made by the two functions above. */
void WINAPI PeerDrtFreeCertificate(PCCERT_CONTEXT pCert);

#ifdef __cplusplus
}
#endif

#endif /* PEERDRT_PEERDRT_H */
