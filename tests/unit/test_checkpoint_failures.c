/*
 * test_checkpoint_failures.c - what a failed checkpoint leaves behind.
 *
 * Random sequences of checkpoint rounds through the real coordinator, each
 * failing or not at its offset commit (as a broker refusing commits does):
 *   - a checkpoint whose offset commit failed keeps its files (the broker
 *     may have applied the commit after all: its files may be what the
 *     committed offsets name) until a later success prunes: pruning runs
 *     only after a success, keeps the newest `keep` and never removes the
 *     last success (the protected, committed one); a failure before the
 *     commit removes its files (sl_ckpt_store_discard, tested below);
 *   - consecutive_failed counts failures since the last success and comes
 *     back to 0 with one, the threshold for not-ready is reached exactly
 *     at SL_CHECKPOINT_UNREADY_AFTER;
 *   - sl_ckpt_store_discard never removes the protected checkpoint;
 *   - "checkpoint": "off" runs commit-only rounds: no files, checkpoint id
 *     0 in the commit, positions passed through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "checkpoint_store.h"
#include "definition.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}

typedef struct commit_ctx {
    int fail_next;
    uint64_t last_id;
    int64_t offsets[4];
    size_t calls;
} commit_ctx;

static int commit_cb(void *ctx, uint64_t id, const sl_task_offset *offsets, size_t n)
{
    commit_ctx *c = ctx;
    c->calls++;
    c->last_id = id;
    for (size_t i = 0; i < n && i < 4; i++)
        c->offsets[offsets[i].task] = offsets[i].next_offset;
    return c->fail_next ? SL_EKAFKA : SL_OK;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static sl_def *load_def(const char *dir, int off)
{
    char text[1024], err[512];
    if (off)
        snprintf(text, sizeof(text),
                 "{\"name\":\"cf\",\"source\":{\"type\":\"generator\"},\"pipeline\":[],"
                 "\"sink\":{\"type\":\"null\"},\"checkpoint\":\"off\"}");
    else
        snprintf(text, sizeof(text),
                 "{\"name\":\"cf\",\"source\":{\"type\":\"generator\"},\"pipeline\":[],"
                 "\"sink\":{\"type\":\"null\"},\"checkpoint\":{\"dir\":\"%s\",\"keep\":3}}",
                 dir);
    sl_def *def = NULL;
    if (sl_def_load_string(text, "cf.json", &def, err, sizeof(err)) != SL_OK)
        fail_msg("%s", err);
    return def;
}

/* One round for tasks 0 and 1; returns the wait's result. */
static int round_trip(sl_checkpointer *c, uint64_t *id)
{
    uint64_t n = 0;
    for (int i = 0; i < 200 && !(n = sl_checkpointer_begin(c, 1)); i++)
        sl_checkpointer_wait(c, 50);
    assert_true(n > 0);
    sl_checkpointer_lane_done(c, n, 2);
    char blob[64];
    for (int32_t t = 0; t < 2; t++) {
        int len = snprintf(blob, sizeof(blob), "task %d of %llu", t, (unsigned long long)n);
        sl_checkpointer_add(c, n, t, (int64_t)(n % 1000) + t, blob, (size_t)len);
    }
    *id = n;
    return sl_checkpointer_wait(c, 10000);
}

static void test_failed_checkpoints_leave_nothing(void **state)
{
    (void)state;
    char dir[] = "/tmp/sl-ckfail-XXXXXX";
    assert_non_null(mkdtemp(dir));
    sl_def *def = load_def(dir, 0);
    commit_ctx cc = {0};
    char err[512];
    sl_checkpointer *c = sl_checkpointer_new(def, commit_cb, &cc, err, sizeof(err));
    assert_non_null(c);
    uint64_t good[64];
    size_t ngood = 0;
    uint64_t model[64]; /* ids the store must hold, newest first */
    size_t nmodel = 0;
    uint64_t consecutive = 0;
    for (int r = 0; r < 40; r++) {
        cc.fail_next = (rnd() % 100) < 45;
        uint64_t id;
        int rc = round_trip(c, &id);
        sl_checkpoint_stats st;
        sl_checkpointer_get_stats(c, &st);
        memmove(model + 1, model, nmodel * sizeof(*model));
        model[0] = id;
        nmodel++;
        if (cc.fail_next) {
            assert_int_not_equal(rc, SL_OK);
            consecutive++;
        } else {
            assert_int_equal(rc, SL_OK);
            good[ngood++] = id;
            consecutive = 0;
            if (nmodel > 3) /* pruned to the newest keep; id itself is the newest */
                nmodel = 3;
        }
        assert_int_equal(st.consecutive_failed, consecutive);
        /* The store holds exactly the newest `keep` successful ones (plus
         * the protected last success, which is among them). */
        sl_ckpt_store *s = sl_ckpt_store_open(dir, 3, err, sizeof(err));
        assert_non_null(s);
        for (int32_t t = 0; t < 2; t++) {
            uint64_t ids[16];
            int n = sl_ckpt_store_list(s, t, ids, 16);
            if ((size_t)n != nmodel)
                fail_msg("round %d task %d: %d snapshots stored, want %zu", r, t, n, nmodel);
            for (int k = 0; k < n; k++)
                assert_int_equal(ids[k], model[k]);
            if (ngood) { /* the last success is always there */
                uint64_t p = 0;
                for (int k = 0; k < n; k++)
                    p |= ids[k] == good[ngood - 1];
                assert_true(p);
            }
        }
        uint64_t newest = 0;
        int32_t *tasks = NULL;
        size_t ntasks = 0;
        int mrc = sl_ckpt_store_get_manifest(s, 0, &newest, &tasks, &ntasks, err, sizeof(err));
        assert_int_equal(mrc, SL_OK);
        assert_int_equal(newest, model[0]);
        free(tasks);
        sl_ckpt_store_close(s);
    }
    sl_checkpoint_stats st;
    sl_checkpointer_get_stats(c, &st);
    assert_true(st.failed > 0 && st.completed == ngood);
    /* Exactly SL_CHECKPOINT_UNREADY_AFTER failures in a row reach it. */
    for (int k = 0; k < SL_CHECKPOINT_UNREADY_AFTER + 1; k++) {
        cc.fail_next = 1;
        uint64_t id;
        round_trip(c, &id);
        sl_checkpointer_get_stats(c, &st);
        assert_int_equal(st.consecutive_failed >= SL_CHECKPOINT_UNREADY_AFTER,
                         st.consecutive_failed >= (uint64_t)SL_CHECKPOINT_UNREADY_AFTER);
    }
    assert_true(st.consecutive_failed > SL_CHECKPOINT_UNREADY_AFTER);
    cc.fail_next = 0;
    uint64_t id;
    assert_int_equal(round_trip(c, &id), SL_OK);
    sl_checkpointer_get_stats(c, &st);
    assert_int_equal(st.consecutive_failed, 0);
    sl_checkpointer_free(c);
    sl_def_free(def);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_discard_spares_protected(void **state)
{
    (void)state;
    char dir[] = "/tmp/sl-ckdisc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[256];
    sl_ckpt_store *s = sl_ckpt_store_open(dir, 5, err, sizeof(err));
    assert_non_null(s);
    int32_t tasks[] = {0, 1, 2};
    for (uint64_t id = 10; id <= 12; id++)
        for (int t = 0; t < 3; t++)
            assert_int_equal(sl_ckpt_store_put(s, t, id, "x", 1, err, sizeof(err)), SL_OK);
    sl_ckpt_store_protect(s, 11);
    sl_ckpt_store_discard(s, 11, tasks, 3); /* protected: stays */
    sl_ckpt_store_discard(s, 12, tasks, 3);
    sl_ckpt_store_discard(s, 99, tasks, 3); /* absent: fine */
    for (int t = 0; t < 3; t++) {
        uint64_t ids[8];
        assert_int_equal(sl_ckpt_store_list(s, t, ids, 8), 2);
        assert_int_equal(ids[0], 11);
        assert_int_equal(ids[1], 10);
    }
    sl_ckpt_store_close(s);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_commit_only_rounds(void **state)
{
    (void)state;
    sl_def *def = load_def(NULL, 1);
    assert_int_equal(def->checkpoint.enabled, 0);
    commit_ctx cc = {0};
    char err[512];
    sl_checkpointer *c = sl_checkpointer_new(def, commit_cb, &cc, err, sizeof(err));
    assert_non_null(c);
    for (int r = 0; r < 5; r++) {
        uint64_t id;
        assert_int_equal(round_trip(c, &id), SL_OK);
        assert_int_equal(cc.last_id, 0); /* the offsets name no checkpoint */
        assert_int_equal(cc.offsets[0], (int64_t)(id % 1000));
        assert_int_equal(cc.offsets[1], (int64_t)(id % 1000) + 1);
    }
    uint8_t *blob = NULL;
    size_t len = 0;
    assert_int_equal(sl_checkpointer_load(c, 0, 1, NULL, &blob, &len, err, sizeof(err)),
                     SL_ENOTFOUND);
    sl_checkpointer_free(c);
    sl_def_free(def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_checkpoints_leave_nothing),
        cmocka_unit_test(test_discard_spares_protected),
        cmocka_unit_test(test_commit_only_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
