/*
 * fuzz_task_restore.c - fuzz target for a task's restore from a checkpoint
 * through the whole engine: the checkpointer loads the stored file, the
 * worker parses the node wrapper (task section, sink position), the task
 * section (header, sequence numbers, source state, window section, held
 * results), and the source lane reads its section (dedup positions).
 *
 * The input (after byte 0) becomes the stored checkpoint payload of task 0
 * at checkpoint 1 (written with sl_ckpt_store_put, so it passes the file
 * checks); a script source then assigns task 0 from checkpoint 1, feeds a
 * few events and ends. Byte 0 bit 0 set: the input is only the body of the
 * task section, and this target writes the wrapper and the section header
 * (magic, version, task 0) around it, so mutations reach the deeper
 * parsers. The sink records nothing but checks that recover() gets the
 * position bytes that were stored. The engine must either refuse the
 * checkpoint (run returns 1) or run to the end; sanitizers catch the rest.
 * One engine per input: slow, so the replay test runs few inputs.
 * Built with libFuzzer (SL_FUZZ) or with tests/fuzz/replay_driver.c.
 */
#include "checkpoint_store.h"
#include "connector.h"
#include "definition.h"
#include "engine.h"
#include "engine_harness.h"
#include "engine_internal.h"
#include "task_snapshot.h"
#include "log.h"
#include "snapshot.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

long sl_fuzz_replay_runs = 300; /* an engine with threads per input */

static char g_dir[256];
static sl_def *g_def;
static const uint8_t *g_pos; /* the sink position stored, if known */
static size_t g_pos_len;
static int g_pos_known;

static void src_feed(sl_engine *engine, sl_lane *lane)
{
    eh_assign(lane, 1, (const int64_t[]){3}, 1);
    static const char *const ev[] = {
        "{\"user\":\"a\",\"amount\":1,\"ts\":1700000000000}",
        "{\"user\":\"b\",\"amount\":2,\"ts\":1700000000500}",
        "{\"user\":\"a\",\"amount\":3,\"ts\":1700000003000}",
    };
    for (int i = 0; i < 3 && !sl_engine_stopping(engine); i++)
        while (sl_lane_ingest(lane, 0, ev[i], strlen(ev[i]), 3 + i, -1) == SL_EAGAIN &&
               !sl_engine_stopping(engine))
            sl_lane_wait(lane);
    sl_lane_flush(lane);
    eh_end(lane, 1);
}

static int snk_write(void *st, const sl_batch *b)
{
    (void)st;
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t vl;
        const char *v = sl_batch_row(b, i, &vl);
        for (uint32_t k = 0; k < vl; k++)
            if ((unsigned char)v[k] < 0x20)
                abort(); /* restored state broke an output line */
    }
    return SL_OK;
}

static int snk_recover(void *st, int32_t task, const uint8_t *pos, size_t len, int64_t **marks,
                       uint32_t *nmarks, char *err, size_t es)
{
    (void)st, (void)task, (void)err, (void)es;
    if (g_pos_known && pos && (len != g_pos_len || (len && memcmp(pos, g_pos, len) != 0)))
        abort(); /* the sink was handed other bytes than the stored position */
    for (size_t i = 0; pos && i < len; i++)
        (void)*(volatile const uint8_t *)(pos + i); /* the bytes must be readable */
    int64_t none = -1;
    return eh_sink_marks(&none, 1, marks, nmarks);
}

static const sl_sink_ops null_sink = {.name = "fuzz",
                                      .create = eh_sink_create,
                                      .write = snk_write,
                                      .flush = eh_sink_flush,
                                      .destroy = eh_sink_destroy,
                                      .position = eh_sink_position,
                                      .recover = snk_recover};

static void clear_dir(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    char path[600];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(path, sizeof(path), "%s/%s", g_dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
}

static void fuzz_cleanup(void)
{
    clear_dir();
    rmdir(g_dir);
    sl_def_free(g_def);
}

static void fuzz_setup(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof(g_dir), "%s/fuzz_task.%ld", base, (long)getpid());
    /* $SL_FUZZ_LOG=1 shows the engine's log (what it refused and why) */
    sl_log_set_level(getenv("SL_FUZZ_LOG") ? SL_LOG_INFO : SL_LOG_OFF);
    char text[2048], err[1024];
    snprintf(text, sizeof(text),
             "{\"name\":\"fuzz\",\"source\":{\"type\":\"generator\","
             "\"event_time\":{\"field\":\"ts\",\"unit\":\"ms\"},"
             "\"watermark\":{\"max_out_of_orderness\":\"150ms\"}},"
             "\"pipeline\":[{\"key_by\":[\"user\"]},{\"window\":{\"type\":\"tumbling\","
             "\"size\":\"1s\",\"allowed_lateness\":\"500ms\"},\"aggregates\":{\"n\":{\"fn\":"
             "\"count\"},\"total\":{\"fn\":\"sum\",\"field\":\"amount\"}}}],"
             "\"sink\":{\"type\":\"null\"},"
             "\"checkpoint\":{\"interval\":\"1h\",\"dir\":\"%s\",\"keep\":3},"
             "\"runtime\":{\"workers\":1,\"batch_size\":4,\"ring_capacity\":4},"
             "\"http\":{\"addr\":\"off\"}}",
             g_dir);
    if (sl_def_load_string(text, "fuzz.json", &g_def, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "fuzz_task_restore: %s\n", err);
        abort();
    }
    atexit(fuzz_cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_def)
        fuzz_setup();
    if (size < 1)
        return 0;
    sl_buf blob;
    sl_buf_init(&blob);
    g_pos_known = 0;
    g_pos = NULL;
    g_pos_len = 0;
    if (data[0] & 1) {
        /* body = [u32 position length, position bytes] rest-of-task-section */
        const uint8_t *p = data + 1;
        size_t n = size - 1, plen = 0;
        if (n >= 1) {
            plen = p[0] % 16 < n - 1 ? p[0] % 16 : n - 1;
            g_pos = p + 1;
            g_pos_len = plen;
            p += 1 + plen;
            n -= 1 + plen;
        }
        sl_buf task;
        sl_buf_init(&task);
        sl_buf_put_u32(&task, SL_TASK_SNAPSHOT_MAGIC);
        sl_buf_put_u32(&task, SL_TASK_SNAPSHOT_VERSION);
        sl_buf_put_u32(&task, 0); /* task */
        sl_buf_put_bytes(&task, p, n);
        sl_buf_put_blob(&blob, task.data, task.len);
        sl_buf_put_blob(&blob, g_pos_len ? g_pos : (const uint8_t *)"", g_pos_len);
        sl_buf_free(&task);
        g_pos_known = 1;
    } else {
        sl_buf_put_bytes(&blob, data + 1, size - 1);
    }
    if (blob.failed)
        abort();
    clear_dir();
    char err[1024];
    sl_ckpt_store *st = sl_ckpt_store_open(g_dir, 3, err, sizeof(err));
    if (!st || sl_ckpt_store_put(st, 0, 1, blob.data, blob.len, err, sizeof(err)) != SL_OK ||
        sl_ckpt_store_put_manifest(st, 1, (const int32_t[]){0}, 1, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "fuzz_task_restore: %s\n", err);
        abort();
    }
    sl_ckpt_store_close(st);
    sl_buf_free(&blob);

    eh_source_set(src_feed, NULL);
    sl_engine_options opt = {.source_ops = &eh_script_source, .sink_ops = &null_sink};
    sl_engine *e = sl_engine_new(g_def, &opt, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "fuzz_task_restore: %s\n", err);
        abort();
    }
    int rc = sl_engine_run(e);
    if (rc != 0 && rc != 1)
        abort();
    sl_engine_free(e);
    return 0;
}
