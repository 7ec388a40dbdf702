/*
 * drt_flow.c — the DRT SDK sample's flow (DrtSdkSample.cpp) in C against drt.h and the peerdrt
 * shim: providers, DrtOpen with an auto-reset event drained with DrtGetEventDataSize/Data,
 * DrtRegisterKey, exact / nearest / iterative searches with a manual-reset event and the
 * Size/Get result loop, DrtGetSearchPath, DrtUnregisterKey, DrtClose — plus argument checks
 * with their exact HRESULTs.
 *
 * usage: drt_flow SEED_HOST SEED_PORT REMOTE_KEY REMOTE_DATA LOCAL_KEY LOCAL_DATA
 *   Keys are hexadecimal numbers (most significant digit first); the device comes from
 *   $PEERDRT_SOCKET. REMOTE_KEY is registered by another process with REMOTE_DATA; this program
 *   registers LOCAL_KEY, prints "REGISTERED", waits for a line on stdin, unregisters it, prints
 *   "UNREGISTERED", waits for another line, and exits 0 if every check passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <netinet/in.h>

#include "drt.h"
#include "peerdrt.h"

_Static_assert(sizeof(DRT_DATA) == 16, "DRT_DATA");
_Static_assert(sizeof(DRT_REGISTRATION) == 32, "DRT_REGISTRATION");
_Static_assert(sizeof(DRT_SETTINGS) == 56, "DRT_SETTINGS");
_Static_assert(offsetof(DRT_SETTINGS, eSecurityMode) == 48, "DRT_SETTINGS.eSecurityMode");
_Static_assert(sizeof(DRT_SEARCH_INFO) == 40, "DRT_SEARCH_INFO");
_Static_assert(offsetof(DRT_SEARCH_INFO, pMinimumKey) == 32, "DRT_SEARCH_INFO.pMinimumKey");
_Static_assert(sizeof(DRT_SEARCH_RESULT) == 48, "DRT_SEARCH_RESULT");
_Static_assert(sizeof(DRT_EVENT_DATA) == 56, "DRT_EVENT_DATA");
_Static_assert(sizeof(DRT_ADDRESS) == 144, "DRT_ADDRESS");
_Static_assert(sizeof(DRT_ADDRESS_LIST) == 152, "DRT_ADDRESS_LIST");
_Static_assert(sizeof(DRT_SECURITY_PROVIDER) == 112, "DRT_SECURITY_PROVIDER");
_Static_assert(sizeof(DRT_BOOTSTRAP_PROVIDER) == 64, "DRT_BOOTSTRAP_PROVIDER");
_Static_assert(sizeof(CERT_CONTEXT) == 40, "CERT_CONTEXT");

#define TRUE_MANUAL_RESET 1

static int failures = 0;

#define CHECK(cond, ...)                                             \
    do {                                                             \
        if (!(cond)) {                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                            \
            fprintf(stderr, "\n");                                   \
            failures++;                                              \
        }                                                            \
    } while (0)

#define CHECK_HR(expr, want)                                                             \
    do {                                                                                 \
        HRESULT got_ = (expr);                                                           \
        CHECK(got_ == (want), "%s = 0x%08X, want 0x%08X", #expr, (unsigned)got_,         \
              (unsigned)(want));                                                         \
    } while (0)

/* "0x1234" → 32 bytes in DRT_DATA order (least-significant byte first). */
static void key_from_hex(const char *hex, BYTE out[32]) {
    memset(out, 0, 32);
    size_t n = strlen(hex);
    if (n > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) { hex += 2; n -= 2; }
    for (size_t i = 0; i < n && i < 64; i++) {
        char c = hex[n - 1 - i];
        int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 0;
        out[i / 2] |= (BYTE)(i % 2 ? v << 4 : v);
    }
}

static PCWSTR wide(const char *s, WCHAR *buf, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) buf[i] = (WCHAR)(unsigned char)s[i];
    buf[i] = 0;
    return buf;
}

/* Drains the DRT's event queue; returns the last status seen (or -1). */
static int drain_events(HDRT hDrt) {
    int status = -1;
    for (;;) {
        ULONG size = 0;
        HRESULT hr = DrtGetEventDataSize(hDrt, &size);
        if (hr == DRT_E_NO_MORE) break;
        CHECK(hr == S_OK, "DrtGetEventDataSize = 0x%08X", (unsigned)hr);
        if (hr != S_OK) break;
        CHECK(size >= sizeof(DRT_EVENT_DATA), "event size %u", (unsigned)size);
        DRT_EVENT_DATA *e = malloc(size);
        CHECK_HR(DrtGetEventData(hDrt, size - 1, e), DRT_E_INSUFFICIENT_BUFFER);
        CHECK_HR(DrtGetEventData(hDrt, size, e), S_OK);
        CHECK(e->pvContext == (PVOID)0x5A5A, "event pvContext %p", e->pvContext);
        switch (e->type) {
        case DRT_EVENT_STATUS_CHANGED:
            status = (int)e->statusChange.status;
            printf("event: status %d (hr 0x%08X, %u bootstrap addresses)\n", status, (unsigned)e->hr,
                   (unsigned)e->statusChange.bootstrapAddresses.cntAddress);
            break;
        case DRT_EVENT_LEAFSET_KEY_CHANGED:
            CHECK(e->leafsetKeyChange.localKey.cb == 32 && e->leafsetKeyChange.remoteKey.cb == 32, "leaf set keys");
            CHECK((BYTE *)e->leafsetKeyChange.localKey.pb >= (BYTE *)e + sizeof(DRT_EVENT_DATA) &&
                      (BYTE *)e->leafsetKeyChange.remoteKey.pb + 32 <= (BYTE *)e + size,
                  "leaf set keys point into the event buffer");
            printf("event: leaf set %s, remote key ...%02x\n",
                   e->leafsetKeyChange.change == DRT_LEAFSET_KEY_ADDED ? "added" : "deleted",
                   e->leafsetKeyChange.remoteKey.pb[0]);
            break;
        default:
            printf("event: type %d\n", (int)e->type);
        }
        free(e);
    }
    CHECK_HR(DrtGetEventData(hDrt, 1024, NULL), E_INVALIDARG);
    return status;
}

typedef struct {
    int results;
    int exact;
    int intermediate;
    int found_key;      /* the wanted key was among the results */
    char data[64];      /* its application data */
    ULONG path;         /* nodes on the search path */
    HRESULT end;
} search_outcome;

/* The sample's result loop: wait, Size, Get, until DRT_E_NO_MORE (or an error). */
static search_outcome run_search(HDRT hDrt, const BYTE target[32], const DRT_SEARCH_INFO *info, const BYTE want[32]) {
    search_outcome o;
    memset(&o, 0, sizeof o);
    HANDLE ev = PeerDrtCreateEvent(TRUE_MANUAL_RESET);
    DRT_DATA key = { 32, (BYTE *)target };
    HDRT_SEARCH_CONTEXT hSearch = NULL;
    HRESULT hr = DrtStartSearch(hDrt, &key, info, 5000, ev, (PVOID)0x77, &hSearch);
    CHECK(hr == S_OK, "DrtStartSearch = 0x%08X", (unsigned)hr);
    if (hr != S_OK) { o.end = hr; PeerDrtCloseEvent(ev); return o; }
    for (int rounds = 0; rounds < 200; rounds++) {
        DWORD w = PeerDrtWaitForEvent(ev, 10000);
        CHECK(w == WAIT_OBJECT_0, "search event wait = 0x%X", (unsigned)w);
        if (w != WAIT_OBJECT_0) { o.end = DRT_E_TIMEOUT; break; }
        ULONG size = 0;
        hr = DrtGetSearchResultSize(hSearch, &size);
        if (hr == DRT_E_SEARCH_IN_PROGRESS) continue;
        if (hr != S_OK) { o.end = hr; break; }
        DRT_SEARCH_RESULT *r = malloc(size);
        CHECK_HR(DrtGetSearchResult(hSearch, sizeof(DRT_SEARCH_RESULT), r), DRT_E_INSUFFICIENT_BUFFER);
        hr = DrtGetSearchResult(hSearch, size, r);
        CHECK(hr == S_OK, "DrtGetSearchResult = 0x%08X", (unsigned)hr);
        if (hr == S_OK) {
            CHECK(r->dwSize == sizeof(DRT_SEARCH_RESULT), "dwSize %u", (unsigned)r->dwSize);
            CHECK(r->pvContext == (PVOID)0x77, "search pvContext %p", r->pvContext);
            CHECK(r->registration.key.cb == 32, "result key size %u", (unsigned)r->registration.key.cb);
            CHECK(r->registration.key.pb == (BYTE *)r + sizeof(DRT_SEARCH_RESULT), "key follows the struct");
            o.results++;
            if (r->type == DRT_MATCH_INTERMEDIATE) {
                o.intermediate++;
                CHECK_HR(DrtContinueSearch(hSearch), S_OK);
            } else {
                if (r->type == DRT_MATCH_EXACT) o.exact++;
                if (want && memcmp(r->registration.key.pb, want, 32) == 0) {
                    o.found_key = 1;
                    size_t n = r->registration.appData.cb < sizeof o.data - 1 ? r->registration.appData.cb : sizeof o.data - 1;
                    memcpy(o.data, r->registration.appData.pb, n);
                    o.data[n] = 0;
                }
            }
        }
        free(r);
    }
    ULONG psize = 0;
    CHECK_HR(DrtGetSearchPathSize(hSearch, &psize), S_OK);
    CHECK(psize >= sizeof(DRT_ADDRESS_LIST), "path size %u", (unsigned)psize);
    DRT_ADDRESS_LIST *path = malloc(psize);
    if (psize > sizeof(DRT_ADDRESS_LIST))
        CHECK_HR(DrtGetSearchPath(hSearch, sizeof(DRT_ADDRESS_LIST), path), DRT_E_INSUFFICIENT_BUFFER);
    CHECK_HR(DrtGetSearchPath(hSearch, psize, path), S_OK);
    o.path = path->AddressCount;
    for (ULONG i = 0; i < path->AddressCount; i++) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&path->AddressList[i].socketAddress;
        CHECK(a->sin6_family == AF_INET6, "path entry family %d", a->sin6_family);
        CHECK(ntohs(a->sin6_port) != 0, "path entry port");
    }
    free(path);
    CHECK_HR(DrtEndSearch(hSearch), S_OK);
    CHECK_HR(DrtEndSearch(hSearch), E_HANDLE);
    PeerDrtCloseEvent(ev);
    return o;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s SEED_HOST SEED_PORT REMOTE_KEY REMOTE_DATA LOCAL_KEY LOCAL_DATA\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    BYTE remote[32], local[32];
    key_from_hex(argv[3], remote);
    key_from_hex(argv[5], local);
    const char *remote_data = argv[4], *local_data = argv[6];

    /* Providers, as the sample makes them. */
    USHORT port = 0;
    HDRT_TRANSPORT hTransport = NULL;
    CHECK_HR(DrtCreateIpv6UdpTransport(DRT_GLOBAL_SCOPE, 0, 300, NULL, &hTransport), DRT_E_INVALID_PORT);
    CHECK_HR(DrtCreateIpv6UdpTransport((DRT_SCOPE)9, 0, 300, &port, &hTransport), DRT_E_INVALID_SCOPE);
    CHECK_HR(DrtCreateIpv6UdpTransport(DRT_GLOBAL_SCOPE, 0, 300, &port, &hTransport), S_OK);
    DRT_SECURITY_PROVIDER *pSecurity = NULL;
    CHECK_HR(DrtCreateNullSecurityProvider(&pSecurity), S_OK);
    DRT_BOOTSTRAP_PROVIDER *pBootstrap = NULL;
    WCHAR host[256];
    CHECK_HR(DrtCreateDnsBootstrapResolver((USHORT)atoi(argv[2]), wide(argv[1], host, 256), &pBootstrap), S_OK);

    WCHAR prefix[64];
    DRT_SETTINGS settings;
    memset(&settings, 0, sizeof settings);
    settings.dwSize = sizeof(DRT_SETTINGS);
    settings.cbKey = 32;
    settings.bProtocolMajorVersion = 0x6;
    settings.bProtocolMinorVersion = 0x65;
    settings.ulMaxRoutingAddresses = 4;
    settings.pwzDrtInstancePrefix = (PWSTR)wide("Local_DRT", prefix, 64);
    settings.hTransport = hTransport;
    settings.pSecurityProvider = pSecurity;
    settings.pBootstrapProvider = pBootstrap;
    settings.eSecurityMode = DRT_SECURE_CONFIDENTIALPAYLOAD;

    /* DrtOpen's checks. */
    HDRT hDrt = NULL;
    CHECK_HR(DrtOpen(&settings, NULL, NULL, NULL), E_INVALIDARG);
    CHECK_HR(DrtOpen(NULL, NULL, NULL, &hDrt), DRT_E_INVALID_SETTINGS);
    DRT_SETTINGS bad = settings;
    bad.dwSize = 40;
    CHECK_HR(DrtOpen(&bad, NULL, NULL, &hDrt), DRT_E_INVALID_SETTINGS);
    bad = settings;
    bad.cbKey = 8;
    CHECK_HR(DrtOpen(&bad, NULL, NULL, &hDrt), DRT_E_INVALID_KEY_SIZE);
    bad = settings;
    bad.ulMaxRoutingAddresses = 21;
    CHECK_HR(DrtOpen(&bad, NULL, NULL, &hDrt), DRT_E_INVALID_MAX_ADDRESSES);
    bad = settings;
    bad.pSecurityProvider = NULL;
    CHECK_HR(DrtOpen(&bad, NULL, NULL, &hDrt), DRT_E_INVALID_SECURITY_PROVIDER);

    /* Open with an auto-reset event, wait until the DRT is active. */
    HANDLE hOpenEvent = PeerDrtCreateEvent(0);
    HRESULT hr = DrtOpen(&settings, hOpenEvent, (PVOID)0x5A5A, &hDrt);
    CHECK(hr == S_OK, "DrtOpen = 0x%08X", (unsigned)hr);
    if (hr != S_OK) return 1;
    HDRT second = NULL;
    CHECK_HR(DrtOpen(&settings, NULL, NULL, &second), DRT_E_TRANSPORTPROVIDER_IN_USE);
    CHECK_HR(DrtDeleteIpv6UdpTransport(hTransport), DRT_E_TRANSPORT_STILL_BOUND);
    USHORT bound = 0;
    CHECK_HR(PeerDrtGetTransportPort(hTransport, &bound), S_OK);
    CHECK(bound != 0, "the transport's port is known after DrtOpen");
    int status = -1;
    for (int i = 0; i < 100 && status != DRT_ACTIVE; i++) {
        if (PeerDrtWaitForEvent(hOpenEvent, 200) == WAIT_OBJECT_0) {
            int s = drain_events(hDrt);
            if (s >= 0) status = s;
        }
    }
    CHECK(status == DRT_ACTIVE, "the DRT became active (status %d)", status);

    ULONG nameSize = 0;
    CHECK_HR(DrtGetInstanceNameSize(hDrt, &nameSize), S_OK);
    WCHAR *name = malloc(nameSize);
    CHECK_HR(DrtGetInstanceName(hDrt, 2, name), DRT_E_INSUFFICIENT_BUFFER);
    CHECK_HR(DrtGetInstanceName(hDrt, nameSize, name), S_OK);
    CHECK(name[0] == 'L' && name[5] == '_' && name[nameSize / 2 - 1] == 0, "instance name");
    free(name);

    /* DrtStartSearch's checks. */
    HANDLE hSearchEvent = PeerDrtCreateEvent(1);
    HDRT_SEARCH_CONTEXT hSearch = NULL;
    DRT_DATA key = { 32, remote };
    DRT_DATA shortKey = { 31, remote };
    CHECK_HR(DrtStartSearch(hDrt, &shortKey, NULL, 1000, hSearchEvent, NULL, &hSearch), DRT_E_INVALID_KEY_SIZE);
    CHECK_HR(DrtStartSearch(hDrt, &key, NULL, 1000, NULL, NULL, &hSearch), E_INVALIDARG);
    DRT_SEARCH_INFO info;
    memset(&info, 0, sizeof info);
    info.dwSize = sizeof info - 8;
    info.cMaxEndpoints = 1;
    CHECK_HR(DrtStartSearch(hDrt, &key, &info, 1000, hSearchEvent, NULL, &hSearch), DRT_E_INVALID_SEARCH_INFO);
    info.dwSize = sizeof info;
    info.cMaxEndpoints = 0;
    CHECK_HR(DrtStartSearch(hDrt, &key, &info, 1000, hSearchEvent, NULL, &hSearch), DRT_E_INVALID_MAX_ENDPOINTS);
    info.cMaxEndpoints = 1;
    info.pMinimumKey = &key;
    CHECK_HR(DrtStartSearch(hDrt, &key, &info, 1000, hSearchEvent, NULL, &hSearch), E_INVALIDARG);
    PeerDrtCloseEvent(hSearchEvent);

    /* Register our key. */
    DRT_REGISTRATION reg;
    reg.key.cb = 32;
    reg.key.pb = local;
    reg.appData.cb = (ULONG)strlen(local_data);
    reg.appData.pb = (BYTE *)local_data;
    HDRT_REGISTRATION_CONTEXT hReg = NULL;
    DRT_REGISTRATION badReg = reg;
    badReg.appData.cb = 0;
    CHECK_HR(DrtRegisterKey(hDrt, &badReg, NULL, &hReg), E_INVALIDARG);
    badReg = reg;
    badReg.appData.cb = DRT_MAX_PAYLOAD_SIZE + 1;
    CHECK_HR(DrtRegisterKey(hDrt, &badReg, NULL, &hReg), E_INVALIDARG);
    badReg = reg;
    badReg.key.cb = 16;
    CHECK_HR(DrtRegisterKey(hDrt, &badReg, NULL, &hReg), DRT_E_INVALID_KEY_SIZE);
    CHECK_HR(DrtRegisterKey(hDrt, &reg, NULL, &hReg), S_OK);
    CHECK_HR(DrtRegisterKey(hDrt, &reg, NULL, &hReg), DRT_E_DUPLICATE_KEY);
    DRT_DATA newData = { 7, (BYTE *)"updated" };
    DRT_DATA noData = { 0, (BYTE *)"x" };
    CHECK_HR(DrtUpdateKey(hReg, &noData), E_INVALIDARG);
    CHECK_HR(DrtUpdateKey((HDRT_REGISTRATION_CONTEXT)0x12345670, &newData), E_HANDLE);
    CHECK_HR(DrtUpdateKey(hReg, &reg.appData), S_OK);

    /* Find the other process's key: exact, nearest, iterative (a few tries: it may still be
       spreading through the cloud). */
    search_outcome o;
    memset(&o, 0, sizeof o);
    for (int attempt = 0; attempt < 5 && !o.found_key; attempt++) {
        o = run_search(hDrt, remote, NULL, remote);
    }
    CHECK(o.found_key && o.exact == 1, "exact search found the remote key (results %d, end 0x%08X)", o.results, (unsigned)o.end);
    CHECK(strcmp(o.data, remote_data) == 0, "remote data \"%s\", want \"%s\"", o.data, remote_data);
    CHECK(o.end == DRT_E_NO_MORE, "the exact search ended with 0x%08X", (unsigned)o.end);
    CHECK(o.path >= 1, "the search path has %u nodes", (unsigned)o.path);
    printf("exact: found \"%s\" (%u nodes on the path)\n", o.data, (unsigned)o.path);

    BYTE lo[32], hi[32];
    memset(lo, 0x00, 32);
    memset(hi, 0xFF, 32);
    DRT_DATA dlo = { 32, lo }, dhi = { 32, hi };
    memset(&info, 0, sizeof info);
    info.dwSize = sizeof info;
    info.cMaxEndpoints = 3;
    info.pMinimumKey = &dlo;
    info.pMaximumKey = &dhi;
    o = run_search(hDrt, remote, &info, remote);
    CHECK(o.found_key, "nearest search found the remote key (%d results)", o.results);
    CHECK(o.results >= 1 && o.results <= 3, "nearest search: %d results", o.results);
    printf("nearest: %d results\n", o.results);

    DRT_DATA target = { 32, remote };
    memset(&info, 0, sizeof info);
    info.dwSize = sizeof info;
    info.fIterative = 1;
    info.cMaxEndpoints = 1;
    info.pMinimumKey = &target;
    info.pMaximumKey = &target;
    o = run_search(hDrt, remote, &info, remote);
    CHECK(o.found_key, "iterative search found the remote key (%d hops)", o.intermediate);
    printf("iterative: %d intermediate hops\n", o.intermediate);

    /* Our own key from our own instance: only with fAllowCurrentInstanceMatch. */
    memset(&info, 0, sizeof info);
    info.dwSize = sizeof info;
    info.fAllowCurrentInstanceMatch = 1;
    info.cMaxEndpoints = 1;
    o = run_search(hDrt, local, &info, local);
    CHECK(o.found_key && strcmp(o.data, local_data) == 0, "own key with fAllowCurrentInstanceMatch");

    printf("REGISTERED\n");
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return 3;

    DrtUnregisterKey(hReg);
    CHECK_HR(DrtUpdateKey(hReg, &newData), E_HANDLE);
    printf("UNREGISTERED\n");
    if (!fgets(line, sizeof line, stdin)) return 3;

    drain_events(hDrt);
    DrtClose(hDrt);
    CHECK_HR(DrtGetEventDataSize(hDrt, &nameSize), E_HANDLE);
    PeerDrtCloseEvent(hOpenEvent);
    CHECK_HR(DrtDeleteIpv6UdpTransport(hTransport), S_OK);
    DrtDeleteNullSecurityProvider(pSecurity);
    DrtDeleteDnsBootstrapResolver(pBootstrap);

    /* The undocumented exports are there, and say so. */
    CHECK_HR(DrtFlushCache(), E_NOTIMPL);
    CHECK_HR(DrtPingPeer(), E_NOTIMPL);

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("OK\n");
    return 0;
}
