/*
 * fuzz_definition.c - fuzz target for pipeline definitions
 * (sl_def_load_string: ${VAR} substitution, JSON parse, SLUICE_* overrides,
 * validation of every section, operator and connector option tables).
 *
 * Each input is loaded as a definition. Beyond "no crash, no leak, no read
 * past the end" (sanitizer builds), the outcome must keep the contract of
 * definition.h, or the target aborts:
 *   - failure: *out stays NULL, the code is SL_EPARSE or SL_EINVAL, and
 *     errstr is a non-empty, NUL-terminated message that starts with the
 *     file name, also when errstr is too small for the whole message;
 *   - success: the parsed definition is coherent (a name, a source and a
 *     sink type, at most one window (only result-row stages after it), durations and sizes within
 *     their documented ranges), explain prints without failing, and the
 *     input field list is NULL-terminated with non-empty names.
 * The environment is cleared of SLUICE_* overrides first so runs are
 * reproducible; ${FUZZ_VAR} is defined so substitution has something to
 * substitute. Built with libFuzzer (SL_FUZZ) or tests/fuzz/replay_driver.c.
 */
#include "definition.h"
#include "operator.h"
#include "redact.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME "fuzz.json"

static FILE *fuzz_devnull;

static void fuzz_setup(void)
{
    static const char *const overrides[] = {
        "SLUICE_NODE_ID",        "SLUICE_LISTEN",     "SLUICE_PEERS",
        "SLUICE_CHECKPOINT_DIR", "SLUICE_HTTP_ADDR",  "SLUICE_BOOTSTRAP",
        "SLUICE_WORKERS",        "SLUICE_BATCH_SIZE", "SLUICE_HTTP_TOKEN",
    };
    for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++)
        unsetenv(overrides[i]);
    setenv("FUZZ_VAR", "fuzz-value", 1);
    setenv("FUZZ_NUM", "3", 1);
    fuzz_devnull = fopen("/dev/null", "w");
    if (!fuzz_devnull)
        abort();
}

/* Aborts unless the message is a proper, bounded, file-named error. */
static void fuzz_check_error(int rc, const sl_def *def, const char *err, size_t cap)
{
    if (def != NULL)
        abort(); /* "allocates nothing" */
    if (rc != SL_EPARSE && rc != SL_EINVAL)
        abort();
    if (memchr(err, '\0', cap) == NULL || err[0] == '\0')
        abort();
    size_t n = strlen(FUZZ_NAME) < cap - 1 ? strlen(FUZZ_NAME) : cap - 1;
    if (strncmp(err, FUZZ_NAME, n) != 0)
        abort();
}

static void fuzz_check_window(const sl_window_def *w)
{
    switch (w->type) {
    case SL_WIN_TUMBLING:
        if (w->size_ms <= 0)
            abort();
        break;
    case SL_WIN_HOPPING:
        if (w->size_ms <= 0 || w->slide_ms <= 0)
            abort();
        break;
    case SL_WIN_SESSION:
        if (w->gap_ms <= 0)
            abort();
        break;
    default:
        abort();
    }
    if (w->allowed_lateness_ms < 0 || w->naggs == 0)
        abort();
    for (size_t a = 0; a < w->naggs; a++) {
        const sl_agg_def *g = &w->aggs[a];
        if (!g->name || (g->fn == SL_AGG_COUNT) != (g->field == NULL && g->expr == NULL))
            abort();
        if (g->fn != SL_AGG_COUNT && (g->column < 0 || (uint32_t)g->column >= w->ncolumns))
            abort();
    }
}

static void fuzz_check_def(const sl_def *def)
{
    if (!def || !def->name || !def->name[0] || !def->root)
        abort();
    if (!def->source.type || !def->sink.type)
        abort();
    if (def->nstages > 0 && !def->stages)
        abort();
    for (size_t i = 0; i < def->nstages; i++) {
        const sl_stage *s = &def->stages[i];
        if (!s->path)
            abort();
        if (s->kind == SL_STAGE_WINDOW && &s->u.window != def->window)
            abort(); /* at most one window */
        if (def->window && i > sl_def_runtime_stage(def) &&
            (s->kind == SL_STAGE_KEY_BY || s->kind == SL_STAGE_WINDOW || !s->ops->open))
            abort(); /* after the window: only stages that run on result rows */
    }
    if (def->window) {
        if (def->nstages == 0 || def->window != &def->stages[sl_def_runtime_stage(def)].u.window)
            abort();
        fuzz_check_window(def->window);
    }
    if (def->watermark.max_out_of_orderness_ms < 0 || def->watermark.idle_timeout_ms < 0)
        abort();
    if (def->runtime.workers < 1 || def->runtime.workers > 64 || def->runtime.batch_size < 1 ||
        def->runtime.ring_capacity < 1)
        abort();
    if (def->checkpoint.enabled) {
        if (def->checkpoint.interval_ms <= 0 || def->checkpoint.keep < 1 ||
            def->checkpoint.replicas < 0 || !def->checkpoint.dir ||
            (size_t)def->checkpoint.replicas > def->cluster.npeers)
            abort();
    }
    for (size_t i = 0; i < def->cluster.npeers; i++)
        if (!def->cluster.peers[i])
            abort();

    sl_def_explain(def, fuzz_devnull);
    char **fields = sl_def_input_fields(def);
    if (fields) {
        for (char **f = fields; *f; f++) {
            if (!(*f)[0])
                abort();
            free(*f);
        }
        free(fields);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_devnull)
        fuzz_setup();
    sl_redact_forget_all(); /* secrets of earlier inputs must not scrub this one */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    /* A roomy error buffer, then a tiny one: truncation must still give a
     * NUL-terminated message. */
    static const size_t caps[] = {1024, 12};
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        char err[1024];
        memset(err, 'X', sizeof(err));
        sl_def *def = NULL;
        int rc = sl_def_load_string(text, FUZZ_NAME, &def, err, caps[k]);
        if (rc == 0) {
            fuzz_check_def(def);
            sl_def_free(def);
        } else {
            fuzz_check_error(rc, def, err, caps[k]);
        }
    }
    free(text);
    return 0;
}
