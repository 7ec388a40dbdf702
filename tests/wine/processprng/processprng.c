/*
 * bcryptprimitives.dll stand-in for Wine 8: exports ProcessPrng, which Rust's std (1.78+)
 * imports on Windows for its random source (HashMap keys) and which Wine 8 does not have.
 * It fills the buffer from advapi32's RtlGenRandom (SystemFunction036). Test lane only.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance; (void)reason; (void)reserved;
    return TRUE;
}
