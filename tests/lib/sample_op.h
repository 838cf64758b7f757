/*
 * sample_op.h - a toy operator defined only here, under tests/: `sample`
 * keeps every n-th result row of a task and drops the others,
 *   {"sample": {"every": 3}}    rows 3, 6, 9, ... of each task
 * It shows that an operator needs no engine edit: it registers through the
 * public registry (sl_operator_register) and runs after a window, with its
 * own snapshot section (the count of rows seen), so a restore continues the
 * count where the checkpoint left it.
 */
#ifndef SL_TEST_SAMPLE_OP_H
#define SL_TEST_SAMPLE_OP_H

#include "operator.h"

extern const sl_operator_ops sample_op;

/* Registers `sample` (once; later calls do nothing). */
void sample_op_register(void);

#endif
