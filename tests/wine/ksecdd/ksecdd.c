/*
 * ksecdd.sys stand-in for Wine 8: exports BCryptGenRandom, which peerdrt.sys imports from
 * ksecdd.sys (kernel-mode CNG) for its key material and which Wine 8's ksecdd.sys only stubs
 * (a call aborts winedevice.exe). Like Windows' kernel CNG with no algorithm handle, it takes
 * BCRYPT_USE_SYSTEM_PREFERRED_RNG only, and fills the buffer from advapi32's RtlGenRandom
 * (SystemFunction036) in the driver host process. Test lane only.
 */
#include <windows.h>

#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#define CNG_SUCCESS ((LONG)0x00000000)
#define CNG_INVALID_PARAMETER ((LONG)0xC000000D) /* STATUS_INVALID_PARAMETER */
#define CNG_UNSUCCESSFUL ((LONG)0xC0000001)      /* STATUS_UNSUCCESSFUL */

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) LONG WINAPI BCryptGenRandom(PVOID algorithm, PUCHAR buffer, ULONG length, ULONG flags)
{
    if (algorithm != NULL || flags != BCRYPT_USE_SYSTEM_PREFERRED_RNG || (buffer == NULL && length != 0))
        return CNG_INVALID_PARAMETER;
    if (length != 0 && !SystemFunction036(buffer, length))
        return CNG_UNSUCCESSFUL;
    return CNG_SUCCESS;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance; (void)reason; (void)reserved;
    return TRUE;
}
