/*
 * drt.h — the Distributed Routing Table API of peerdrt-shim.
 *
 * The functions, structures, enumerations and HRESULTs of the Windows SDK's drt.h
 * (drt.dll, drtprov.dll, drttransport.dll), exported by the peerdrt shim
 * (libpeerdrt_shim.so on Linux, peerdrt_shim.dll on Windows) over the peerdrt driver.
 * Layouts are the Win32 x64 ones; HRESULT values are bit-exact (FACILITY_DRT is 98 decimal,
 * so DRT errors are 0x8062xxxx).
 *
 * Differences from Windows are documented at each declaration and in peerdrt.h; in short:
 *  - on Linux an event HANDLE is a shim event object (peerdrt.h: PeerDrtCreateEvent, ...);
 *  - DrtCreateIpv6UdpTransport records the port; the driver binds it at DrtOpen
 *    (PeerDrtGetTransportPort tells which);
 *  - certificates of the derived-key provider are peerdrt credentials in a CERT_CONTEXT
 *    (peerdrt.h: PeerDrtCreateRootCertificate, PeerDrtIssueCertificate);
 *  - security and bootstrap providers run in the driver: only the ones created by the
 *    DrtCreate* functions below are accepted by DrtOpen.
 *
 * Key byte order: DRT_DATA keys are 32 bytes, least-significant byte first (pb[31] is the
 * most significant byte), as on Windows.
 */
#ifndef PEERDRT_DRT_H
#define PEERDRT_DRT_H

#ifdef _WIN32
#include <winsock2.h>
#include <windows.h>
#include <wincrypt.h>
#else
#include <stdint.h>
#include <sys/socket.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ----- base types (Linux: the Win32 LLP64 sizes) ------------------------------------------ */

#ifndef _WIN32
#define WINAPI
#define CALLBACK
typedef uint8_t BYTE;
typedef int32_t BOOL;
typedef uint16_t USHORT;
typedef uint32_t ULONG;
typedef uint32_t DWORD;
typedef int32_t LONG;
typedef int32_t HRESULT;
typedef void *PVOID;
#define VOID void
typedef void *HANDLE;
typedef uint16_t WCHAR; /* UTF-16, as on Windows (not wchar_t) */
typedef WCHAR *PWSTR;
typedef const WCHAR *PCWSTR;
typedef struct sockaddr_storage SOCKADDR_STORAGE, *PSOCKADDR_STORAGE;
typedef struct _SOCKET_ADDRESS_LIST SOCKET_ADDRESS_LIST; /* opaque here */
typedef struct _CERT_PUBLIC_KEY_INFO CERT_PUBLIC_KEY_INFO; /* opaque here */

/* wincrypt.h's CERT_CONTEXT (peerdrt credentials travel in it; see peerdrt.h). */
typedef struct _CERT_CONTEXT {
    DWORD dwCertEncodingType;
    BYTE *pbCertEncoded;
    DWORD cbCertEncoded;
    void *pCertInfo;
    void *hCertStore;
} CERT_CONTEXT, *PCERT_CONTEXT;
typedef const CERT_CONTEXT *PCCERT_CONTEXT;
#endif

/* ----- HRESULTs ---------------------------------------------------------------------------- */

#define FACILITY_DRT 98

#define DRT_E_TIMEOUT                            ((HRESULT)0x80621001L)
#define DRT_E_INVALID_KEY_SIZE                   ((HRESULT)0x80621002L)
#define DRT_E_INVALID_CERT_CHAIN                 ((HRESULT)0x80621004L)
#define DRT_E_INVALID_MESSAGE                    ((HRESULT)0x80621005L)
#define DRT_E_NO_MORE                            ((HRESULT)0x80621006L)
#define DRT_E_INVALID_MAX_ADDRESSES              ((HRESULT)0x80621007L)
#define DRT_E_SEARCH_IN_PROGRESS                 ((HRESULT)0x80621008L)
#define DRT_E_INVALID_KEY                        ((HRESULT)0x80621009L)
#define DRT_S_RETRY                              ((HRESULT)0x00621010L)
#define DRT_E_INVALID_MAX_ENDPOINTS              ((HRESULT)0x80621011L)
#define DRT_E_INVALID_SEARCH_RANGE               ((HRESULT)0x80621012L)
#define DRT_E_INVALID_PORT                       ((HRESULT)0x80622000L)
#define DRT_E_INVALID_TRANSPORT_PROVIDER         ((HRESULT)0x80622001L)
#define DRT_E_INVALID_SECURITY_PROVIDER          ((HRESULT)0x80622002L)
#define DRT_E_STILL_IN_USE                       ((HRESULT)0x80622003L)
#define DRT_E_INVALID_BOOTSTRAP_PROVIDER         ((HRESULT)0x80622004L)
#define DRT_E_INVALID_ADDRESS                    ((HRESULT)0x80622005L)
#define DRT_E_INVALID_SCOPE                      ((HRESULT)0x80622006L)
#define DRT_E_TRANSPORT_SHUTTING_DOWN            ((HRESULT)0x80622007L)
#define DRT_E_NO_ADDRESSES_AVAILABLE             ((HRESULT)0x80622008L)
#define DRT_E_DUPLICATE_KEY                      ((HRESULT)0x80622009L)
#define DRT_E_TRANSPORTPROVIDER_IN_USE           ((HRESULT)0x8062200AL)
#define DRT_E_TRANSPORTPROVIDER_NOT_ATTACHED     ((HRESULT)0x8062200BL)
#define DRT_E_SECURITYPROVIDER_IN_USE            ((HRESULT)0x8062200CL)
#define DRT_E_SECURITYPROVIDER_NOT_ATTACHED      ((HRESULT)0x8062200DL)
#define DRT_E_BOOTSTRAPPROVIDER_IN_USE           ((HRESULT)0x8062200EL)
#define DRT_E_BOOTSTRAPPROVIDER_NOT_ATTACHED     ((HRESULT)0x8062200FL)
#define DRT_E_TRANSPORT_ALREADY_BOUND            ((HRESULT)0x80622101L)
#define DRT_E_TRANSPORT_NOT_BOUND                ((HRESULT)0x80622102L)
#define DRT_E_TRANSPORT_UNEXPECTED               ((HRESULT)0x80622103L)
#define DRT_E_TRANSPORT_INVALID_ARGUMENT         ((HRESULT)0x80622104L)
#define DRT_E_TRANSPORT_NO_DEST_ADDRESSES        ((HRESULT)0x80622105L)
#define DRT_E_TRANSPORT_EXECUTING_CALLBACK       ((HRESULT)0x80622106L)
#define DRT_E_TRANSPORT_ALREADY_EXISTS_FOR_SCOPE ((HRESULT)0x80622107L)
#define DRT_E_INVALID_SETTINGS                   ((HRESULT)0x80622108L)
#define DRT_E_INVALID_SEARCH_INFO                ((HRESULT)0x80622109L)
#define DRT_E_FAULTED                            ((HRESULT)0x8062210AL)
#define DRT_E_TRANSPORT_STILL_BOUND              ((HRESULT)0x8062210BL)
#define DRT_E_INSUFFICIENT_BUFFER                ((HRESULT)0x8062210CL)
#define DRT_E_INVALID_INSTANCE_PREFIX            ((HRESULT)0x8062210DL)
#define DRT_E_INVALID_SECURITY_MODE              ((HRESULT)0x8062210EL)
#define DRT_E_CAPABILITY_MISMATCH                ((HRESULT)0x8062210FL)

#ifndef _WIN32
#define S_OK           ((HRESULT)0x00000000L)
#define E_FAIL         ((HRESULT)0x80004005L)
#define E_NOTIMPL      ((HRESULT)0x80004001L)
#define E_UNEXPECTED   ((HRESULT)0x8000FFFFL)
#define E_HANDLE       ((HRESULT)0x80070006L)
#define E_OUTOFMEMORY  ((HRESULT)0x8007000EL)
#define E_INVALIDARG   ((HRESULT)0x80070057L)
#define E_ACCESSDENIED ((HRESULT)0x80070005L)
#define SUCCEEDED(hr)  (((HRESULT)(hr)) >= 0)
#define FAILED(hr)     (((HRESULT)(hr)) < 0)
#endif

/* ----- constants ---------------------------------------------------------------------------- */

#define DRT_PAYLOAD_REVOKED             (1 << 0)
#define DRT_MIN_ROUTING_ADDRESSES       1
#define DRT_MAX_ROUTING_ADDRESSES       20
#define DRT_MAX_PAYLOAD_SIZE            5120
#define DRT_MAX_INSTANCE_PREFIX_LEN     128
#define DRT_LINK_LOCAL_ISATAP_SCOPEID   0xFFFFFFFF

/* ----- handles and enumerations ------------------------------------------------------------- */

typedef PVOID HDRT;
typedef PVOID HDRT_SEARCH_CONTEXT;
typedef PVOID HDRT_TRANSPORT;
typedef PVOID HDRT_REGISTRATION_CONTEXT;
typedef PVOID DRT_BOOTSTRAP_RESOLVE_CONTEXT;

typedef enum drt_scope_tag {
    DRT_GLOBAL_SCOPE = 1,
    DRT_SITE_LOCAL_SCOPE = 2,
    DRT_LINK_LOCAL_SCOPE = 3
} DRT_SCOPE;

typedef enum drt_status_tag {
    DRT_ACTIVE = 0,
    DRT_ALONE = 1,
    DRT_NO_NETWORK = 10,
    DRT_FAULTED = 20
} DRT_STATUS;

typedef enum drt_match_type_tag {
    DRT_MATCH_EXACT = 0,
    DRT_MATCH_NEAR = 1,
    DRT_MATCH_INTERMEDIATE = 2
} DRT_MATCH_TYPE;

typedef enum drt_leafset_key_change_type_tag {
    DRT_LEAFSET_KEY_ADDED = 0,
    DRT_LEAFSET_KEY_DELETED = 1
} DRT_LEAFSET_KEY_CHANGE_TYPE;

typedef enum drt_event_type_tag {
    DRT_EVENT_STATUS_CHANGED = 0,
    DRT_EVENT_LEAFSET_KEY_CHANGED = 1,
    DRT_EVENT_REGISTRATION_STATE_CHANGED = 2
} DRT_EVENT_TYPE;

typedef enum drt_security_mode_tag {
    DRT_SECURE_RESOLVE = 0,
    DRT_SECURE_MEMBERSHIP = 1,
    DRT_SECURE_CONFIDENTIALPAYLOAD = 2
} DRT_SECURITY_MODE;

typedef enum drt_registration_state_tag {
    DRT_REGISTRATION_STATE_UNRESOLVEABLE = 1
} DRT_REGISTRATION_STATE;

typedef enum drt_address_flags_tag {
    DRT_ADDRESS_FLAG_ACCEPTED = 0x01,
    DRT_ADDRESS_FLAG_REJECTED = 0x02,
    DRT_ADDRESS_FLAG_UNREACHABLE = 0x04,
    DRT_ADDRESS_FLAG_LOOP = 0x08,
    DRT_ADDRESS_FLAG_TOO_BUSY = 0x10,
    DRT_ADDRESS_FLAG_BAD_VALIDATE_ID = 0x20,
    DRT_ADDRESS_FLAG_SUSPECT_UNREGISTERED_ID = 0x40,
    DRT_ADDRESS_FLAG_INQUIRE = 0x80
} DRT_ADDRESS_FLAGS;

/* ----- structures (Win32 x64 layout; sizes in comments) ------------------------------------- */

typedef struct drt_data_tag {               /* 16 */
    ULONG cb;
    BYTE *pb;
} DRT_DATA, *PDRT_DATA;
typedef const DRT_DATA *PCDRT_DATA;

typedef struct drt_registration_tag {       /* 32 */
    DRT_DATA key;
    DRT_DATA appData;
} DRT_REGISTRATION, *PDRT_REGISTRATION;
typedef const DRT_REGISTRATION *PCDRT_REGISTRATION;

typedef struct drt_security_provider_tag {  /* 112; the shim's own providers have NULL methods */
    PVOID pvContext;
    HRESULT (*Attach)(const PVOID pvContext);
    VOID (*Detach)(const PVOID pvContext);
    HRESULT (*RegisterKey)(const PVOID pvContext, const DRT_REGISTRATION *pRegistration, PVOID pvKeyContext);
    HRESULT (*UnregisterKey)(const PVOID pvContext, const DRT_DATA *pKey, PVOID pvKeyContext);
    HRESULT (*ValidateAndUnpackPayload)(const PVOID pvContext, DRT_DATA *pSecuredAddressPayload,
        DRT_DATA *pCertChain, DRT_DATA *pClassifier, DRT_DATA *pNonce, DRT_DATA *pSecuredPayload,
        BYTE *pbProtocolMajor, BYTE *pbProtocolMinor, DRT_DATA *pKey, DRT_DATA *pPayload,
        CERT_PUBLIC_KEY_INFO **ppPublicKey, SOCKET_ADDRESS_LIST **ppAddressList, DWORD *pdwFlags);
    HRESULT (*SecureAndPackPayload)(const PVOID pvContext, PVOID pvKeyContext, BYTE bProtocolMajor,
        BYTE bProtocolMinor, DWORD dwFlags, const DRT_DATA *pKey, const DRT_DATA *pPayload,
        const SOCKET_ADDRESS_LIST *pAddressList, const DRT_DATA *pNonce, DRT_DATA *pSecuredAddressPayload,
        DRT_DATA *pClassifier, DRT_DATA *pSecuredPayload, DRT_DATA *pCertChain);
    void (*FreeData)(const PVOID pvContext, PVOID pv);
    HRESULT (*EncryptData)(const PVOID pvContext, const DRT_DATA *pRemoteCredential, DWORD dwBuffers,
        DRT_DATA *pDataBuffers, DRT_DATA *pEncryptedBuffers, DRT_DATA *pKeyToken);
    HRESULT (*DecryptData)(const PVOID pvContext, DRT_DATA *pKeyToken, const PVOID pvKeyContext,
        DWORD dwBuffers, DRT_DATA *pData);
    HRESULT (*GetSerializedCredential)(const PVOID pvContext, DRT_DATA *pSelfCredential);
    HRESULT (*ValidateRemoteCredential)(const PVOID pvContext, DRT_DATA *pRemoteCredential);
    HRESULT (*SignData)(const PVOID pvContext, DWORD dwBuffers, DRT_DATA *pDataBuffers,
        DRT_DATA *pKeyIdentifier, DRT_DATA *pSignature);
    HRESULT (*VerifyData)(const PVOID pvContext, DWORD dwBuffers, DRT_DATA *pDataBuffers,
        DRT_DATA *pRemoteCredentials, DRT_DATA *pKeyIdentifier, DRT_DATA *pSignature);
} DRT_SECURITY_PROVIDER, *PDRT_SECURITY_PROVIDER;

typedef void (CALLBACK *DRT_BOOTSTRAP_RESOLVE_CALLBACK)(HRESULT hr, PVOID pvContext,
    SOCKET_ADDRESS_LIST *pAddresses, BOOL fFatalError);

typedef struct drt_bootstrap_provider_tag { /* 64; the shim's own providers have NULL methods */
    PVOID pvContext;
    HRESULT (*Attach)(const PVOID pvContext);
    VOID (*Detach)(const PVOID pvContext);
    HRESULT (*InitResolve)(const PVOID pvContext, BOOL fSplitDetect, ULONG timeout, ULONG cMaxResults,
        DRT_BOOTSTRAP_RESOLVE_CONTEXT *ResolveContext, BOOL *fFatalError);
    HRESULT (*IssueResolve)(const PVOID pvContext, PVOID pvCallbackContext,
        DRT_BOOTSTRAP_RESOLVE_CALLBACK callback, DRT_BOOTSTRAP_RESOLVE_CONTEXT ResolveContext,
        BOOL *fFatalError);
    VOID (*EndResolve)(const PVOID pvContext, DRT_BOOTSTRAP_RESOLVE_CONTEXT ResolveContext);
    HRESULT (*Register)(const PVOID pvContext, const SOCKET_ADDRESS_LIST *pAddressList);
    VOID (*Unregister)(const PVOID pvContext);
} DRT_BOOTSTRAP_PROVIDER, *PDRT_BOOTSTRAP_PROVIDER;

typedef struct drt_settings_tag {           /* 56 */
    DWORD dwSize;                           /* sizeof(DRT_SETTINGS) */
    ULONG cbKey;                            /* 32 */
    BYTE bProtocolMajorVersion;
    BYTE bProtocolMinorVersion;
    ULONG ulMaxRoutingAddresses;            /* 1..20 */
    PWSTR pwzDrtInstancePrefix;             /* NULL or <= 128 characters */
    HDRT_TRANSPORT hTransport;
    DRT_SECURITY_PROVIDER *pSecurityProvider;
    DRT_BOOTSTRAP_PROVIDER *pBootstrapProvider;
    DRT_SECURITY_MODE eSecurityMode;
} DRT_SETTINGS, *PDRT_SETTINGS;

typedef struct drt_search_info_tag {        /* 40 */
    DWORD dwSize;                           /* sizeof(DRT_SEARCH_INFO) */
    BOOL fIterative;
    BOOL fAllowCurrentInstanceMatch;
    BOOL fAnyMatchInRange;
    ULONG cMaxEndpoints;
    DRT_DATA *pMaximumKey;
    DRT_DATA *pMinimumKey;
} DRT_SEARCH_INFO, *PDRT_SEARCH_INFO;

typedef struct drt_address_tag {            /* 144; socketAddress holds a sockaddr_in6 */
    SOCKADDR_STORAGE socketAddress;
    ULONG flags;                            /* DRT_ADDRESS_FLAGS */
    LONG nearness;
    ULONG latency;
} DRT_ADDRESS, *PDRT_ADDRESS;

typedef struct drt_address_list_tag {       /* 152 for one entry; variable length */
    ULONG AddressCount;
    DRT_ADDRESS AddressList[1];
} DRT_ADDRESS_LIST, *PDRT_ADDRESS_LIST;

typedef struct drt_search_result_tag {      /* 48, then the key and appData it points to */
    DWORD dwSize;
    DRT_MATCH_TYPE type;
    PVOID pvContext;
    DRT_REGISTRATION registration;
} DRT_SEARCH_RESULT, *PDRT_SEARCH_RESULT;

typedef struct drt_event_data_tag {         /* 56, then the keys or addresses it points to */
    DRT_EVENT_TYPE type;
    HRESULT hr;
    PVOID pvContext;
    union {
        struct {
            DRT_LEAFSET_KEY_CHANGE_TYPE change;
            DRT_DATA localKey;
            DRT_DATA remoteKey;
        } leafsetKeyChange;
        struct {
            DRT_REGISTRATION_STATE state;
            DRT_DATA localKey;
        } registrationStateChange;
        struct {
            DRT_STATUS status;
            struct {
                ULONG cntAddress;
                PSOCKADDR_STORAGE pAddresses;
            } bootstrapAddresses;
        } statusChange;
    };
} DRT_EVENT_DATA, *PDRT_EVENT_DATA;

/* ----- drttransport.dll --------------------------------------------------------------------- */

/* Records scope, scope id and *pwPort (0: the driver picks). The driver binds the port at
   DrtOpen; *pwPort is left as given (see PeerDrtGetTransportPort). dwLocalityThreshold is
   accepted and ignored. DRT_E_INVALID_PORT for a NULL pwPort, DRT_E_INVALID_SCOPE. */
HRESULT WINAPI DrtCreateIpv6UdpTransport(DRT_SCOPE scope, ULONG dwScopeId, ULONG dwLocalityThreshold,
                                         USHORT *pwPort, HDRT_TRANSPORT *phTransport);
/* DRT_E_TRANSPORT_STILL_BOUND while an open DRT uses it. */
HRESULT WINAPI DrtDeleteIpv6UdpTransport(HDRT_TRANSPORT hTransport);

/* ----- drtprov.dll -------------------------------------------------------------------------- */

/* pwszAddress: a host name or address; the shim also accepts a ','/';'-separated list, each
   optionally "host:port". Resolved at DrtOpen (IPv4 becomes IPv4-mapped IPv6). */
HRESULT WINAPI DrtCreateDnsBootstrapResolver(USHORT port, PCWSTR pwszAddress,
                                             DRT_BOOTSTRAP_PROVIDER **ppModule);
void WINAPI DrtDeleteDnsBootstrapResolver(DRT_BOOTSTRAP_PROVIDER *pResolver);

HRESULT WINAPI DrtCreateNullSecurityProvider(DRT_SECURITY_PROVIDER **ppSecurityProvider);
void WINAPI DrtDeleteNullSecurityProvider(DRT_SECURITY_PROVIDER *pSecurityProvider);

/* Certificates are peerdrt credentials (peerdrt.h); DRT_E_INVALID_CERT_CHAIN otherwise, or when
   pLocalCert was not issued by pRootCert. */
HRESULT WINAPI DrtCreateDerivedKeySecurityProvider(PCCERT_CONTEXT pRootCert, PCCERT_CONTEXT pLocalCert,
                                                   DRT_SECURITY_PROVIDER **ppSecurityProvider);
/* pKey->pb is allocated with malloc (free it with free()); pKey->cb = 32. */
HRESULT WINAPI DrtCreateDerivedKey(PCCERT_CONTEXT pLocalCert, DRT_DATA *pKey);
void WINAPI DrtDeleteDerivedKeySecurityProvider(DRT_SECURITY_PROVIDER *pSecurityProvider);

/* ----- drt.dll ------------------------------------------------------------------------------ */

/* Without a running device: HRESULT_FROM_WIN32(ERROR_SERVICE_NOT_ACTIVE) = 0x80070426. */
HRESULT WINAPI DrtOpen(const DRT_SETTINGS *pSettings, HANDLE hEvent, const PVOID pvContext, HDRT *phDrt);
void WINAPI DrtClose(HDRT hDrt);
HRESULT WINAPI DrtGetEventDataSize(HDRT hDrt, ULONG *pulEventDataLen);
HRESULT WINAPI DrtGetEventData(HDRT hDrt, ULONG ulEventDataLen, DRT_EVENT_DATA *pEventData);
HRESULT WINAPI DrtRegisterKey(HDRT hDrt, DRT_REGISTRATION *pRegistration, PVOID pvKeyContext,
                              HDRT_REGISTRATION_CONTEXT *phKeyRegistration);
HRESULT WINAPI DrtUpdateKey(HDRT_REGISTRATION_CONTEXT hKeyRegistration, DRT_DATA *pAppData);
void WINAPI DrtUnregisterKey(HDRT_REGISTRATION_CONTEXT hKeyRegistration);
HRESULT WINAPI DrtStartSearch(HDRT hDrt, DRT_DATA *pKey, const DRT_SEARCH_INFO *pInfo, ULONG timeout,
                              HANDLE hEvent, const PVOID pvContext, HDRT_SEARCH_CONTEXT *hSearchContext);
HRESULT WINAPI DrtContinueSearch(HDRT_SEARCH_CONTEXT hSearchContext);
HRESULT WINAPI DrtGetSearchResultSize(HDRT_SEARCH_CONTEXT hSearchContext, ULONG *pulSearchResultSize);
HRESULT WINAPI DrtGetSearchResult(HDRT_SEARCH_CONTEXT hSearchContext, ULONG ulSearchResultSize,
                                  DRT_SEARCH_RESULT *pSearchResult);
HRESULT WINAPI DrtGetSearchPathSize(HDRT_SEARCH_CONTEXT hSearchContext, ULONG *pulSearchPathSize);
HRESULT WINAPI DrtGetSearchPath(HDRT_SEARCH_CONTEXT hSearchContext, ULONG ulSearchPathSize,
                                DRT_ADDRESS_LIST *pSearchPath);
HRESULT WINAPI DrtEndSearch(HDRT_SEARCH_CONTEXT hSearchContext);
HRESULT WINAPI DrtGetInstanceNameSize(HDRT hDrt, ULONG *pulcbInstanceNameSize);
HRESULT WINAPI DrtGetInstanceName(HDRT hDrt, ULONG ulcbInstanceNameSize, PWSTR pwzDrtInstanceName);

/* Undocumented drt.dll exports (mingw-w64 drt.def). Their signatures are not published; the
   shim's stubs read no argument and return E_NOTIMPL. */
HRESULT WINAPI DrtFlushCache(void);
HRESULT WINAPI DrtGetCacheStatsEx(void);
HRESULT WINAPI DrtHandlePowerEvent(void);
HRESULT WINAPI DrtPingPeer(void);
HRESULT WINAPI DrtStartPartitionDetection(void);

#ifdef __cplusplus
}
#endif

#endif /* PEERDRT_DRT_H */
