/*
 * test_checkpoint_restore.c - a new owner restores only the checkpoint the
 * committed offsets name, from the origin recorded with the commit, and
 * only a verified copy.
 *
 * Set-up: node n1's own copy of task 0 at checkpoint C is bit-flipped, and
 * forged copies of the same (task, checkpoint) sit in other areas: one in
 * replicas/evil/ naming origin evil, one in replicas/evil/ whose header
 * claims n1, one in replicas/n3/. Restoring "checkpoint C of n1" must never
 * return a forged copy: without a peer it fails clearly (naming the corrupt
 * local copy, which is also logged), with a peer holding n1's real copy in
 * its replicas/n1/ area it restores that copy (over CurveZMQ). Restoring a
 * checkpoint of another origin uses that origin's area only. The commit
 * metadata that records the origin round-trips, and the old form without
 * an origin still parses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "checkpoint_store.h"
#include "common.h"
#include "definition.h"
#include "replication.h"

/* Under ThreadSanitizer: libzmq and libsodium are not instrumented (see
 * test_replication.c). */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "called_from_lib:libzmq.so\nrace:libzmq.so\n"
           "called_from_lib:libsodium.so\nrace:libsodium.so\n";
}

static char g_root[64];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void put_copy(const char *dir, const char *origin, int32_t task, uint64_t id,
                     const char *payload)
{
    char err[256];
    sl_ckpt_store *st = sl_ckpt_store_open(dir, 10, err, sizeof err);
    if (!st)
        fail_msg("%s", err);
    sl_ckpt_store_set_origin(st, origin);
    assert_int_equal(sl_ckpt_store_put(st, task, id, payload, strlen(payload), err, sizeof err),
                     SL_OK);
    sl_ckpt_store_close(st);
}

static void flip_byte(const char *dir, int32_t task, uint64_t id, long at)
{
    char path[512];
    snprintf(path, sizeof path, "%s/task-%d.ckpt-%llu.slck", dir, task, (unsigned long long)id);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
}

/* Copies file (task, id) from one directory to another (mkdir -p). */
static void copy_file(const char *from_dir, const char *to_dir, int32_t task, uint64_t id)
{
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/task-%d.ckpt-%llu.slck", from_dir, task, (unsigned long long)id);
    snprintf(b, sizeof b, "%s/task-%d.ckpt-%llu.slck", to_dir, task, (unsigned long long)id);
    char err[256];
    sl_ckpt_store *st = sl_ckpt_store_open(to_dir, 10, err, sizeof err); /* creates it */
    sl_ckpt_store_close(st);
    FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

static sl_def *load_def(const char *node, const char *dir, const char *cluster_extra)
{
    char text[4096], err[1024];
    snprintf(text, sizeof text,
             "{\"name\":\"r\",\"source\":{\"type\":\"generator\",\"event_time\":{\"field\":\"ts\","
             "\"unit\":\"ms\"}},"
             "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"tumbling\","
             "\"size\":\"1s\"},\"aggregates\":{\"n\":{\"fn\":\"count\"}}}],"
             "\"sink\":{\"type\":\"null\"},"
             "\"checkpoint\":{\"dir\":\"%s\",\"keep\":5,\"replica_timeout\":\"2s\"},"
             "\"cluster\":{\"node_id\":\"%s\"%s},\"http\":{\"addr\":\"off\"}}",
             dir, node, cluster_extra);
    sl_def *def;
    if (sl_def_load_string(text, "restore.json", &def, err, sizeof err) != SL_OK)
        fail_msg("definition: %s", err);
    return def;
}

/* Runs `fn` with stderr captured; returns what was logged (malloc'd). */
static char *capture_stderr_begin(int *saved)
{
    fflush(stderr);
    *saved = dup(2);
    char *path = malloc(128);
    snprintf(path, 128, "%s/stderr.log", g_root);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    return path;
}

static char *capture_stderr_end(int saved, char *path)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, 1 << 16);
    if (f) {
        size_t n = fread(text, 1, (1 << 16) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    free(path);
    return text;
}

static void test_restore_from_committed_origin_only(void **state)
{
    (void)state;
    if (!sl_repl_curve_available())
        fail_msg("libzmq without CurveZMQ (libsodium): replication cannot be secured");
    const uint64_t C = 1700000000123ull;
    char d1[128], d2[128], area[256];
    snprintf(d1, sizeof d1, "%s/n1", g_root);
    snprintf(d2, sizeof d2, "%s/n2", g_root);

    /* n1's real checkpoint, and n2's copy of it in replicas/n1/. */
    put_copy(d1, "n1", 0, C, "real state of task 0");
    snprintf(area, sizeof area, "%s/replicas/n1", d2);
    copy_file(d1, area, 0, C);
    /* Local copy bit-flipped (in the payload). */
    flip_byte(d1, 0, C, SL_CKPT_HEADER_SIZE + 3);
    /* Forged copies in other areas of n1's own directory. */
    snprintf(area, sizeof area, "%s/replicas/evil", d1);
    put_copy(area, "evil", 0, C, "forged: n = 1000116");
    snprintf(area, sizeof area, "%s/replicas/n3", d1);
    put_copy(area, "n1", 0, C, "forged, claims n1"); /* header says n1, area n3 */
    /* And a forged copy in n2's other areas. */
    snprintf(area, sizeof area, "%s/replicas/evil", d2);
    put_copy(area, "evil", 0, C, "forged at the peer");

    /* 1. No peers: the only copy of n1's checkpoint is corrupt -> a clear
     *    failure, logged loudly, and never a forged copy. */
    sl_def *def = load_def("n1", d1, "");
    char err[4096];
    sl_checkpointer *cp = sl_checkpointer_new(def, NULL, NULL, err, sizeof err);
    if (!cp)
        fail_msg("checkpointer: %s", err);
    uint8_t *blob = NULL;
    size_t len = 0;
    int saved;
    char *path = capture_stderr_begin(&saved);
    int rc = sl_checkpointer_load(cp, 0, C, "n1", &blob, &len, err, sizeof err);
    char *log = capture_stderr_end(saved, path);
    assert_int_equal(rc, SL_ECORRUPT);
    assert_null(blob);
    assert_non_null(strstr(err, "payload checksum mismatch"));
    assert_non_null(strstr(log, "CORRUPT"));
    assert_non_null(strstr(log, "\"level\":\"error\""));
    assert_null(strstr(err, "forged"));
    free(log);
    /* A checkpoint of origin n3 (as committed by n3): replicas/n3 holds a
     * copy whose header claims n1: refused. */
    rc = sl_checkpointer_load(cp, 0, C, "n3", &blob, &len, err, sizeof err);
    assert_int_equal(rc, SL_ECORRUPT);
    assert_non_null(strstr(err, "names origin \"n1\""));
    /* A checkpoint of origin evil restores evil's copy and nothing else. */
    rc = sl_checkpointer_load(cp, 0, C, "evil", &blob, &len, err, sizeof err);
    assert_int_equal(rc, SL_OK);
    assert_int_equal(len, strlen("forged: n = 1000116"));
    free(blob);
    /* An origin with no area here and no peers: not found, clearly. */
    rc = sl_checkpointer_load(cp, 0, C, "n9", &blob, &len, err, sizeof err);
    assert_int_equal(rc, SL_ENOTFOUND);
    assert_non_null(strstr(err, "n9"));
    sl_checkpointer_free(cp);
    sl_def_free(def);

    /* 2. With a keyed peer n2 holding n1's real copy: restored from it. */
    char p1[64], s1[64], p2[64], s2[64];
    assert_int_equal(sl_repl_keygen(p1, s1, err, sizeof err), SL_OK);
    assert_int_equal(sl_repl_keygen(p2, s2, err, sizeof err), SL_OK);
    const char *pk[] = {p1};
    const char *pn[] = {"n1"};
    sl_repl_server_conf sc = {.node_id = "n2",
                              .endpoint = "tcp://127.0.0.1:*",
                              .store_dir = d2,
                              .keep = 5,
                              .secret_key = s2,
                              .peer_keys = pk,
                              .peer_node_ids = pn,
                              .npeers = 1};
    sl_repl_server *n2 = sl_repl_server_start(&sc, err, sizeof err);
    if (!n2)
        fail_msg("n2: %s", err);
    char extra[512];
    snprintf(extra, sizeof extra,
             ",\"listen\":\"tcp://127.0.0.1:0\",\"secret_key\":\"%s\","
             "\"peers\":[{\"endpoint\":\"%s\",\"public_key\":\"%s\",\"node_id\":\"n2\"}]",
             s1, sl_repl_server_endpoint(n2), p2);
    /* The engine would start n1's own server on listen; the restore path
     * alone does not need it, so load the definition and use the store. */
    def = load_def("n1", d1, extra);
    free(def->cluster.listen);
    def->cluster.listen = NULL; /* no server of n1 needed here */
    cp = sl_checkpointer_new(def, NULL, NULL, err, sizeof err);
    if (!cp)
        fail_msg("checkpointer: %s", err);
    path = capture_stderr_begin(&saved);
    rc = sl_checkpointer_load(cp, 0, C, "n1", &blob, &len, err, sizeof err);
    log = capture_stderr_end(saved, path);
    if (rc != SL_OK)
        fail_msg("restore from the peer: %s", err);
    assert_int_equal(len, strlen("real state of task 0"));
    assert_memory_equal(blob, "real state of task 0", len);
    free(blob);
    assert_non_null(strstr(log, "CORRUPT")); /* the local copy was still reported */
    assert_non_null(strstr(log, "fetched from a peer"));
    free(log);
    /* The peer's forged area is never asked for: a checkpoint n2 does not
     * hold for n1 is not found, though "evil" has that id. */
    rc = sl_checkpointer_load(cp, 0, C, "n7", &blob, &len, err, sizeof err);
    assert_int_equal(rc, SL_ENOTFOUND);
    sl_checkpointer_free(cp);
    sl_def_free(def);
    sl_repl_server_stop(n2);
}

static void test_commit_metadata(void **state)
{
    (void)state;
    char m[128], origin[65];
    uint64_t id;
    int n = sl_checkpoint_meta_format(m, sizeof m, 1700000000123ull, "node-1.eu");
    assert_string_equal(m, "sluice:checkpoint=1700000000123;origin=node-1.eu");
    assert_int_equal(sl_checkpoint_meta_parse(m, (size_t)n, &id, origin), 0);
    assert_int_equal(id, 1700000000123ull);
    assert_string_equal(origin, "node-1.eu");
    /* The old form: no origin. */
    const char *old = "sluice:checkpoint=42";
    assert_int_equal(sl_checkpoint_meta_parse(old, strlen(old), &id, origin), 0);
    assert_int_equal(id, 42);
    assert_string_equal(origin, "");
    /* Malformed or foreign. */
    const char *bad[] = {"sluice:checkpoint=",
                         "sluice:checkpoint=0",
                         "sluice:checkpoint=12x",
                         "sluice:checkpoint=12;origin=",
                         "sluice:checkpoint=12;origin=../x",
                         "sluice:checkpoint=12;orig=n1",
                         "sluice:checkpoint=99999999999999999999999",
                         "other",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sl_checkpoint_meta_parse(bad[i], strlen(bad[i]), &id, origin), -1);
        assert_int_equal(id, 0);
    }
    /* Not NUL-terminated input: only len bytes are read. */
    char raw[40];
    memcpy(raw, "sluice:checkpoint=7;origin=n2XXXXXXX", 36);
    assert_int_equal(sl_checkpoint_meta_parse(raw, 29, &id, origin), 0);
    assert_string_equal(origin, "n2");
    assert_int_equal(sl_checkpoint_meta_format(m, 20, 1, "n1"), -1);
    /* An origin with a NUL inside is refused, not cut at the NUL. */
    memcpy(raw, "sluice:checkpoint=7;origin=n2\0more", 35);
    assert_int_equal(sl_checkpoint_meta_parse(raw, 35, &id, origin), -1);
}

int main(void)
{
    strcpy(g_root, "/tmp/sl_restore_test_XXXXXX");
    if (!mkdtemp(g_root))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_from_committed_origin_only),
        cmocka_unit_test(test_commit_metadata),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return failed;
}
