/*
 * fuzz_replication.c - fuzz target for the replication message parser
 * (engine/checkpoint/replication_codec.c), the snapshot image it carries
 * (checkpoint_image.c) and the offset-commit metadata that names a
 * checkpoint and its origin.
 *
 * Each input is parsed (1) as it is, which almost always fails the message
 * CRC, and (2) with a correct CRC trailer appended, so mutations reach the
 * body parsers. A PUSH or FETCH that parses must re-encode to exactly the
 * input (the format is canonical: one spelling per message), every PUSH
 * entry's image must verify and name its entry's task, the push's
 * checkpoint id and origin, and no task may appear twice. The input is
 * also parsed as a snapshot image and as commit metadata, whose accepted
 * forms must round-trip through sl_checkpoint_meta_format. Any
 * disagreement aborts. Built with libFuzzer (SL_FUZZ) or with
 * tests/fuzz/replay_driver.c over tests/fuzz/corpus/fuzz_replication/
 * (messages stored without their CRC trailer).
 */
#include "checkpoint.h"
#include "checkpoint_store.h"
#include "replication_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_replication: %s (line %d)\n", #cond, __LINE__);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Re-encodes a parsed PUSH and compares it with the original message. */
static void check_push(const uint8_t *msg, size_t len, const sl__msg *m)
{
    sl_reader r = m->body;
    sl__push p;
    char err[256];
    if (sl__parse_push(&r, SL_REPL_MAX_PUSH_TASKS, &p, err, sizeof err) != SL_OK)
        return;
    CHECK(sl_repl_node_id_valid(p.origin) && p.ckpt_id > 0);
    sl_buf b;
    sl_buf_init(&b);
    sl__msg_begin(&b, SL__MSG_PUSH, m->req_id);
    sl_buf_put_str(&b, p.origin);
    sl_buf_put_u64(&b, p.ckpt_id);
    sl_buf_put_u32(&b, p.count);
    for (uint32_t i = 0; i < p.count; i++) {
        const sl__push_entry *e = &p.entries[i];
        for (uint32_t j = 0; j < i; j++)
            CHECK(p.entries[j].task != e->task);
        int32_t task;
        uint64_t id;
        char origin[SL_CKPT_ORIGIN_MAX + 1];
        const uint8_t *pl;
        size_t plen;
        CHECK(sl_ckpt_parse(e->image, e->len, "fuzz", &task, &id, origin, &pl, &plen, err,
                            sizeof err) == SL_OK);
        CHECK(task == e->task && id == p.ckpt_id && strcmp(origin, p.origin) == 0);
        CHECK(e->committed <= p.ckpt_id);
        sl_buf_put_u32(&b, (uint32_t)e->task);
        sl_buf_put_u64(&b, e->committed);
        sl_buf_put_blob(&b, e->image, e->len);
    }
    CHECK(sl__msg_end(&b) == SL_OK);
    CHECK(b.len == len && memcmp(b.data, msg, len) == 0);
    sl_buf_free(&b);
    free(p.entries);
}

static void check_fetch(const uint8_t *msg, size_t len, const sl__msg *m)
{
    sl_reader r = m->body;
    sl__fetch_req f;
    char err[256];
    if (sl__parse_fetch(&r, &f, err, sizeof err) != SL_OK)
        return;
    sl_buf b;
    sl_buf_init(&b);
    sl__msg_begin(&b, SL__MSG_FETCH, m->req_id);
    sl_buf_put_str(&b, f.origin);
    sl_buf_put_u32(&b, (uint32_t)f.task);
    sl_buf_put_u64(&b, f.ckpt_id);
    CHECK(sl__msg_end(&b) == SL_OK);
    CHECK(b.len == len && memcmp(b.data, msg, len) == 0);
    sl_buf_free(&b);
}

static void parse_message(const uint8_t *msg, size_t len)
{
    char err[256];
    (void)sl__repl_parse_any(msg, len, err, sizeof err);
    sl__msg m;
    if (sl__msg_open(msg, len, &m, err, sizeof err) != SL_OK)
        return;
    if (m.type == SL__MSG_PUSH)
        check_push(msg, len, &m);
    else if (m.type == SL__MSG_FETCH)
        check_fetch(msg, len, &m);
    else if (m.type == SL__MSG_FETCH_REPLY || m.type == SL__MSG_ERROR) {
        sl_reader r = m.body;
        sl__fetch_reply f;
        if (sl__parse_fetch_reply(&r, m.type, &f) == SL_OK && m.type == SL__MSG_FETCH_REPLY)
            CHECK(f.len == 0 || f.image != NULL);
    } else if (m.type == SL__MSG_PUSH_ACK) {
        sl_reader r = m.body;
        sl__ack a;
        (void)sl__parse_ack(&r, m.type, &a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* (1) as is */
    parse_message(data, size);
    /* (2) with a correct CRC trailer */
    uint8_t *msg = malloc(size + 4);
    if (!msg)
        return 0;
    if (size)
        memcpy(msg, data, size);
    uint32_t crc = sl_crc32c(0, data, size);
    for (int i = 0; i < 4; i++)
        msg[size + (size_t)i] = (uint8_t)(crc >> (8 * i));
    parse_message(msg, size + 4);
    free(msg);

    /* The input as a snapshot image. */
    int32_t task;
    uint64_t id;
    char origin[SL_CKPT_ORIGIN_MAX + 1], err[256];
    const uint8_t *pl;
    size_t plen;
    if (sl_ckpt_parse(data, size, "fuzz", &task, &id, origin, &pl, &plen, err, sizeof err) ==
        SL_OK) {
        size_t hlen = (size_t)(pl - data); /* format 2, or 1 (no origin) */
        CHECK(hlen == SL_CKPT_HEADER_SIZE || (hlen == 36 && origin[0] == '\0'));
        CHECK(plen + hlen == size);
        CHECK(strlen(origin) <= SL_CKPT_ORIGIN_MAX);
    }

    /* The input as offset-commit metadata. */
    char o[SL_REPL_NODE_ID_MAX + 1];
    if (sl_checkpoint_meta_parse(data, size, &id, o) == 0) {
        CHECK(id > 0);
        if (o[0]) {
            char again[160];
            int n = sl_checkpoint_meta_format(again, sizeof again, id, o);
            CHECK(n > 0 && (size_t)n == size && memcmp(again, data, size) == 0);
        }
    } else {
        CHECK(id == 0);
    }
    return 0;
}
