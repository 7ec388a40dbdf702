/* What the C test programs share: S_OK, CHECK (on a failed call, prints its HRESULT to stderr
 * and returns 1 from main), ASCII <-> WCHAR copies bounded by the destination's capacity, and a
 * millisecond sleep. Everything is static inline, so a program that uses only part of it
 * compiles without warnings. Needs _POSIX_C_SOURCE or _DEFAULT_SOURCE for nanosleep. */
#ifndef PEERDRT_TEST_COMMON_H
#define PEERDRT_TEST_COMMON_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include "p2p.h"

#ifndef S_OK
#define S_OK ((HRESULT)0)
#endif

#define CHECK(call)                                                                  \
    do {                                                                             \
        HRESULT hr_ = (call);                                                        \
        if (hr_ != S_OK) {                                                           \
            fprintf(stderr, "%s failed: 0x%08x\n", #call, (unsigned)hr_);            \
            return 1;                                                                \
        }                                                                            \
    } while (0)

/* `s` (ASCII) as a NUL-terminated WCHAR string in `out`, which holds `cap` WCHARs. */
static inline void to_w(const char *s, WCHAR *out, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) out[i] = (WCHAR)(unsigned char)s[i];
    out[i] = 0;
}

/* `w` as a NUL-terminated ASCII string in `out` (`cap` bytes); non-ASCII becomes '?'. */
static inline void from_w(const WCHAR *w, char *out, size_t cap) {
    size_t i = 0;
    for (; w && w[i] && i + 1 < cap; i++) out[i] = (char)(w[i] < 128 ? w[i] : '?');
    out[i] = 0;
}

static inline void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

#endif
