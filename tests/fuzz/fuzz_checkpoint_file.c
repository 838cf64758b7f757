/*
 * fuzz_checkpoint_file.c - fuzz target for checkpoint files and manifests
 * as they are read back from a checkpoint directory (engine/checkpoint/checkpoint_store*.c),
 * written only against the public store API so it holds when the file
 * layout changes.
 *
 * The first input byte picks what the rest is:
 *   0: a snapshot file image, parsed in memory (sl_ckpt_parse) and read
 *      through a store (sl_ckpt_store_get / _get_latest): either refused
 *      with a message, or accepted with the payload inside the file and the
 *      same verdict both ways;
 *   1: a manifest file image, read with sl_ckpt_store_get_manifest (by id
 *      and as the newest): refused, or a task list that fits in the file;
 *   2: a payload stored with sl_ckpt_store_put and read back (must be
 *      identical), then the file damaged as the input says (a byte changed,
 *      or cut short): the damaged file must be refused, never returned;
 *   3: the same for a manifest of task ids taken from the input;
 *   4: a file name (a line of the input) in the directory next to a valid
 *      snapshot: listing and loading never crash and the valid snapshot is
 *      still found.
 * Any broken contract aborts. Built with libFuzzer (SL_FUZZ) or with
 * tests/fuzz/replay_driver.c.
 */
#include "checkpoint_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

long sl_fuzz_replay_runs = 20000; /* file system work per input */

static char g_dir[256];
static sl_ckpt_store *g_store;

static void clear_dir(void);

static void fuzz_cleanup(void)
{
    clear_dir();
    rmdir(g_dir);
}

static void fuzz_setup(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof(g_dir), "%s/fuzz_ckpt.%ld", base, (long)getpid());
    char err[256];
    g_store = sl_ckpt_store_open(g_dir, 3, err, sizeof(err));
    if (!g_store) {
        fprintf(stderr, "fuzz_checkpoint_file: %s\n", err);
        abort();
    }
    atexit(fuzz_cleanup);
}

static void clear_dir(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    char path[600];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", g_dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    if (n && write(fd, p, n) != (ssize_t)n)
        abort();
    close(fd);
}

/* The only file of the directory whose name starts with `prefix`. */
static int find_file(const char *prefix, char *path, size_t cap)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, cap, "%s/%s", g_dir, e->d_name);
            found++;
        }
    if (d)
        closedir(d);
    return found == 1;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    if (!b || (len > 0 && fread(b, 1, (size_t)len, f) != (size_t)len))
        abort();
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void check_err(int rc, const char *err)
{
    if (rc == SL_OK)
        return;
    if (rc != SL_ECORRUPT && rc != SL_EVERSION && rc != SL_ENOTFOUND && rc != SL_EIO &&
        rc != SL_ENOMEM)
        abort();
    if (!memchr(err, '\0', 512) || !err[0])
        abort(); /* every refusal says why */
}

/* Mode 0: a snapshot image from outside. */
static void snapshot_image(const uint8_t *p, size_t n)
{
    char err[512] = "";
    int32_t task = 0;
    uint64_t id = 0;
    const uint8_t *payload;
    size_t len;
    int rc = sl_ckpt_parse(p, n, "fuzz", &task, &id, NULL, &payload, &len, err, sizeof(err));
    check_err(rc, err);
    if (rc == SL_OK && (payload < p || len > n || payload + len != p + n))
        abort();
    if (rc != SL_OK && (payload || len))
        abort();
    /* Through the store, under the name the header claims (or a fixed one
     * when the image is refused anyway). */
    int32_t t = rc == SL_OK ? task : 7;
    uint64_t i = rc == SL_OK && id ? id : 5;
    char name[128];
    snprintf(name, sizeof(name), "task-%d.ckpt-%llu.slck", (int)t, (unsigned long long)i);
    clear_dir();
    write_file(name, p, n);
    void *got = NULL;
    size_t glen = 0;
    err[0] = '\0';
    int rc2 = sl_ckpt_store_get(g_store, t, i, &got, &glen, err, sizeof(err));
    check_err(rc2, err);
    if (rc2 == SL_OK) {
        if (rc != SL_OK || glen != len || (len && memcmp(got, payload, len) != 0))
            abort(); /* the store accepts what parse refuses, or differs */
    } else if (got) {
        abort();
    }
    free(got);
    uint64_t latest = 0;
    got = NULL;
    err[0] = '\0';
    int rc3 = sl_ckpt_store_get_latest(g_store, t, &latest, &got, &glen, err, sizeof(err));
    check_err(rc3, err);
    if (rc3 == SL_OK && (rc2 != SL_OK || latest != i))
        abort();
    free(got);
}

/* Mode 1: a manifest image from outside. */
static void manifest_image(const uint8_t *p, size_t n)
{
    clear_dir();
    write_file("manifest.ckpt-9.slcm", p, n);
    for (int newest = 0; newest < 2; newest++) {
        char err[512] = "";
        int32_t *tasks = NULL;
        size_t nt = 0;
        uint64_t found = 0;
        int rc = sl_ckpt_store_get_manifest(g_store, newest ? 0 : 9, &found, &tasks, &nt, err,
                                            sizeof(err));
        check_err(rc, err);
        if (rc == SL_OK && (found != 9 || nt * 4 > n || !tasks))
            abort();
        if (rc != SL_OK && (tasks || nt))
            abort();
        free(tasks);
    }
}

/* Damages the stored file whose name starts with `prefix`: bit 8 of `what`
 * set, cut short at `where`; else the byte at `where` changed (XOR the low
 * byte of `what`, 1 if that is 0). Rewrites the file and returns its new
 * contents (the caller frees them), their length in *len. */
static uint8_t *damage_file(const char *prefix, uint32_t where, uint32_t what, size_t *len)
{
    char path[700];
    if (!find_file(prefix, path, sizeof(path)))
        abort();
    size_t flen;
    uint8_t *file = slurp(path, &flen);
    if (what & 0x100) { /* cut short */
        flen = where % flen;
    } else { /* one byte changed */
        uint8_t x = (uint8_t)(what & 0xff) ? (uint8_t)(what & 0xff) : 1;
        file[where % flen] ^= x;
    }
    FILE *f = fopen(path, "wb");
    if (!f || (flen && fwrite(file, 1, flen, f) != flen))
        abort();
    fclose(f);
    *len = flen;
    return file;
}

/* Mode 2: a stored payload round-trips; a damaged file is refused. */
static void snapshot_damage(const uint8_t *p, size_t n)
{
    if (n < 9)
        return;
    uint32_t where, what;
    memcpy(&where, p, 4);
    memcpy(&what, p + 4, 4);
    int32_t task = (int32_t)(p[8] % 64);
    p += 9;
    n -= 9;
    clear_dir();
    char err[512] = "";
    if (sl_ckpt_store_put(g_store, task, 3, p, n, err, sizeof(err)) != SL_OK)
        abort();
    void *got = NULL;
    size_t glen = 0;
    if (sl_ckpt_store_get(g_store, task, 3, &got, &glen, err, sizeof(err)) != SL_OK || glen != n ||
        (n && memcmp(got, p, n) != 0))
        abort();
    free(got);
    size_t flen;
    uint8_t *file = damage_file("task-", where, what, &flen);
    got = NULL;
    err[0] = '\0';
    int rc = sl_ckpt_store_get(g_store, task, 3, &got, &glen, err, sizeof(err));
    if (rc == SL_OK) {
        fprintf(stderr, "damaged snapshot accepted (%zu bytes, damage at %u, %s)\n", flen,
                where % (unsigned)(flen ? flen : 1), (what & 0x100) ? "cut" : "changed");
        abort();
    }
    check_err(rc, err);
    const uint8_t *pl;
    size_t pn;
    int32_t t2;
    uint64_t i2;
    if (sl_ckpt_parse(file, flen, "fuzz", &t2, &i2, NULL, &pl, &pn, err, sizeof(err)) == SL_OK)
        abort();
    free(file);
}

/* Mode 3: the same for manifests. */
static void manifest_damage(const uint8_t *p, size_t n)
{
    if (n < 8)
        return;
    uint32_t where, what;
    memcpy(&where, p, 4);
    memcpy(&what, p + 4, 4);
    p += 8;
    n -= 8;
    size_t nt = n / 4 > 4096 ? 4096 : n / 4;
    int32_t *tasks = malloc((nt ? nt : 1) * sizeof(*tasks));
    if (!tasks)
        abort();
    if (nt)
        memcpy(tasks, p, nt * 4);
    clear_dir();
    char err[512] = "";
    if (sl_ckpt_store_put_manifest(g_store, 11, tasks, nt, err, sizeof(err)) != SL_OK)
        abort();
    int32_t *got = NULL;
    size_t gn = 0;
    uint64_t found = 0;
    if (sl_ckpt_store_get_manifest(g_store, 0, &found, &got, &gn, err, sizeof(err)) != SL_OK ||
        found != 11 || gn != nt || (nt && memcmp(got, tasks, nt * 4) != 0))
        abort();
    free(got);
    size_t flen;
    uint8_t *file = damage_file("manifest.", where, what, &flen);
    got = NULL;
    int rc = sl_ckpt_store_get_manifest(g_store, 11, &found, &got, &gn, err, sizeof(err));
    if (rc == SL_OK) {
        fprintf(stderr, "damaged manifest accepted (%zu bytes)\n", flen);
        abort();
    }
    check_err(rc, err);
    free(file);
    free(tasks);
}

/* Mode 4: a stray file name next to a valid snapshot of task 1. */
static void stray_name(const uint8_t *p, size_t n)
{
    char name[200];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof(name); i++) {
        if (p[i] == '\n')
            break;
        if (p[i] == '/' || p[i] == '\0')
            continue;
        name[k++] = (char)p[i];
    }
    name[k] = '\0';
    if (!k || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return;
    clear_dir();
    char err[512] = "";
    if (sl_ckpt_store_put(g_store, 1, 4, "abc", 3, err, sizeof(err)) != SL_OK)
        abort();
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    struct stat st;
    int existed = stat(path, &st) == 0;
    if (!existed)
        write_file(name, p, n);
    uint64_t ids[8];
    int cnt = sl_ckpt_store_list(g_store, 1, ids, 8);
    if (cnt < 0)
        return; /* listing refused (e.g. an unreadable entry): fine */
    int has4 = 0;
    for (int i = 0; i < cnt && i < 8; i++)
        has4 |= ids[i] == 4;
    if (!has4 && !existed)
        abort(); /* a stray name hid the real snapshot */
    void *got = NULL;
    size_t glen;
    uint64_t latest;
    int rc = sl_ckpt_store_get_latest(g_store, 1, &latest, &got, &glen, err, sizeof(err));
    check_err(rc, err);
    free(got);
    for (int32_t t = -1; t < 3; t++)
        (void)sl_ckpt_store_list(g_store, t, ids, 8);
    int32_t *tasks = NULL;
    size_t nt;
    rc = sl_ckpt_store_get_manifest(g_store, 0, NULL, &tasks, &nt, err, sizeof(err));
    check_err(rc, err);
    free(tasks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_store)
        fuzz_setup();
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 5) {
    case 0:
        snapshot_image(p, n);
        break;
    case 1:
        manifest_image(p, n);
        break;
    case 2:
        snapshot_damage(p, n);
        break;
    case 3:
        manifest_damage(p, n);
        break;
    default:
        stray_name(p, n);
        break;
    }
    return 0;
}
