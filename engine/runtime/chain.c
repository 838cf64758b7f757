/*
 * chain.c - a task's operator chain (chain.h).
 */
#include "chain.h"
#include "task_snapshot.h"

#include <stdlib.h>
#include <string.h>

typedef struct sl__link {
    struct sl_chain *chain;
    size_t next; /* stage that gets this one's output; n = the task */
} sl__link;

struct sl_chain {
    size_t n;
    const sl_stage **stages;
    const sl_operator_ops **ops;
    void **inst;
    sl__link *links;
    sl_op_out *outs;
    const sl_emitter *em; /* during a call */
};

static void sl__chain_emit(void *ctx, const sl_batch *b)
{
    sl__link *l = ctx;
    sl_chain *c = l->chain;
    if (l->next < c->n) {
        c->ops[l->next]->process(c->inst[l->next], b, &c->outs[l->next]);
        return;
    }
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t kl, vl;
        const char *k = sl_batch_key(b, i, &kl);
        const char *v = sl_batch_row(b, i, &vl);
        c->em->result(c->em->ctx, k, kl, v, vl, b->ts[i], b->offset[i] != 0);
    }
}

static void sl__chain_late(void *ctx, const sl_batch *in, uint32_t row, int64_t watermark)
{
    sl__link *l = ctx;
    const sl_emitter *em = l->chain->em;
    if (em->late)
        em->late(em->ctx, in, row, watermark);
}

int sl_chain_open(const sl_def *def, const sl_op_env *env, sl_chain **out, char *errstr,
                  size_t errstr_size)
{
    *out = NULL;
    size_t first = sl_def_runtime_stage(def);
    if (first >= def->nstages)
        return SL_OK;
    sl_chain *c = calloc(1, sizeof(*c));
    if (!c)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    size_t n = def->nstages - first;
    c->stages = calloc(n, sizeof(*c->stages));
    c->ops = calloc(n, sizeof(*c->ops));
    c->inst = calloc(n, sizeof(*c->inst));
    c->links = calloc(n, sizeof(*c->links));
    c->outs = calloc(n, sizeof(*c->outs));
    if (!c->stages || !c->ops || !c->inst || !c->links || !c->outs) {
        sl_chain_free(c);
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const sl_stage *st = &def->stages[first + i];
        if (!st->ops->open || !st->ops->process || !st->ops->close) {
            sl_chain_free(c);
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s: operator \"%s\" cannot run on the workers", st->path,
                             st->ops->name);
        }
        c->stages[i] = st;
        c->ops[i] = st->ops;
        c->inst[i] = st->ops->open(st, env, errstr, errstr_size);
        if (!c->inst[i]) {
            sl_chain_free(c);
            return SL_ENOMEM;
        }
        c->n = i + 1;
        c->links[i] = (sl__link){.chain = c, .next = i + 1};
        c->outs[i] =
            (sl_op_out){.emit = sl__chain_emit, .late = sl__chain_late, .ctx = &c->links[i]};
    }
    *out = c;
    return SL_OK;
}

void sl_chain_free(sl_chain *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        c->ops[i]->close(c->inst[i]);
    free(c->stages);
    free(c->ops);
    free(c->inst);
    free(c->links);
    free(c->outs);
    free(c);
}

void sl_chain_process(sl_chain *c, const sl_batch *in, const sl_emitter *em)
{
    c->em = em;
    c->ops[0]->process(c->inst[0], in, &c->outs[0]);
}

void sl_chain_watermark(sl_chain *c, int64_t watermark, const sl_emitter *em)
{
    c->em = em;
    for (size_t i = 0; i < c->n; i++)
        if (c->ops[i]->watermark)
            c->ops[i]->watermark(c->inst[i], watermark, &c->outs[i]);
}

void sl_chain_finish(sl_chain *c, const sl_emitter *em)
{
    c->em = em;
    for (size_t i = 0; i < c->n; i++)
        if (c->ops[i]->finish)
            c->ops[i]->finish(c->inst[i], &c->outs[i]);
}

int sl_chain_snapshot(const sl_chain *c, sl_buf *out)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += c->ops[i]->snapshot != NULL;
    sl_task_image_sections(out, n);
    for (size_t i = 0; i < c->n; i++) {
        if (!c->ops[i]->snapshot)
            continue;
        sl_buf sec;
        sl_buf_init(&sec);
        int rc = c->ops[i]->snapshot(c->inst[i], &sec);
        sl_task_image_section(out, c->ops[i]->name, sec.data, sec.len);
        if (rc != SL_OK || sec.failed)
            out->failed = 1;
        sl_buf_free(&sec);
    }
    return out->failed ? SL_ENOMEM : SL_OK;
}

int sl_chain_restore(sl_chain *c, const sl_task_section *sections, size_t n, char *errstr,
                     size_t errstr_size)
{
    size_t i = 0;
    for (size_t s = 0; s < n; s++, i++) {
        while (i < c->n && !c->ops[i]->snapshot)
            i++;
        const sl_task_section *sec = &sections[s];
        if (i == c->n || strlen(c->ops[i]->name) != sec->name_len ||
            memcmp(c->ops[i]->name, sec->name, sec->name_len) != 0 || !c->ops[i]->restore)
            return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                             "operator sections do not match the pipeline's stages");
        sl_reader r;
        sl_reader_init(&r, sec->data, sec->len);
        int rc = c->ops[i]->restore(c->inst[i], &r, errstr, errstr_size);
        if (rc == SL_OK && !sl_reader_done(&r))
            rc = sl_seterr(errstr, errstr_size, SL_ECORRUPT, "%s: trailing bytes in its section",
                           c->stages[i]->path);
        if (rc != SL_OK)
            return rc;
    }
    while (i < c->n && !c->ops[i]->snapshot)
        i++;
    if (i != c->n)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "operator sections do not match the pipeline's stages");
    return SL_OK;
}

void sl_chain_stats(const sl_chain *c, sl_op_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->watermark = out->max_ts = INT64_MIN;
    for (size_t i = 0; c && i < c->n; i++) {
        if (!c->ops[i]->stats)
            continue;
        sl_op_stats s = {.watermark = INT64_MIN, .max_ts = INT64_MIN};
        c->ops[i]->stats(c->inst[i], &s);
        out->state_bytes += s.state_bytes;
        out->keys += s.keys;
        out->refused += s.refused;
        if (s.has_clock && !out->has_clock) {
            out->has_clock = 1;
            out->watermark = s.watermark;
            out->max_ts = s.max_ts;
        }
    }
}

void sl_chain_refuse_new_keys(sl_chain *c, int on)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (c->ops[i]->refuse_new_keys)
            c->ops[i]->refuse_new_keys(c->inst[i], on);
}
