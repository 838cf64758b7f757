/* sample_op.c - the toy `sample` operator (sample_op.h). */
#include "sample_op.h"

#include <stdlib.h>
#include <string.h>

#define SAMPLE_SECTION_VERSION 1u

typedef struct sample_def {
    uint64_t every;
} sample_def;

typedef struct sample_inst {
    uint64_t every, seen;
    sl_batch *out;
} sample_inst;

static int sample_init(const json_t *stage_json, const char *path, sl_stage *stage, char *errstr,
                       size_t errstr_size)
{
    const json_t *body = json_object_get(stage_json, "sample");
    const json_t *every = json_object_get(body, "every");
    if (json_object_size(stage_json) != 1 || !json_is_object(body) || json_object_size(body) != 1 ||
        !json_is_integer(every) || json_integer_value(every) < 1)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.sample: expected {\"every\": <integer >= 1>}", path);
    sample_def *d = malloc(sizeof(*d));
    if (!d)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "%s: out of memory", path);
    d->every = (uint64_t)json_integer_value(every);
    stage->u.custom = d;
    return SL_OK;
}

static void sample_explain(const sl_stage *stage, FILE *out)
{
    const sample_def *d = stage->u.custom;
    fprintf(out, "  sample: every %llu-th result row\n", (unsigned long long)d->every);
}

static void sample_destroy(sl_stage *stage)
{
    free(stage->u.custom);
    stage->u.custom = NULL;
}

static void *sample_open(const sl_stage *stage, const sl_op_env *env, char *errstr,
                         size_t errstr_size)
{
    sample_inst *s = calloc(1, sizeof(*s));
    if (s)
        s->out = sl_batch_new(SL_MSG_RESULTS, env->task, 256, 0);
    if (!s || !s->out) {
        free(s);
        sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->every = ((const sample_def *)stage->u.custom)->every;
    return s;
}

static void sample_flush(sample_inst *s, const sl_op_out *out)
{
    if (s->out->count)
        out->emit(out->ctx, s->out);
    sl_batch_reset(s->out);
}

static void sample_process(void *op, const sl_batch *in, const sl_op_out *out)
{
    sample_inst *s = op;
    for (uint32_t i = 0; i < in->count; i++) {
        if (++s->seen % s->every != 0)
            continue;
        uint32_t kl, vl;
        const char *k = sl_batch_key(in, i, &kl);
        const char *v = sl_batch_row(in, i, &vl);
        if (s->out->count == s->out->capacity ||
            sl_batch_add_result(s->out, k, kl, v, vl, in->ts[i], in->offset[i]) != SL_OK) {
            sample_flush(s, out);
            if (sl_batch_add_result(s->out, k, kl, v, vl, in->ts[i], in->offset[i]) != SL_OK)
                abort();
        }
    }
    sample_flush(s, out);
}

static int sample_snapshot(const void *op, sl_buf *out)
{
    const sample_inst *s = op;
    sl_buf_put_u32(out, SAMPLE_SECTION_VERSION);
    sl_buf_put_u64(out, s->seen);
    return out->failed ? SL_ENOMEM : SL_OK;
}

static int sample_restore(void *op, sl_reader *in, char *errstr, size_t errstr_size)
{
    sample_inst *s = op;
    s->seen = 0; /* a refused section leaves the instance empty */
    uint32_t version = sl_read_u32(in);
    uint64_t seen = sl_read_u64(in);
    if (in->failed)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "sample: truncated section");
    if (version != SAMPLE_SECTION_VERSION)
        return sl_seterr(errstr, errstr_size, SL_EVERSION, "sample: section version %u", version);
    s->seen = seen;
    return SL_OK;
}

static void sample_close(void *op)
{
    sample_inst *s = op;
    if (s)
        sl_batch_free(s->out);
    free(s);
}

const sl_operator_ops sample_op = {
    .name = "sample",
    .init = sample_init,
    .explain = sample_explain,
    .destroy = sample_destroy,
    .open = sample_open,
    .process = sample_process,
    .snapshot = sample_snapshot,
    .restore = sample_restore,
    .close = sample_close,
    .after_window = 1,
};

void sample_op_register(void)
{
    if (!sl_operator_find("sample"))
        sl_operator_register(&sample_op);
}
