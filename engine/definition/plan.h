/*
 * plan.h - the planner: turns a definition into the physical plan, the one
 * that `explain` prints and `run` executes (so they cannot disagree):
 *   - where each stage runs: the stateless prefix before the window fused
 *     into the decoder on the source threads, the window and what follows
 *     it per task on the workers (an operator chain);
 *   - the shuffle (repartition through <name>-repartition, and why);
 *   - threads: source lanes, workers, the sink;
 *   - rings: how many, their capacity, what can be in flight;
 *   - an estimate of the window state per key.
 *
 * @locality: pure function of the definition.
 */
#ifndef SL_PLAN_H
#define SL_PLAN_H

#include "definition.h"

typedef struct sl_plan {
    size_t fused;         /* pipeline[0 .. fused-1] run in the decoder */
    size_t nstages;       /* pipeline[fused .. nstages-1] run on the workers */
    int repartition;      /* Kafka input goes through the repartition topic */
    const char *shuffle;  /* why (or why not), static text */
    int lanes;            /* source threads that fill rings */
    int workers;          /* worker threads */
    size_t ring_capacity; /* batches per ring (a power of two) */
    long rings;           /* lanes x workers, + workers to the sink */
    double in_flight;     /* events the rings can hold */
    double in_flight_bytes;
    /* window state estimate (0 without a window) */
    int64_t open;          /* open panes per key */
    const char *open_what; /* "windows", "slices" or "sessions" */
    double state_per_key;  /* bytes */
} sl_plan;

/* The plan of `def`. */
void sl_plan_make(const sl_def *def, sl_plan *plan);

#endif
