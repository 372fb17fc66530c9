/* The practical limit for bench-bgp-codec: a minimal C loop that walks the
 * same UPDATE stream and touches every NLRI prefix, with no validation, no
 * typed values and no allocation. It follows the framing (message length),
 * skips withdrawn routes and attributes by their lengths, finds MP_REACH_NLRI
 * for IPv6, and reads each prefix (length octet + address octets) into an
 * integer that feeds a checksum. Usage: walker FILE REPEATS
 * Prints: {"prefixes":N,"seconds":S} for the best of REPEATS runs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t checksum;

static size_t walk_nlri(const uint8_t *p, const uint8_t *end, int v6) {
    size_t n = 0;
    while (p < end) {
        unsigned len = *p++;
        unsigned bytes = (len + 7) / 8;
        if (!v6) {
            uint32_t a = 0;
            for (unsigned i = 0; i < bytes; i++) a = (a << 8) | p[i];
            checksum += a + len;
        } else {
            /* Zero-padded copy, then two big-endian loads. */
            uint8_t a[16] = {0};
            memcpy(a, p, bytes > 16 ? 16 : bytes);
            uint64_t hi, lo;
            memcpy(&hi, a, 8);
            memcpy(&lo, a + 8, 8);
            checksum += __builtin_bswap64(lo) + (__builtin_bswap64(hi) >> 32) + len;
        }
        p += bytes;
        n++;
    }
    return n;
}

static size_t walk(const uint8_t *buf, size_t size) {
    size_t n = 0, off = 0;
    while (off + 19 <= size) {
        const uint8_t *m = buf + off;
        size_t len = (size_t)m[16] << 8 | m[17];
        const uint8_t *end = m + len;
        if (m[18] == 2) {
            const uint8_t *p = m + 19;
            size_t wlen = (size_t)p[0] << 8 | p[1];
            p += 2 + wlen;
            size_t alen = (size_t)p[0] << 8 | p[1];
            p += 2;
            const uint8_t *aend = p + alen;
            n += walk_nlri(aend, end, 0);
            while (p < aend) {
                uint8_t flags = p[0], type = p[1];
                size_t l = (flags & 0x10) ? ((size_t)p[2] << 8 | p[3]) : p[2];
                const uint8_t *v = p + ((flags & 0x10) ? 4 : 3);
                if (type == 14) {
                    const uint8_t *q = v + 3;
                    q += 1 + *q + 1; /* next hop length, next hop, reserved */
                    n += walk_nlri(q, v + l, 1);
                }
                p = v + l;
            }
        }
        off += len;
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: walker FILE REPEATS\n"); return 64; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) { perror("read"); return 1; }
    fclose(f);
    int repeats = atoi(argv[2]);
    double best = 1e9;
    size_t n = 0;
    for (int r = 0; r < repeats; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        n = walk(buf, (size_t)size);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        if (s < best) best = s;
    }
    printf("{\"prefixes\":%zu,\"seconds\":%.9f,\"checksum\":%llu}\n", n, best, (unsigned long long)checksum);
    free(buf);
    return 0;
}
