/*
 * p2p.h — the PNRP and identity part of the Windows Peer-to-Peer API (p2p.dll), as the peerdrt
 * shim exports it: PeerPnrp*, PeerCreatePeerName, PeerNameToPeerHostName /
 * PeerHostNameToPeerName, PeerIdentityCreate / GetDefault / Delete, PeerFreeData.
 *
 * Names, structures (x64 layout) and HRESULTs are those of the Windows SDK's p2p.h. Everything
 * a function returns through a pointer is one allocation that PeerFreeData frees. On Linux the
 * hEvent of PeerPnrpStartResolve comes from PeerDrtCreateEvent (peerdrt.h).
 *
 * The process has one PNRP session: a name it registers is never returned to its own
 * resolves; registrations end with PeerPnrpUnregister, the last PeerPnrpShutdown, or the
 * process's exit.
 */
#ifndef PEERDRT_P2P_H
#define PEERDRT_P2P_H

#include "peerdrt.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef _WIN32
typedef uint16_t WORD;
typedef struct sockaddr SOCKADDR;
typedef uint8_t *PBYTE;
typedef uintptr_t HCRYPTPROV;
#endif

typedef PVOID HRESOLUTION, HREGISTRATION;

#define PNRP_VERSION 0x0002u /* MAKEWORD(2, 0) */
#ifdef _WIN32
#define PEER_PNRP_ALL_LINK_CLOUDS L"PEER_PNRP_ALL_LINKS"
#else
#define PEER_PNRP_ALL_LINK_CLOUDS u"PEER_PNRP_ALL_LINKS" /* UTF-16, as PCWSTR */
#endif
#define PEER_PNRP_AUTO_ADDRESSES ((ULONG)-1)
#define PNRP_MAX_ENDPOINT_ADDRESSES 10
#define PNRP_MAX_EXTENDED_PAYLOAD_BYTES 0x1000

typedef enum _PNRP_SCOPE {
    PNRP_SCOPE_ANY = 0,
    PNRP_GLOBAL_SCOPE = 1,
    PNRP_SITE_LOCAL_SCOPE = 2,
    PNRP_LINK_LOCAL_SCOPE = 3
} PNRP_SCOPE, *PPNRP_SCOPE;

typedef struct peer_data_tag {
    ULONG cbData;
    PBYTE pbData;
} PEER_DATA, *PPEER_DATA;
typedef const PEER_DATA *PCPEER_DATA;

typedef struct peer_pnrp_endpoint_info_tag {
    PWSTR pwzPeerName;
    ULONG cAddresses;
    SOCKADDR **ppAddresses;
    PWSTR pwzComment;
    PEER_DATA payload;
} PEER_PNRP_ENDPOINT_INFO, *PPEER_PNRP_ENDPOINT_INFO;

typedef struct peer_pnrp_cloud_info_tag {
    PWSTR pwzCloudName;
    PNRP_SCOPE dwScope;
    DWORD dwScopeId;
} PEER_PNRP_CLOUD_INFO, *PPEER_PNRP_CLOUD_INFO;

typedef struct peer_pnrp_registration_info_tag {
    PWSTR pwzCloudName;
    PWSTR pwzPublishingIdentity;
    ULONG cAddresses;
    SOCKADDR **ppAddresses;
    WORD wPort;
    PWSTR pwzComment;
    PEER_DATA payload;
} PEER_PNRP_REGISTRATION_INFO, *PPEER_PNRP_REGISTRATION_INFO;

/* FACILITY_P2P (0x63) and the Win32-facility PNRP codes used here. */
#define PEER_E_NOT_INITIALIZED            ((HRESULT)0x80630002L)
#define PEER_E_CLASSIFIER_TOO_LONG        ((HRESULT)0x80630201L)
#define PEER_E_NO_KEY_ACCESS              ((HRESULT)0x80630203L)
#define PEER_E_IDENTITY_NOT_FOUND         ((HRESULT)0x80630401L)
#define PEER_E_INVALID_PEER_NAME          ((HRESULT)0x80632050L)
#define PEER_E_INVALID_CLASSIFIER         ((HRESULT)0x80632060L)
#define PEER_E_UNSUPPORTED_VERSION        ((HRESULT)0x80632090L)
#define PEER_E_SERVICE_NOT_AVAILABLE      ((HRESULT)0x806320A1L)
#define PEER_E_CANNOT_CONVERT_PEER_NAME   ((HRESULT)0x80634001L)
#define PEER_E_INVALID_PEER_HOST_NAME     ((HRESULT)0x80634002L)
#define PEER_E_NO_MORE                    ((HRESULT)0x80634003L)
#define PEER_E_PNRP_DUPLICATE_PEER_NAME   ((HRESULT)0x80634005L)
#define PEER_E_TIMEOUT                    ((HRESULT)0x80637005L)
#define PEER_E_INVALID_ADDRESS            ((HRESULT)0x80637007L)
#define PEER_E_CLOUD_NOT_FOUND            ((HRESULT)0x80072CEDL)
#define PEER_E_INVALID_IDENTITY           ((HRESULT)0x80072CEFL)
#define PEER_E_NOT_FOUND                  ((HRESULT)0x80070490L)
#define PEER_E_ALREADY_EXISTS             ((HRESULT)0x800700B7L)
#ifndef E_PENDING
#define E_PENDING                         ((HRESULT)0x8000000AL)
#endif

VOID WINAPI PeerFreeData(const void *pvData);

HRESULT WINAPI PeerPnrpStartup(WORD wVersionRequested);
HRESULT WINAPI PeerPnrpShutdown(void);
HRESULT WINAPI PeerPnrpRegister(PCWSTR pcwzPeerName, PPEER_PNRP_REGISTRATION_INFO pRegistrationInfo,
                                HREGISTRATION *phRegistration);
HRESULT WINAPI PeerPnrpUpdateRegistration(HREGISTRATION hRegistration,
                                          PPEER_PNRP_REGISTRATION_INFO pRegistrationInfo);
HRESULT WINAPI PeerPnrpUnregister(HREGISTRATION hRegistration);
HRESULT WINAPI PeerPnrpResolve(PCWSTR pcwzPeerName, PCWSTR pcwzCloudName, ULONG *pcEndpoints,
                               PPEER_PNRP_ENDPOINT_INFO *ppEndpoints);
HRESULT WINAPI PeerPnrpStartResolve(PCWSTR pcwzPeerName, PCWSTR pcwzCloudName, ULONG cMaxEndpoints,
                                    HANDLE hEvent, HRESOLUTION *phResolve);
HRESULT WINAPI PeerPnrpGetEndpoint(HRESOLUTION hResolve, PPEER_PNRP_ENDPOINT_INFO *ppEndpoint);
HRESULT WINAPI PeerPnrpEndResolve(HRESOLUTION hResolve);
HRESULT WINAPI PeerPnrpGetCloudInfo(ULONG *pcNumClouds, PPEER_PNRP_CLOUD_INFO *ppCloudInfo);

HRESULT WINAPI PeerCreatePeerName(PCWSTR pwzIdentity, PCWSTR pwzClassifier, PWSTR *ppwzPeerName);
HRESULT WINAPI PeerNameToPeerHostName(PCWSTR pwzPeerName, PWSTR *ppwzHostName);
HRESULT WINAPI PeerHostNameToPeerName(PCWSTR pwzHostName, PWSTR *ppwzPeerName);

HRESULT WINAPI PeerIdentityCreate(PCWSTR pwzClassifier, PCWSTR pwzFriendlyName, HCRYPTPROV hCryptProv,
                                  PWSTR *ppwzIdentity);
HRESULT WINAPI PeerIdentityGetDefault(PWSTR *ppwzDefaultIdentity);
HRESULT WINAPI PeerIdentityDelete(PCWSTR pwzIdentity);

/* ----- Peer Grouping (see docs/grouping.md for what is built) -------------------------------- */

#ifndef _WIN32
typedef struct _GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;
typedef struct _FILETIME {
    DWORD dwLowDateTime;
    DWORD dwHighDateTime;
} FILETIME;
typedef uint64_t ULONGLONG;
#endif

typedef PVOID HGROUP, HPEERENUM, HPEEREVENT;

#define PEER_GROUP_VERSION 0x0101u /* MAKEWORD(1, 1) */
#define PEER_RECORD_FLAG_AUTOREFRESH 0x1u
#define PEER_RECORD_FLAG_DELETED 0x2u
#define PEER_GROUP_STATUS_LISTENING 0x1u
#define PEER_GROUP_STATUS_HAS_CONNECTIONS 0x2u
#define PEER_GROUP_GMC_AUTHENTICATION 0x1u
#define PEER_GROUP_PASSWORD_AUTHENTICATION 0x2u

#define PEER_GROUP_EVENT_STATUS_CHANGED 1
#define PEER_GROUP_EVENT_RECORD_CHANGED 3
#define PEER_GROUP_EVENT_MEMBER_CHANGED 8
#define PEER_GROUP_EVENT_CONNECTION_FAILED 10
#define PEER_RECORD_ADDED 1
#define PEER_RECORD_UPDATED 2
#define PEER_RECORD_DELETED 3
#define PEER_RECORD_EXPIRED 4
#define PEER_MEMBER_CONNECTED 1
#define PEER_MEMBER_DISCONNECTED 2
#define PEER_MEMBER_UPDATED 3
#define PEER_MEMBER_JOINED 4
#define PEER_MEMBER_LEFT 5
#define PEER_MEMBER_PRESENT 0x1u
#define PEER_CONNECTION_NEIGHBOR 0x1u
#define PEER_CONNECTION_DIRECT 0x2u

#define PEER_S_NO_EVENT_DATA              ((HRESULT)0x00630002L)
#define PEER_E_RECORD_NOT_FOUND           ((HRESULT)0x80630301L)
#define PEER_E_MAX_RECORD_SIZE_EXCEEDED   ((HRESULT)0x80630304L)
#define PEER_E_INVALID_SEARCH             ((HRESULT)0x80630601L)
#define PEER_E_INVALID_ATTRIBUTES         ((HRESULT)0x80630602L)
#define PEER_E_INVALID_RECORD             ((HRESULT)0x80632010L)
#define PEER_E_NOT_AUTHORIZED             ((HRESULT)0x80632020L)
#define PEER_E_INVALID_RECORD_EXPIRATION  ((HRESULT)0x80632080L)
#define PEER_E_INVALID_CREDENTIAL         ((HRESULT)0x80632082L)
#define PEER_E_GROUP_NOT_READY            ((HRESULT)0x80632091L)
#define PEER_E_INVALID_GROUP              ((HRESULT)0x80632093L)
#define PEER_E_NO_MEMBER_CONNECTIONS      ((HRESULT)0x80632095L)
#define PEER_E_CONNECTION_NOT_AUTHENTICATED ((HRESULT)0x8063010AL)
#define PEER_E_PASSWORD_DOES_NOT_MEET_POLICY ((HRESULT)0x80632021L)
#define PEER_E_INVITATION_NOT_TRUSTED     ((HRESULT)0x80630701L)
#define PEER_E_INVALID_TIME_PERIOD        ((HRESULT)0x80630705L)
#define PEER_E_CONNECTION_FAILED          ((HRESULT)0x80630109L)

typedef struct peer_version_data_tag {
    WORD wVersion;
    WORD wHighestVersion;
} PEER_VERSION_DATA, *PPEER_VERSION_DATA;

typedef struct peer_record_tag {
    DWORD dwSize;
    GUID type;
    GUID id;
    DWORD dwVersion;
    DWORD dwFlags;
    PWSTR pwzCreatorId;
    PWSTR pwzModifiedById;
    PWSTR pwzAttributes;
    FILETIME ftCreation;
    FILETIME ftExpiration;
    FILETIME ftLastModified;
    PEER_DATA securityData;
    PEER_DATA data;
} PEER_RECORD, *PPEER_RECORD;

/* PeerGroupParseInvitation. pSubjectPublicKey is a CERT_PUBLIC_KEY_INFO* on Windows; peerdrt
   reports NULL there, and no classifiers. */
typedef struct peer_invitation_info_tag {
    DWORD dwSize;
    DWORD dwFlags;
    PWSTR pwzCloudName;
    DWORD dwScope;
    DWORD dwCloudFlags;
    PWSTR pwzGroupPeerName;
    PWSTR pwzIssuerPeerName;
    PWSTR pwzSubjectPeerName;
    PWSTR pwzGroupFriendlyName;
    PWSTR pwzIssuerFriendlyName;
    PWSTR pwzSubjectFriendlyName;
    FILETIME ftValidityStart;
    FILETIME ftValidityEnd;
    ULONG cRoles;
    GUID *pRoles;
    ULONG cClassifiers;
    PWSTR *ppwzClassifiers;
    void *pSubjectPublicKey;
    DWORD authScheme;
} PEER_INVITATION_INFO, *PPEER_INVITATION_INFO;

typedef struct peer_group_properties_tag {
    DWORD dwSize;
    DWORD dwFlags;
    PWSTR pwzCloud;
    PWSTR pwzClassifier;
    PWSTR pwzGroupPeerName;
    PWSTR pwzCreatorPeerName;
    PWSTR pwzFriendlyName;
    PWSTR pwzComment;
    ULONG ulMemberDataLifetime;
    ULONG ulPresenceLifetime;
    DWORD dwAuthenticationSchemes;
    PWSTR pwzGroupPassword;
    GUID groupPasswordRole;
} PEER_GROUP_PROPERTIES, *PPEER_GROUP_PROPERTIES;

typedef struct peer_group_event_registration_tag {
    DWORD eventType; /* PEER_GROUP_EVENT_TYPE */
    GUID *pType;
} PEER_GROUP_EVENT_REGISTRATION, *PPEER_GROUP_EVENT_REGISTRATION;

typedef struct peer_event_record_change_data_tag {
    DWORD dwSize;
    DWORD changeType; /* PEER_RECORD_CHANGE_TYPE */
    GUID recordId;
    GUID recordType;
} PEER_EVENT_RECORD_CHANGE_DATA, *PPEER_EVENT_RECORD_CHANGE_DATA;

typedef struct peer_event_member_change_data_tag {
    DWORD dwSize;
    DWORD changeType; /* PEER_MEMBER_CHANGE_TYPE */
    PWSTR pwzIdentity;
} PEER_EVENT_MEMBER_CHANGE_DATA, *PPEER_EVENT_MEMBER_CHANGE_DATA;

typedef struct peer_event_incoming_data_tag {
    DWORD dwSize;
    ULONGLONG ullConnectionId;
    GUID type;
    PEER_DATA data;
} PEER_EVENT_INCOMING_DATA, *PPEER_EVENT_INCOMING_DATA;

typedef struct peer_group_event_data_tag {
    DWORD eventType; /* PEER_GROUP_EVENT_TYPE */
    union {
        DWORD dwStatus; /* PEER_GROUP_STATUS */
        PEER_EVENT_INCOMING_DATA incomingData;
        PEER_EVENT_RECORD_CHANGE_DATA recordChangeData;
        PEER_EVENT_MEMBER_CHANGE_DATA memberChangeData;
        HRESULT hrConnectionFailedReason;
    };
} PEER_GROUP_EVENT_DATA, *PPEER_GROUP_EVENT_DATA;

#ifndef _WIN32
#include <netinet/in.h>
typedef struct sockaddr_in6 SOCKADDR_IN6;
#else
#include <ws2tcpip.h>
#endif

typedef struct peer_address_tag {
    DWORD dwSize;
    SOCKADDR_IN6 sin6;
} PEER_ADDRESS, *PPEER_ADDRESS;

typedef struct peer_credential_info_tag PEER_CREDENTIAL_INFO, *PPEER_CREDENTIAL_INFO;

/* pwzIdentity: the member's key in hex; pwzAttributes and pCredentialInfo are NULL. */
typedef struct peer_member_tag {
    DWORD dwSize;
    DWORD dwFlags; /* PEER_MEMBER_PRESENT */
    PWSTR pwzIdentity;
    PWSTR pwzAttributes;
    ULONGLONG ullNodeId;
    ULONG cAddresses;
    PPEER_ADDRESS pAddresses;
    PPEER_CREDENTIAL_INFO pCredentialInfo;
} PEER_MEMBER, *PPEER_MEMBER;

/* One neighbor connection per connected member: ullConnectionId is its node ID, pwzPeerId its key in hex. */
typedef struct peer_connection_info_tag {
    DWORD dwSize;
    DWORD dwFlags; /* PEER_CONNECTION_NEIGHBOR */
    ULONGLONG ullConnectionId;
    ULONGLONG ullNodeId;
    PWSTR pwzPeerId;
    PEER_ADDRESS address;
} PEER_CONNECTION_INFO, *PPEER_CONNECTION_INFO;

HRESULT WINAPI PeerGroupStartup(WORD wVersionRequested, PPEER_VERSION_DATA pVersionData);
HRESULT WINAPI PeerGroupShutdown(void);
HRESULT WINAPI PeerGroupCreate(PPEER_GROUP_PROPERTIES pProperties, HGROUP *phGroup);
HRESULT WINAPI PeerGroupCreateInvitation(HGROUP hGroup, PCWSTR pwzIdentityInfo, FILETIME *pftExpiration, ULONG cRoles,
                                         const GUID *pRoles, PWSTR *ppwzInvitation);
HRESULT WINAPI PeerGroupJoin(PCWSTR pwzIdentity, PCWSTR pwzInvitation, PCWSTR pwzCloud, HGROUP *phGroup);
HRESULT WINAPI PeerGroupCreatePasswordInvitation(HGROUP hGroup, PWSTR *ppwzInvitation);
HRESULT WINAPI PeerGroupParseInvitation(PCWSTR pwzInvitation, PPEER_INVITATION_INFO *ppInvitationInfo);
HRESULT WINAPI PeerGroupPasswordJoin(PCWSTR pwzIdentity, PCWSTR pwzInvitation, PCWSTR pwzPassword, PCWSTR pwzCloud,
                                     HGROUP *phGroup);
HRESULT WINAPI PeerGroupOpen(PCWSTR pwzIdentity, PCWSTR pwzGroupPeerName, PCWSTR pwzCloud, HGROUP *phGroup);
HRESULT WINAPI PeerGroupConnect(HGROUP hGroup);
HRESULT WINAPI PeerGroupClose(HGROUP hGroup);
HRESULT WINAPI PeerGroupDelete(PCWSTR pwzIdentity, PCWSTR pwzGroupPeerName);
HRESULT WINAPI PeerGroupGetProperties(HGROUP hGroup, PPEER_GROUP_PROPERTIES *ppProperties);
HRESULT WINAPI PeerGroupRegisterEvent(HGROUP hGroup, HANDLE hEvent, DWORD cEventRegistration,
                                      PEER_GROUP_EVENT_REGISTRATION *pEventRegistrations, HPEEREVENT *phPeerEvent);
HRESULT WINAPI PeerGroupUnregisterEvent(HPEEREVENT hPeerEvent);
HRESULT WINAPI PeerGroupGetEventData(HPEEREVENT hPeerEvent, PPEER_GROUP_EVENT_DATA *ppEventData);
HRESULT WINAPI PeerGroupSearchRecords(HGROUP hGroup, PCWSTR pwzCriteria, HPEERENUM *phRecordEnum);
HRESULT WINAPI PeerGroupAddRecord(HGROUP hGroup, PPEER_RECORD pRecord, GUID *pRecordId);
HRESULT WINAPI PeerGroupUpdateRecord(HGROUP hGroup, PPEER_RECORD pRecord);
HRESULT WINAPI PeerGroupDeleteRecord(HGROUP hGroup, const GUID *pRecordId);
HRESULT WINAPI PeerGroupGetRecord(HGROUP hGroup, const GUID *pRecordId, PPEER_RECORD *ppRecord);
HRESULT WINAPI PeerGroupEnumRecords(HGROUP hGroup, const GUID *pRecordType, HPEERENUM *phRecordEnum);
HRESULT WINAPI PeerGroupEnumMembers(HGROUP hGroup, DWORD dwFlags, PCWSTR pwzIdentity, HPEERENUM *phPeerEnum);
HRESULT WINAPI PeerGroupEnumConnections(HGROUP hGroup, DWORD dwFlags, HPEERENUM *phPeerEnum);
HRESULT WINAPI PeerGetNextItem(HPEERENUM hPeerEnum, ULONG *pCount, PVOID **pppvItems);
HRESULT WINAPI PeerGetItemCount(HPEERENUM hPeerEnum, ULONG *pCount);
HRESULT WINAPI PeerEndEnumeration(HPEERENUM hPeerEnum);
HRESULT WINAPI PeerGroupGetStatus(HGROUP hGroup, DWORD *pdwStatus);
HRESULT WINAPI PeerGroupUniversalTimeToPeerTime(HGROUP hGroup, FILETIME *pftUniversalTime, FILETIME *pftPeerTime);
HRESULT WINAPI PeerGroupPeerTimeToUniversalTime(HGROUP hGroup, FILETIME *pftPeerTime, FILETIME *pftUniversalTime);

#ifdef __cplusplus
}
#endif

#endif /* PEERDRT_P2P_H */
