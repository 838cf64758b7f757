/*
 * test_checkpoint_store.c - the local checkpoint directory.
 *
 * Round trips of random payloads, retention and protection, manifests; every
 * truncation and every single-bit flip of a stored file is refused (never
 * SL_OK, never a partial payload); foreign versions and renamed files are
 * refused with a clear error; fault injection through the I/O hooks (ENOSPC
 * mid-write, short writes, fsync EIO, rename and open EACCES) fails the put
 * with strerror in errstr, leaves the previous file intact and no temporary
 * files behind; a real read-only directory (as root: in a child process
 * that dropped to uid 65534).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_skip.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint_store.h"
#include "snapshot.h"

static uint64_t rng_state = 0xD1B54A32D192ED03ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

typedef struct fixture {
    char dir[64];
    sl_ckpt_store *s;
    char err[512];
} fixture;

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/sl_ckpt_test_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    /* A sub-directory, so open must create it. */
    strcat(f->dir, "/store");
    f->s = sl_ckpt_store_open(f->dir, 3, f->err, sizeof f->err);
    if (!f->s)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sl_ckpt_store_close(f->s);
    char *slash = strrchr(f->dir, '/');
    *slash = '\0';
    chmod(f->dir, 0755);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void path_of(const fixture *f, char *out, size_t n, int32_t task, uint64_t id)
{
    snprintf(out, n, "%s/task-%d.ckpt-%llu.slck", f->dir, (int)task, (unsigned long long)id);
}

static void *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    void *buf = malloc(n ? (size_t)n : 1);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, ".tmp.", 5) == 0;
    closedir(d);
    return n;
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    static const int32_t tasks[] = {0, 1, 7, -1, INT32_MAX, INT32_MIN};
    uint8_t *want[6][3];
    size_t wlen[6][3];
    for (int t = 0; t < 6; t++) {
        for (int k = 0; k < 3; k++) {
            size_t n = (t == 0 && k == 0) ? 0 : (size_t)(rnd() % 20000);
            want[t][k] = malloc(n ? n : 1);
            for (size_t i = 0; i < n; i++)
                want[t][k][i] = (uint8_t)rnd();
            wlen[t][k] = n;
            assert_int_equal(sl_ckpt_store_put(f->s, tasks[t], (uint64_t)(k + 1) * 10, want[t][k],
                                               n, f->err, sizeof f->err),
                             SL_OK);
        }
    }
    for (int t = 0; t < 6; t++) {
        for (int k = 0; k < 3; k++) {
            void *p;
            size_t n;
            assert_int_equal(sl_ckpt_store_get(f->s, tasks[t], (uint64_t)(k + 1) * 10, &p, &n,
                                               f->err, sizeof f->err),
                             SL_OK);
            assert_non_null(p);
            assert_int_equal(n, wlen[t][k]);
            assert_memory_equal(p, want[t][k], n ? n : 0);
            free(p);
        }
        uint64_t id = 0;
        void *p;
        size_t n;
        assert_int_equal(
            sl_ckpt_store_get_latest(f->s, tasks[t], &id, &p, &n, f->err, sizeof f->err), SL_OK);
        assert_int_equal(id, 30);
        assert_int_equal(n, wlen[t][2]);
        assert_memory_equal(p, want[t][2], n);
        free(p);
        uint64_t ids[8];
        assert_int_equal(sl_ckpt_store_list(f->s, tasks[t], ids, 8), 3);
        assert_int_equal(ids[0], 30);
        assert_int_equal(ids[1], 20);
        assert_int_equal(ids[2], 10);
        for (int k = 0; k < 3; k++)
            free(want[t][k]);
    }
    /* Replacing an existing id. */
    assert_int_equal(sl_ckpt_store_put(f->s, 1, 20, "new", 3, f->err, sizeof f->err), SL_OK);
    void *p;
    size_t n;
    assert_int_equal(sl_ckpt_store_get(f->s, 1, 20, &p, &n, f->err, sizeof f->err), SL_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "new", 3);
    free(p);
    assert_int_equal(count_tmp_files(f->dir), 0);
}

static void test_not_found_and_invalid(void **state)
{
    fixture *f = *state;
    void *p = (void *)1;
    size_t n = 5;
    assert_int_equal(sl_ckpt_store_get(f->s, 3, 1, &p, &n, f->err, sizeof f->err), SL_ENOTFOUND);
    assert_null(p);
    assert_int_equal(n, 0);
    assert_non_null(strstr(f->err, "task-3.ckpt-1.slck"));
    uint64_t id;
    assert_int_equal(sl_ckpt_store_get_latest(f->s, 3, &id, &p, &n, f->err, sizeof f->err),
                     SL_ENOTFOUND);
    uint64_t ids[2];
    assert_int_equal(sl_ckpt_store_list(f->s, 3, ids, 2), 0);
    assert_int_equal(sl_ckpt_store_put(f->s, 3, 0, "x", 1, f->err, sizeof f->err), SL_EINVAL);
    assert_int_equal(sl_ckpt_store_put(f->s, 3, 1, NULL, 1, f->err, sizeof f->err), SL_EINVAL);

    /* Opening: keep < 1, a file where the directory should be. */
    char err[256];
    assert_null(sl_ckpt_store_open(f->dir, 0, err, sizeof err));
    assert_non_null(strstr(err, "keep"));
    char file[128];
    snprintf(file, sizeof file, "%s/plainfile", f->dir);
    write_file(file, "x", 1);
    assert_null(sl_ckpt_store_open(file, 3, err, sizeof err));
    assert_non_null(strstr(err, "plainfile"));
    char below[160];
    snprintf(below, sizeof below, "%s/sub", file);
    assert_null(sl_ckpt_store_open(below, 3, err, sizeof err));
    assert_non_null(strstr(err, "Not a directory"));
    unlink(file);
    sl_ckpt_store_close(NULL);
}

static void test_retention_and_protect(void **state)
{
    fixture *f = *state;
    for (uint64_t id = 1; id <= 10; id++) {
        if (id == 3)
            sl_ckpt_store_protect(f->s, 2);
        assert_int_equal(sl_ckpt_store_put(f->s, 5, id, &id, sizeof id, f->err, sizeof f->err),
                         SL_OK);
        assert_int_equal(
            sl_ckpt_store_put(f->s, 6, id * 100, &id, sizeof id, f->err, sizeof f->err), SL_OK);
    }
    uint64_t ids[16];
    /* Task 5: newest 3, plus the protected id 2. Id 1 went before
     * protection was set. */
    assert_int_equal(sl_ckpt_store_list(f->s, 5, ids, 16), 4);
    assert_int_equal(ids[0], 10);
    assert_int_equal(ids[1], 9);
    assert_int_equal(ids[2], 8);
    assert_int_equal(ids[3], 2);
    /* Task 6 has no id 2: newest 3 only, independent of task 5. */
    assert_int_equal(sl_ckpt_store_list(f->s, 6, ids, 16), 3);
    assert_int_equal(ids[0], 1000);
    assert_int_equal(ids[2], 800);
    /* list with a small max still reports the total. */
    assert_int_equal(sl_ckpt_store_list(f->s, 5, ids, 1), 4);
    assert_int_equal(ids[0], 10);

    /* Protection only moves forward: 0 or a lower id changes nothing. */
    sl_ckpt_store_protect(f->s, 0);
    sl_ckpt_store_protect(f->s, 1);
    assert_int_equal(sl_ckpt_store_protected(f->s, 5), 2);
    /* Writing an old id keeps it (it was just asked for) until newer puts. */
    assert_int_equal(sl_ckpt_store_put(f->s, 5, 4, "old", 3, f->err, sizeof f->err), SL_OK);
    void *p;
    size_t n;
    assert_int_equal(sl_ckpt_store_get(f->s, 5, 4, &p, &n, f->err, sizeof f->err), SL_OK);
    free(p);
    assert_int_equal(sl_ckpt_store_put(f->s, 5, 11, "new", 3, f->err, sizeof f->err), SL_OK);
    assert_int_equal(sl_ckpt_store_list(f->s, 5, ids, 16), 4);
    assert_int_equal(ids[0], 11);
    assert_int_equal(ids[2], 9);
    assert_int_equal(ids[3], 2);
}

static void put_sample(fixture *f, int32_t task, uint64_t id, size_t n, uint8_t **data)
{
    uint8_t *d = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)rnd();
    assert_int_equal(sl_ckpt_store_put(f->s, task, id, d, n, f->err, sizeof f->err), SL_OK);
    *data = d;
}

static void test_truncation_refused(void **state)
{
    fixture *f = *state;
    uint8_t *data;
    put_sample(f, 2, 9, 300, &data);
    char path[256];
    path_of(f, path, sizeof path, 2, 9);
    size_t flen;
    uint8_t *file = read_file(path, &flen);
    assert_int_equal(flen, SL_CKPT_HEADER_SIZE + 300);
    for (size_t cut = 0; cut < flen; cut++) {
        write_file(path, file, cut);
        void *p = (void *)1;
        size_t n = 99;
        int rc = sl_ckpt_store_get(f->s, 2, 9, &p, &n, f->err, sizeof f->err);
        assert_int_equal(rc, SL_ECORRUPT);
        assert_null(p);
        assert_int_equal(n, 0);
        assert_non_null(strstr(f->err, "truncated"));
        /* The same through the in-memory parser, on an exactly sized copy. */
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, file, cut);
        int32_t t;
        uint64_t id;
        const uint8_t *pp;
        assert_int_equal(
            sl_ckpt_parse(copy, cut, "x", &t, &id, NULL, &pp, &n, f->err, sizeof f->err),
            SL_ECORRUPT);
        assert_null(pp);
        free(copy);
    }
    /* Trailing garbage is refused too. */
    uint8_t *longer = malloc(flen + 1);
    memcpy(longer, file, flen);
    longer[flen] = 0;
    write_file(path, longer, flen + 1);
    void *p;
    size_t n;
    assert_int_equal(sl_ckpt_store_get(f->s, 2, 9, &p, &n, f->err, sizeof f->err), SL_ECORRUPT);
    assert_non_null(strstr(f->err, "trailing"));
    /* And the intact file still loads. */
    write_file(path, file, flen);
    assert_int_equal(sl_ckpt_store_get(f->s, 2, 9, &p, &n, f->err, sizeof f->err), SL_OK);
    assert_memory_equal(p, data, 300);
    free(p);
    free(longer);
    free(file);
    free(data);
}

static void test_bit_flips_refused(void **state)
{
    fixture *f = *state;
    uint8_t *data;
    put_sample(f, 4, 2, 64, &data);
    char path[256];
    path_of(f, path, sizeof path, 4, 2);
    size_t flen;
    uint8_t *file = read_file(path, &flen);
    int n_version = 0;
    for (size_t bit = 0; bit < flen * 8; bit++) {
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        write_file(path, file, flen);
        void *p = (void *)1;
        size_t n;
        int rc = sl_ckpt_store_get(f->s, 4, 2, &p, &n, f->err, sizeof f->err);
        if (bit / 8 >= 4 && bit / 8 < 8) {
            assert_int_equal(rc, SL_EVERSION); /* the version field */
            n_version++;
        } else {
            assert_int_equal(rc, SL_ECORRUPT);
        }
        assert_null(p);
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(n_version, 32);
    write_file(path, file, flen);
    void *p;
    size_t n;
    assert_int_equal(sl_ckpt_store_get(f->s, 4, 2, &p, &n, f->err, sizeof f->err), SL_OK);
    assert_memory_equal(p, data, 64);
    free(p);
    free(file);
    free(data);
}

static void test_foreign_version_and_renamed(void **state)
{
    fixture *f = *state;
    uint8_t *data;
    put_sample(f, 1, 5, 32, &data);
    char path[256];
    path_of(f, path, sizeof path, 1, 5);
    size_t flen;
    uint8_t *file = read_file(path, &flen);

    /* Version 3 with correct checksums: refused as a version, not as junk. */
    file[4] = 3;
    uint32_t hcrc = sl_crc32c(0, file, 100);
    for (int i = 0; i < 4; i++)
        file[100 + i] = (uint8_t)(hcrc >> (8 * i));
    write_file(path, file, flen);
    void *p;
    size_t n;
    assert_int_equal(sl_ckpt_store_get(f->s, 1, 5, &p, &n, f->err, sizeof f->err), SL_EVERSION);
    assert_non_null(strstr(f->err, "format version 3"));
    uint64_t id;
    assert_int_equal(sl_ckpt_store_get_latest(f->s, 1, &id, &p, &n, f->err, sizeof f->err),
                     SL_EVERSION);

    /* Not a snapshot at all. */
    char json[128];
    memset(json, '.', sizeof json);
    memcpy(json, "{\"json\": true, \"padding\": \"", 28);
    write_file(path, json, sizeof json);
    assert_int_equal(sl_ckpt_store_get(f->s, 1, 5, &p, &n, f->err, sizeof f->err), SL_ECORRUPT);
    assert_non_null(strstr(f->err, "magic"));

    /* A valid file of task 1 copied under task 2's name. */
    assert_int_equal(sl_ckpt_store_put(f->s, 1, 6, data, 32, f->err, sizeof f->err), SL_OK);
    free(file);
    char p6[256], p2[256];
    path_of(f, p6, sizeof p6, 1, 6);
    path_of(f, p2, sizeof p2, 2, 6);
    file = read_file(p6, &flen);
    write_file(p2, file, flen);
    assert_int_equal(sl_ckpt_store_get(f->s, 2, 6, &p, &n, f->err, sizeof f->err), SL_ECORRUPT);
    assert_non_null(strstr(f->err, "header names task 1"));

    /* get_latest refuses a bad newest file rather than falling back. */
    file[SL_CKPT_HEADER_SIZE] ^= 1;
    write_file(p6, file, flen);
    assert_int_equal(sl_ckpt_store_get_latest(f->s, 1, &id, &p, &n, f->err, sizeof f->err),
                     SL_ECORRUPT);
    assert_non_null(strstr(f->err, "payload checksum"));
    free(file);
    free(data);
}

/* ---- fault injection ---------------------------------------------------- */

typedef struct faults {
    long write_budget; /* bytes that may be written before ENOSPC; -1 = no limit */
    size_t max_chunk;  /* short writes: at most this many bytes per call; 0 = all */
    int fsync_errno, rename_errno, open_errno;
    int writes;
} faults;

static int f_open(const char *path, int flags, int mode, void *ctx)
{
    faults *fl = ctx;
    if (fl->open_errno) {
        errno = fl->open_errno;
        return -1;
    }
    return open(path, flags, mode);
}

static ssize_t f_write(int fd, const void *buf, size_t n, void *ctx)
{
    faults *fl = ctx;
    fl->writes++;
    if (fl->max_chunk && n > fl->max_chunk)
        n = fl->max_chunk;
    if (fl->write_budget >= 0) {
        if (fl->write_budget == 0) {
            errno = ENOSPC;
            return -1;
        }
        if ((long)n > fl->write_budget)
            n = (size_t)fl->write_budget;
        fl->write_budget -= (long)n;
    }
    return write(fd, buf, n);
}

static int f_fsync(int fd, void *ctx)
{
    faults *fl = ctx;
    if (fl->fsync_errno) {
        errno = fl->fsync_errno;
        return -1;
    }
    return fsync(fd);
}

static int f_rename(const char *from, const char *to, void *ctx)
{
    faults *fl = ctx;
    if (fl->rename_errno) {
        errno = fl->rename_errno;
        return -1;
    }
    return rename(from, to);
}

static void expect_put_fails(fixture *f, faults *fl, const char *want_err)
{
    sl_ckpt_io io = {f_open, f_write, f_fsync, f_rename, fl};
    sl_ckpt_store_set_io(f->s, &io);
    uint8_t big[5000];
    memset(big, 0xEE, sizeof big);
    /* Same name as an existing good snapshot, and a brand new name. */
    assert_int_equal(sl_ckpt_store_put(f->s, 8, 1, big, sizeof big, f->err, sizeof f->err), SL_EIO);
    assert_non_null(strstr(f->err, want_err));
    assert_non_null(strstr(f->err, "task-8.ckpt-1.slck"));
    assert_int_equal(sl_ckpt_store_put(f->s, 8, 2, big, sizeof big, f->err, sizeof f->err), SL_EIO);
    sl_ckpt_store_set_io(f->s, NULL);

    void *p;
    size_t n;
    assert_int_equal(sl_ckpt_store_get(f->s, 8, 1, &p, &n, f->err, sizeof f->err), SL_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "good", 4);
    free(p);
    assert_int_equal(sl_ckpt_store_get(f->s, 8, 2, &p, &n, f->err, sizeof f->err), SL_ENOTFOUND);
    assert_int_equal(count_tmp_files(f->dir), 0);
}

static void test_fault_injection(void **state)
{
    fixture *f = *state;
    assert_int_equal(sl_ckpt_store_put(f->s, 8, 1, "good", 4, f->err, sizeof f->err), SL_OK);

    faults fl = {.write_budget = 1000};
    expect_put_fails(f, &fl, "No space left on device");
    fl = (faults){.write_budget = 0};
    expect_put_fails(f, &fl, "No space left on device");
    fl = (faults){.write_budget = -1, .fsync_errno = EIO};
    expect_put_fails(f, &fl, "Input/output error");
    fl = (faults){.write_budget = -1, .rename_errno = EACCES};
    expect_put_fails(f, &fl, "Permission denied");
    fl = (faults){.write_budget = -1, .open_errno = EACCES};
    expect_put_fails(f, &fl, "Permission denied");
    fl = (faults){.write_budget = -1, .open_errno = EROFS};
    expect_put_fails(f, &fl, "Read-only file system");

    /* Short writes are not failures. */
    fl = (faults){.write_budget = -1, .max_chunk = 7};
    sl_ckpt_io io = {NULL, f_write, NULL, NULL, &fl};
    sl_ckpt_store_set_io(f->s, &io);
    uint8_t *data = malloc(3000);
    for (int i = 0; i < 3000; i++)
        data[i] = (uint8_t)rnd();
    assert_int_equal(sl_ckpt_store_put(f->s, 8, 3, data, 3000, f->err, sizeof f->err), SL_OK);
    assert_true(fl.writes >= 3036 / 7);
    sl_ckpt_store_set_io(f->s, NULL);
    void *p;
    size_t n;
    assert_int_equal(sl_ckpt_store_get(f->s, 8, 3, &p, &n, f->err, sizeof f->err), SL_OK);
    assert_int_equal(n, 3000);
    assert_memory_equal(p, data, 3000);
    free(p);
    free(data);

    /* Manifests go through the same path. */
    fl = (faults){.write_budget = 3};
    sl_ckpt_io io2 = {NULL, f_write, NULL, NULL, &fl};
    sl_ckpt_store_set_io(f->s, &io2);
    int32_t tasks[2] = {1, 2};
    assert_int_equal(sl_ckpt_store_put_manifest(f->s, 4, tasks, 2, f->err, sizeof f->err), SL_EIO);
    assert_non_null(strstr(f->err, "No space left"));
    sl_ckpt_store_set_io(f->s, NULL);
    int32_t *got;
    size_t ng;
    assert_int_equal(sl_ckpt_store_get_manifest(f->s, 4, NULL, &got, &ng, f->err, sizeof f->err),
                     SL_ENOTFOUND);
    assert_int_equal(count_tmp_files(f->dir), 0);
}

/* The put into a read-only directory, in the current process, or (as
 * root, which ignores permissions) in a child that dropped to nobody. */
static void read_only_put(fixture *f)
{
    assert_int_equal(sl_ckpt_store_put(f->s, 1, 2, "b", 1, f->err, sizeof f->err), SL_EIO);
    assert_non_null(strstr(f->err, "Permission denied"));
    assert_non_null(strstr(f->err, "task-1.ckpt-2.slck"));
}

static void test_read_only_directory(void **state)
{
    fixture *f = *state;
    assert_int_equal(sl_ckpt_store_put(f->s, 1, 1, "a", 1, f->err, sizeof f->err), SL_OK);
    assert_int_equal(chmod(f->dir, 0555), 0);
    if (geteuid() != 0) {
        read_only_put(f);
    } else {
        char parent[64];
        strcpy(parent, f->dir);
        *strrchr(parent, '/') = '\0';
        assert_int_equal(chmod(parent, 0755), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(3);
            int rc = sl_ckpt_store_put(f->s, 1, 2, "b", 1, f->err, sizeof f->err);
            _exit(rc == SL_EIO && strstr(f->err, "Permission denied") ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 3)
            SL_TEST_SKIP("test_read_only_directory: running as root and could not drop "
                         "privileges to uid 65534");
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    chmod(f->dir, 0755);
    void *p;
    size_t n;
    uint64_t id;
    assert_int_equal(sl_ckpt_store_get_latest(f->s, 1, &id, &p, &n, f->err, sizeof f->err), SL_OK);
    assert_int_equal(id, 1);
    free(p);
    assert_int_equal(count_tmp_files(f->dir), 0);
}

static void test_stale_tmp_cleanup(void **state)
{
    fixture *f = *state;
    char dead[256], mine[256];
    /* pid 2^22+ is above the default pid_max, so no such process. */
    snprintf(dead, sizeof dead, "%s/.tmp.task-1.ckpt-1.slck.4194400.1", f->dir);
    snprintf(mine, sizeof mine, "%s/.tmp.task-1.ckpt-2.slck.%ld.1", f->dir, (long)getpid());
    write_file(dead, "x", 1);
    write_file(mine, "y", 1);
    char err[128];
    sl_ckpt_store *s2 = sl_ckpt_store_open(f->dir, 3, err, sizeof err);
    assert_non_null(s2);
    assert_int_equal(access(dead, F_OK), -1);
    assert_int_equal(access(mine, F_OK), 0);
    /* Neither counts as a snapshot. */
    uint64_t ids[2];
    assert_int_equal(sl_ckpt_store_list(s2, 1, ids, 2), 0);
    sl_ckpt_store_close(s2);
    unlink(mine);
}

static void test_manifests(void **state)
{
    fixture *f = *state;
    int32_t *got;
    size_t n;
    uint64_t id = 0;
    assert_int_equal(sl_ckpt_store_get_manifest(f->s, 0, &id, &got, &n, f->err, sizeof f->err),
                     SL_ENOTFOUND);
    int32_t tasks[5] = {3, -2, 0, 99, INT32_MAX};
    for (uint64_t c = 1; c <= 6; c++)
        assert_int_equal(
            sl_ckpt_store_put_manifest(f->s, c, tasks, (size_t)c % 6, f->err, sizeof f->err),
            SL_OK);
    assert_int_equal(sl_ckpt_store_get_manifest(f->s, 0, &id, &got, &n, f->err, sizeof f->err),
                     SL_OK);
    assert_int_equal(id, 6);
    assert_int_equal(n, 0);
    free(got);
    assert_int_equal(sl_ckpt_store_get_manifest(f->s, 5, &id, &got, &n, f->err, sizeof f->err),
                     SL_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(got, tasks, sizeof tasks);
    free(got);
    /* keep = 3: manifests 1..3 pruned. */
    assert_int_equal(sl_ckpt_store_get_manifest(f->s, 3, &id, &got, &n, f->err, sizeof f->err),
                     SL_ENOTFOUND);

    /* Every bit flip of a manifest is refused. */
    char path[256];
    snprintf(path, sizeof path, "%s/manifest.ckpt-5.slcm", f->dir);
    size_t flen;
    uint8_t *file = read_file(path, &flen);
    for (size_t bit = 0; bit < flen * 8; bit++) {
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        write_file(path, file, flen);
        int rc = sl_ckpt_store_get_manifest(f->s, 5, &id, &got, &n, f->err, sizeof f->err);
        assert_true(rc == SL_ECORRUPT || rc == SL_EVERSION);
        assert_null(got);
        file[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t cut = 0; cut < flen; cut++) {
        write_file(path, file, cut);
        assert_int_equal(sl_ckpt_store_get_manifest(f->s, 5, &id, &got, &n, f->err, sizeof f->err),
                         SL_ECORRUPT);
    }
    free(file);
}

/* The origin in the header: a store for one origin writes it and refuses
 * any other; images round-trip verbatim; per-task protection keeps each
 * task's last committed checkpoint (and its manifest) and never moves back. */
static void test_origin_and_task_protection(void **state)
{
    fixture *f = *state;
    char dir2[200];
    snprintf(dir2, sizeof dir2, "%s/area-n2", f->dir);
    sl_ckpt_store *n2 = sl_ckpt_store_open(dir2, 2, f->err, sizeof f->err);
    assert_non_null(n2);
    sl_ckpt_store_set_origin(n2, "n2");
    sl_ckpt_store_set_origin(f->s, "n1");
    assert_int_equal(sl_ckpt_store_put(f->s, 3, 7, "from n1", 7, f->err, sizeof f->err), SL_OK);
    void *img;
    size_t ilen;
    uint64_t found = 0;
    assert_int_equal(
        sl_ckpt_store_get_image(f->s, 3, 0, &found, &img, &ilen, f->err, sizeof f->err), SL_OK);
    assert_int_equal(found, 7);
    assert_int_equal(ilen, SL_CKPT_HEADER_SIZE + 7);
    char origin[SL_CKPT_ORIGIN_MAX + 1];
    int32_t t;
    uint64_t id;
    const uint8_t *pp;
    size_t n;
    assert_int_equal(sl_ckpt_parse(img, ilen, "x", &t, &id, origin, &pp, &n, f->err, sizeof f->err),
                     SL_OK);
    assert_string_equal(origin, "n1");
    assert_int_equal(t, 3);
    assert_memory_equal(pp, "from n1", 7);
    /* n1's image is refused by n2's area, before anything is written. */
    assert_int_equal(sl_ckpt_store_put_image(n2, img, ilen, NULL, NULL, f->err, sizeof f->err),
                     SL_ECORRUPT);
    assert_non_null(strstr(f->err, "origin"));
    assert_int_equal(sl_ckpt_store_list(n2, 3, NULL, 0), 0);
    /* A copy of n1's file placed into n2's area by hand is refused on load. */
    char src[256], dst[300];
    path_of(f, src, sizeof src, 3, 7);
    snprintf(dst, sizeof dst, "%s/task-3.ckpt-7.slck", dir2);
    size_t flen;
    uint8_t *file = read_file(src, &flen);
    write_file(dst, file, flen);
    free(file);
    void *p;
    assert_int_equal(sl_ckpt_store_get(n2, 3, 7, &p, &n, f->err, sizeof f->err), SL_ECORRUPT);
    assert_non_null(strstr(f->err, "names origin \"n1\""));
    unlink(dst);
    /* An image built for n2 is stored verbatim and loads back. */
    uint8_t hdr[SL_CKPT_HEADER_SIZE + 5];
    sl_ckpt_header_build(hdr, 4, 9, "n2", "hello", 5);
    memcpy(hdr + SL_CKPT_HEADER_SIZE, "hello", 5);
    int32_t st;
    uint64_t sid;
    assert_int_equal(sl_ckpt_store_put_image(n2, hdr, sizeof hdr, &st, &sid, f->err, sizeof f->err),
                     SL_OK);
    assert_int_equal(st, 4);
    assert_int_equal(sid, 9);
    assert_int_equal(sl_ckpt_store_get(n2, 4, 9, &p, &n, f->err, sizeof f->err), SL_OK);
    assert_memory_equal(p, "hello", 5);
    free(p);
    free(img);

    /* Per task: task 3 committed at 7 while later commits fail; task 8
     * committed at 20. Retention (keep 3) keeps both, forward only. */
    sl_ckpt_store_protect_task(f->s, 3, 7);
    sl_ckpt_store_protect_task(f->s, 3, 5); /* backwards: ignored */
    sl_ckpt_store_protect_task(f->s, 8, 20);
    assert_int_equal(sl_ckpt_store_protected(f->s, 3), 7);
    assert_int_equal(sl_ckpt_store_put(f->s, 8, 20, "c", 1, f->err, sizeof f->err), SL_OK);
    int32_t tasks[2] = {3, 8};
    assert_int_equal(sl_ckpt_store_put_manifest(f->s, 7, tasks, 1, f->err, sizeof f->err), SL_OK);
    for (uint64_t k = 21; k <= 30; k++) {
        assert_int_equal(sl_ckpt_store_put(f->s, 3, k, "x", 1, f->err, sizeof f->err), SL_OK);
        assert_int_equal(sl_ckpt_store_put(f->s, 8, k, "y", 1, f->err, sizeof f->err), SL_OK);
        assert_int_equal(sl_ckpt_store_put_manifest(f->s, k, tasks, 2, f->err, sizeof f->err),
                         SL_OK);
    }
    uint64_t ids[8];
    assert_int_equal(sl_ckpt_store_list(f->s, 3, ids, 8), 4);
    assert_int_equal(ids[3], 7);
    assert_int_equal(sl_ckpt_store_list(f->s, 8, ids, 8), 4);
    assert_int_equal(ids[3], 20);
    int32_t *mt;
    size_t mn;
    assert_int_equal(sl_ckpt_store_get_manifest(f->s, 7, NULL, &mt, &mn, f->err, sizeof f->err),
                     SL_OK);
    free(mt);
    assert_int_equal(sl_ckpt_store_get_manifest(f->s, 21, NULL, &mt, &mn, f->err, sizeof f->err),
                     SL_ENOTFOUND);
    sl_ckpt_store_close(n2);
}

/* Format-1 files (no origin in the header) written before origins were
 * recorded still load from disk, in any store; the network never takes
 * them (put_image wants the store's origin). */
static void test_format1_still_read(void **state)
{
    fixture *f = *state;
    uint8_t file[36 + 5];
    memset(file, 0, sizeof file);
    memcpy(file, "SLCK", 4);
    const uint64_t id = 77;
    const int32_t task = 4;
    uint32_t v = 1, plen_lo = 5;
    memcpy(file + 4, &v, 4); /* little-endian host (x86-64, arm64) */
    memcpy(file + 8, &id, 8);
    memcpy(file + 16, &task, 4);
    memcpy(file + 20, &plen_lo, 4);
    memcpy(file + 36, "hello", 5);
    uint32_t pcrc = sl_crc32c(0, "hello", 5);
    memcpy(file + 28, &pcrc, 4);
    uint32_t hcrc = sl_crc32c(0, file, 32);
    memcpy(file + 32, &hcrc, 4);
    char path[256];
    path_of(f, path, sizeof path, task, id);
    write_file(path, file, sizeof file);
    sl_ckpt_store_set_origin(f->s, "n1");
    void *p;
    size_t n;
    assert_int_equal(sl_ckpt_store_get(f->s, task, id, &p, &n, f->err, sizeof f->err), SL_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "hello", 5);
    free(p);
    assert_int_equal(
        sl_ckpt_store_put_image(f->s, file, sizeof file, NULL, NULL, f->err, sizeof f->err),
        SL_ECORRUPT);
    file[36] ^= 1; /* payload CRC still checked */
    write_file(path, file, sizeof file);
    assert_int_equal(sl_ckpt_store_get(f->s, task, id, &p, &n, f->err, sizeof f->err), SL_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_and_protect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flips_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_version_and_renamed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_injection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_tmp_cleanup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_and_task_protection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format1_still_read, setup, teardown),
    };
    return sl_test_status(cmocka_run_group_tests(tests, NULL, NULL));
}
