/* A group member in C against the peerdrt shim (include/p2p.h):
 *   group_flow <identity> <invitation>
 * Joins with the invitation, registers for RECORD_CHANGED / MEMBER_CHANGED / STATUS_CHANGED,
 * connects, adds a record once the database is synchronised, waits for the RECORD_CHANGED of
 * that record (draining the queue until PEER_S_NO_EVENT_DATA), then on "go" from stdin
 * enumerates the records, closes the group, reopens it by its peer name with PeerGroupOpen and
 * reads the record back. Prints one line per step; "OK" at the end. */
#include <string.h>
#include "test_common.h"

/* FILETIME now + seconds (from the C library's clock). */
static FILETIME in_seconds(long long seconds) {
    unsigned long long now = (unsigned long long)time(NULL) * 10000000ULL + 116444736000000000ULL;
    unsigned long long t = now + (unsigned long long)seconds * 10000000ULL;
    FILETIME f = {(DWORD)t, (DWORD)(t >> 32)};
    return f;
}

static const GUID RECORD_TYPE = {0x7e57c0de, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};

static void print_record(const PEER_RECORD *r) {
    char data[128];
    size_t n = r->data.cbData < sizeof data - 1 ? r->data.cbData : sizeof data - 1;
    memcpy(data, r->data.pbData, n);
    data[n] = 0;
    printf("record %s v%lu\n", data, (unsigned long)r->dwVersion);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    PEER_VERSION_DATA version;
    CHECK(PeerGroupStartup(PEER_GROUP_VERSION, &version));

    static WCHAR identity[256], invitation[16384];
    to_w(argv[1], identity, 256);
    to_w(argv[2], invitation, 16384);
    HGROUP group = NULL;
    CHECK(PeerGroupJoin(identity, invitation, NULL, &group));
    PPEER_GROUP_PROPERTIES props = NULL;
    CHECK(PeerGroupGetProperties(group, &props));
    char peer_name[256];
    from_w(props->pwzGroupPeerName, peer_name, sizeof peer_name);
    WCHAR group_name[256];
    to_w(peer_name, group_name, 256);
    printf("joined %s\n", peer_name);
    PeerFreeData(props);

    HANDLE event = PeerDrtCreateEvent(0);
    PEER_GROUP_EVENT_REGISTRATION regs[3] = {
        {PEER_GROUP_EVENT_RECORD_CHANGED, (GUID *)&RECORD_TYPE},
        {PEER_GROUP_EVENT_MEMBER_CHANGED, NULL},
        {PEER_GROUP_EVENT_STATUS_CHANGED, NULL},
    };
    HPEEREVENT peer_event = NULL;
    CHECK(PeerGroupRegisterEvent(group, event, 3, regs, &peer_event));
    CHECK(PeerGroupConnect(group));

    static BYTE data[] = "from-c";
    PEER_RECORD record;
    memset(&record, 0, sizeof record);
    record.dwSize = sizeof record;
    record.type = RECORD_TYPE;
    record.ftExpiration = in_seconds(3600);
    record.data.cbData = (ULONG)strlen((const char *)data);
    record.data.pbData = data;
    GUID id;
    HRESULT hr = PEER_E_GROUP_NOT_READY;
    for (int i = 0; i < 300 && hr == PEER_E_GROUP_NOT_READY; i++) {
        hr = PeerGroupAddRecord(group, &record, &id);
        if (hr == PEER_E_GROUP_NOT_READY) sleep_ms(100);
    }
    CHECK(hr);
    printf("added\n");

    int seen_record = 0, seen_member = 0, seen_status = 0;
    for (int round = 0; round < 100 && !(seen_record && seen_member && seen_status); round++) {
        if (PeerDrtWaitForEvent(event, 200) != 0) continue;
        for (;;) {
            PPEER_GROUP_EVENT_DATA e = NULL;
            hr = PeerGroupGetEventData(peer_event, &e);
            if (hr == PEER_S_NO_EVENT_DATA) break;
            CHECK(hr);
            if (e->eventType == PEER_GROUP_EVENT_RECORD_CHANGED && e->recordChangeData.changeType == PEER_RECORD_ADDED &&
                memcmp(&e->recordChangeData.recordId, &id, sizeof id) == 0) {
                printf("event RECORD_CHANGED added\n");
                seen_record = 1;
            } else if (e->eventType == PEER_GROUP_EVENT_MEMBER_CHANGED &&
                       e->memberChangeData.changeType == PEER_MEMBER_CONNECTED) {
                printf("event MEMBER_CHANGED connected\n");
                seen_member = 1;
            } else if (e->eventType == PEER_GROUP_EVENT_STATUS_CHANGED &&
                       (e->dwStatus & PEER_GROUP_STATUS_HAS_CONNECTIONS)) {
                printf("event STATUS_CHANGED has-connections\n");
                seen_status = 1;
            }
            PeerFreeData(e);
        }
    }
    if (!(seen_record && seen_member && seen_status)) {
        fprintf(stderr, "events missing: record %d member %d status %d\n", seen_record, seen_member, seen_status);
        return 1;
    }
    printf("EVENTS\n");
    char go[16];
    if (!fgets(go, sizeof go, stdin)) return 1;

    HPEERENUM records = NULL;
    CHECK(PeerGroupEnumRecords(group, NULL, &records));
    ULONG count = 16;
    PVOID *items = NULL;
    CHECK(PeerGetNextItem(records, &count, &items));
    printf("enumerated %lu\n", (unsigned long)count);
    for (ULONG i = 0; i < count; i++) print_record((const PEER_RECORD *)items[i]);
    PeerFreeData(items);
    CHECK(PeerEndEnumeration(records));
    CHECK(PeerGroupUnregisterEvent(peer_event));
    CHECK(PeerGroupClose(group));
    printf("closed\n");

    CHECK(PeerGroupOpen(identity, group_name, NULL, &group));
    PPEER_RECORD again = NULL;
    CHECK(PeerGroupGetRecord(group, &id, &again));
    printf("reopened: ");
    print_record(again);
    PeerFreeData(again);
    CHECK(PeerGroupClose(group));
    PeerDrtCloseEvent(event);
    CHECK(PeerGroupShutdown());
    printf("OK\n");
    return 0;
}
