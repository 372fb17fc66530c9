// The reference for bench-datastore: host-local's on-disk allocation scheme
// (containernetworking/plugins, plugins/ipam/host-local/backend/disk),
// re-implemented in C and driven like bench-datastore drives Caracal's
// store: one locked operation per allocation and per release.
//   - a directory per network, locked with flock() on the directory;
//   - one file per allocated IP, named by the IP, holding the container ID
//     and interface (created with O_EXCL);
//   - last_reserved_ip.0 remembers where the next search starts;
//   - release by container ID reads every file of the directory.
// Usage: hostlocal_store DIR COUNT   → one JSON line.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void ipstr(unsigned ip, char *buf) { sprintf(buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255); }

static int lockdir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) { perror("lock"); exit(1); }
    return fd;
}

static void unlockdir(int fd) { flock(fd, LOCK_UN); close(fd); }

static void allocate(const char *dir, const char *id, unsigned base, unsigned size) {
    int lfd = lockdir(dir);
    char path[512], ip[32];
    unsigned last = base;
    snprintf(path, sizeof path, "%s/last_reserved_ip.0", dir);
    FILE *f = fopen(path, "r");
    if (f) { unsigned a, b, c, d; if (fscanf(f, "%u.%u.%u.%u", &a, &b, &c, &d) == 4) last = a << 24 | b << 16 | c << 8 | d; fclose(f); }
    for (unsigned n = 1; n <= size; n++) {
        unsigned cand = base + ((last - base + n) % size);
        ipstr(cand, ip);
        snprintf(path, sizeof path, "%s/%s", dir, ip);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0) continue;
        char content[128];
        int len = snprintf(content, sizeof content, "%s\neth0", id);
        if (write(fd, content, len) != len) { perror("write"); exit(1); }
        close(fd);
        snprintf(path, sizeof path, "%s/last_reserved_ip.0", dir);
        FILE *w = fopen(path, "w");
        fputs(ip, w);
        fclose(w);
        unlockdir(lfd);
        return;
    }
    fprintf(stderr, "exhausted\n");
    exit(1);
}

static void release(const char *dir, const char *id) {
    int lfd = lockdir(dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512], buf[128], want[128];
    snprintf(want, sizeof want, "%s\neth0", id);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "last_reserved", 13) == 0 || strcmp(e->d_name, "lock") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n < 0) continue;
        buf[n] = 0;
        if (strcmp(buf, want) == 0) { unlink(path); break; }
    }
    closedir(d);
    unlockdir(lfd);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s DIR COUNT\n", argv[0]); return 2; }
    const char *dir = argv[1];
    int count = atoi(argv[2]);
    unsigned base = 10u << 24 | 128u << 16, size = 1u << 20;
    char id[64];
    double t0 = now();
    for (int i = 0; i < count; i++) { snprintf(id, sizeof id, "bench%d", i); allocate(dir, id, base, size); }
    double t1 = now();
    for (int i = 0; i < count; i++) { snprintf(id, sizeof id, "bench%d", i); release(dir, id); }
    double t2 = now();
    printf("{\"alloc_per_s\":%d,\"release_per_s\":%d}\n", (int)(count / (t1 - t0)), (int)(count / (t2 - t1)));
    return 0;
}
