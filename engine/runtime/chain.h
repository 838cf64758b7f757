/*
 * chain.h - a task's operator chain: one instance of each stage the planner
 * runs on the workers (sl_def_runtime_stage: the window and what follows
 * it), driven in order through the operator vtables (operator.h). The
 * worker talks to the chain only; it knows no operator by name.
 *
 * Output: the rows of the last stage's result batches, one call each of
 * emitter->result (update = the row's offset, 1 for a late update of a
 * fired window); late events of any stage through emitter->late.
 *
 * In the task snapshot (task_snapshot.h) each stage that keeps state (has
 * snapshot) has a section, in chain order, tagged with its operator name.
 *
 * @locality: one chain per task, used by one worker thread at a time.
 */
#ifndef SL_CHAIN_H
#define SL_CHAIN_H

#include "operator.h"
#include "task_snapshot.h"
#include "window.h"

typedef struct sl_chain sl_chain;

/* The chain of `def`'s runtime stages for a task, or NULL in *out when it
 * has none (events are passed through). Returns 0 or an error. */
int sl_chain_open(const sl_def *def, const sl_op_env *env, sl_chain **out, char *errstr,
                  size_t errstr_size);
void sl_chain_free(sl_chain *c);

void sl_chain_process(sl_chain *c, const sl_batch *in, const sl_emitter *em);
/* The task's clock advanced (idle timeout, its inputs' watermarks). */
void sl_chain_watermark(sl_chain *c, int64_t watermark, const sl_emitter *em);
/* End of input. */
void sl_chain_finish(sl_chain *c, const sl_emitter *em);

/* Writes the chain's operator sections into a task snapshot being built
 * (task_snapshot.h: the count, then each stateful stage's). */
int sl_chain_snapshot(const sl_chain *c, sl_buf *out);
/* Restores every stateful stage from its section (in chain order, matched
 * by operator name); SL_ECORRUPT when they do not match the stages. */
int sl_chain_restore(sl_chain *c, const sl_task_section *sections, size_t n, char *errstr,
                     size_t errstr_size);

/* Sums of the stages' figures; watermark and max_ts are those of the
 * first stage with a clock (INT64_MIN without one; has_clock then 0). */
void sl_chain_stats(const sl_chain *c, sl_op_stats *out);
void sl_chain_refuse_new_keys(sl_chain *c, int on);

#endif
