/* The PNRP sample's flow in C against the peerdrt shim (include/p2p.h):
 *   pnrp_flow <own name> <name registered by another process>
 * Starts PNRP, lists the clouds, registers its own name, checks it does not resolve its own
 * name, resolves the other name synchronously and asynchronously (event per endpoint, then
 * PEER_E_NO_MORE), then on "go" from stdin unregisters and shuts down. */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "test_common.h"

static void print_endpoint(const char *tag, const PEER_PNRP_ENDPOINT_INFO *e) {
    char name[256], comment[64], payload[64];
    from_w(e->pwzPeerName, name, sizeof name);
    from_w(e->pwzComment, comment, sizeof comment);
    size_t n = e->payload.cbData < sizeof payload - 1 ? e->payload.cbData : sizeof payload - 1;
    memcpy(payload, e->payload.pbData, n);
    payload[n] = 0;
    printf("%s %s %s %s %lu\n", tag, name, comment, payload, (unsigned long)e->cAddresses);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    WCHAR own[256], other[256], comment[64];
    to_w(argv[1], own, 256);
    to_w(argv[2], other, 256);
    to_w("from-c", comment, 64);
    setvbuf(stdout, NULL, _IONBF, 0);

    CHECK(PeerPnrpStartup(PNRP_VERSION));

    ULONG nclouds = 0;
    PPEER_PNRP_CLOUD_INFO clouds = NULL;
    CHECK(PeerPnrpGetCloudInfo(&nclouds, &clouds));
    for (ULONG i = 0; i < nclouds; i++) {
        char cname[128];
        from_w(clouds[i].pwzCloudName, cname, sizeof cname);
        printf("cloud %s %u\n", cname, (unsigned)clouds[i].dwScope);
    }
    PeerFreeData(clouds);

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(1234);
    inet_pton(AF_INET, "192.0.2.9", &sin.sin_addr);
    SOCKADDR *addrs[1] = {(SOCKADDR *)&sin};
    static BYTE payload[] = "c-payload";
    PEER_PNRP_REGISTRATION_INFO info;
    memset(&info, 0, sizeof info);
    info.cAddresses = 1;
    info.ppAddresses = addrs;
    info.pwzComment = comment;
    info.payload.cbData = (ULONG)strlen((const char *)payload);
    info.payload.pbData = payload;
    HREGISTRATION reg = NULL;
    CHECK(PeerPnrpRegister(own, &info, &reg));
    printf("REGISTERED\n");

    ULONG count = 5;
    PPEER_PNRP_ENDPOINT_INFO eps = NULL;
    HRESULT hr = PeerPnrpResolve(own, NULL, &count, &eps);
    printf(hr == PEER_E_NOT_FOUND ? "own: not found\n" : "own: 0x%08x\n", (unsigned)hr);

    /* The other name, synchronously (retried while the cloud converges). */
    for (int attempt = 0; attempt < 40; attempt++) {
        count = 5;
        hr = PeerPnrpResolve(other, NULL, &count, &eps);
        if (hr == S_OK) break;
    }
    if (hr != S_OK) {
        fprintf(stderr, "PeerPnrpResolve(other): 0x%08x\n", (unsigned)hr);
        return 1;
    }
    for (ULONG i = 0; i < count; i++) print_endpoint("sync", &eps[i]);
    PeerFreeData(eps);

    /* Asynchronously: one endpoint per PeerPnrpGetEndpoint, an event per endpoint. */
    HANDLE ev = PeerDrtCreateEvent(0);
    HRESOLUTION res = NULL;
    CHECK(PeerPnrpStartResolve(other, NULL, 5, ev, &res));
    int got = 0;
    for (;;) {
        if (PeerDrtWaitForEvent(ev, 40000) != WAIT_OBJECT_0) {
            fprintf(stderr, "no event\n");
            return 1;
        }
        PPEER_PNRP_ENDPOINT_INFO e = NULL;
        while ((hr = PeerPnrpGetEndpoint(res, &e)) == S_OK) {
            print_endpoint("async", e);
            PeerFreeData(e);
            got++;
        }
        if (hr != E_PENDING) break;
    }
    printf("async: %d then %s\n", got, hr == PEER_E_NO_MORE ? "NO_MORE" : "other");
    CHECK(PeerPnrpEndResolve(res));
    PeerDrtCloseEvent(ev);

    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1;
    CHECK(PeerPnrpUnregister(reg));
    printf("UNREGISTERED\n");
    CHECK(PeerPnrpShutdown());
    hr = PeerPnrpShutdown();
    printf(hr == PEER_E_NOT_INITIALIZED ? "OK\n" : "shutdown twice: 0x%08x\n", (unsigned)hr);
    return 0;
}
