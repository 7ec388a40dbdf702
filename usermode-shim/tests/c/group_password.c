/* A password joiner in C against the peerdrt shim (include/p2p.h):
 *   group_password <identity> <password invitation> <password>
 * PeerGroupParseInvitation (prints the scheme), PeerGroupPasswordJoin, then PeerGroupConnect (prints its HRESULT; stops there when it
 * fails, as for a wrong password), then adds a record once the database is synchronised
 * (prints its data), closes the group and reopens it by its peer name with PeerGroupOpen (the
 * granted membership was stored). Prints one line per step; "OK" at the end. */
#include <string.h>
#include "test_common.h"

static const GUID RECORD_TYPE = {0x7e57c0de, 9, 9, {3, 4, 5, 6, 7, 8, 9, 10}};

static WCHAR identity[256], invitation[16384], password[600], group_name[256];

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    to_w(argv[1], identity, 256);
    to_w(argv[2], invitation, 16384);
    to_w(argv[3], password, 600);
    PEER_VERSION_DATA version;
    CHECK(PeerGroupStartup(PEER_GROUP_VERSION, &version));
    PPEER_INVITATION_INFO info = NULL;
    CHECK(PeerGroupParseInvitation(invitation, &info));
    printf("parsed scheme %lu roles %lu\n", (unsigned long)info->authScheme, (unsigned long)info->cRoles);
    PeerFreeData(info);
    HGROUP group = NULL;
    CHECK(PeerGroupPasswordJoin(identity, invitation, password, NULL, &group));
    printf("joined\n");
    HRESULT hr = PeerGroupConnect(group);
    printf("connect 0x%08x\n", (unsigned)hr);
    if (hr != S_OK) {
        PeerGroupClose(group);
        PeerGroupShutdown();
        return 0;
    }
    PPEER_GROUP_PROPERTIES props = NULL;
    CHECK(PeerGroupGetProperties(group, &props));
    size_t i = 0;
    for (; props->pwzGroupPeerName[i] && i + 1 < 256; i++) group_name[i] = props->pwzGroupPeerName[i];
    group_name[i] = 0;
    PeerFreeData(props);

    char data[] = "from the password joiner";
    PEER_RECORD record;
    memset(&record, 0, sizeof record);
    record.dwSize = sizeof record;
    record.type = RECORD_TYPE;
    unsigned long long expires = (unsigned long long)time(NULL) * 10000000ULL + 116444736000000000ULL +
                                 3600ULL * 10000000ULL;
    record.ftExpiration.dwLowDateTime = (DWORD)expires;
    record.ftExpiration.dwHighDateTime = (DWORD)(expires >> 32);
    record.data.cbData = (ULONG)sizeof data;
    record.data.pbData = (PBYTE)data;
    GUID id;
    for (int tries = 0; (hr = PeerGroupAddRecord(group, &record, &id)) == PEER_E_GROUP_NOT_READY && tries < 400;
         tries++)
        sleep_ms(25);
    CHECK(hr);
    printf("added %s\n", data);

    CHECK(PeerGroupClose(group));
    CHECK(PeerGroupOpen(identity, group_name, NULL, &group));
    PPEER_RECORD back = NULL;
    CHECK(PeerGroupGetRecord(group, &id, &back));
    printf("reopened %s\n", (const char *)back->data.pbData);
    PeerFreeData(back);
    CHECK(PeerGroupClose(group));
    CHECK(PeerGroupShutdown());
    printf("OK\n");
    return 0;
}
