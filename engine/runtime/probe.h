/*
 * probe.h - warnings for pipeline mistakes that pass `validate` and then
 * reject or filter everything: a field the definition names that the input
 * does not have (a typo), and a filter comparing mismatched types (a
 * string literal against numbers). Design notes in probe.c.
 *
 * @locality: a probe belongs to one lane (its thread); warnings go to the
 * engine (sl__engine_warning), once per engine and kind.
 */
#ifndef SL_PROBE_H
#define SL_PROBE_H

#include "engine.h"
#include "ingest.h"

/* Events a probe looks at before it judges (and the comparison interval). */
#define SL_PROBE_EVENTS 1000
/* Comparisons are judged on one interval of SL_PROBE_EVENTS per this many
 * events. */
#define SL_PROBE_PERIOD 50000

typedef struct sl_probe sl_probe;

/* A probe for the fields and filter comparisons `ing` (borrowed) decodes.
 * Never fails. */
sl_probe *sl_probe_new(sl_engine *e, const sl_ingest *ing);
void sl_probe_free(sl_probe *p);
/* Takes the event `ing` decoded last (`filtered`: a filter dropped it).
 * Returns how many of the next events the probe does not need to see. */
uint64_t sl_probe_event(sl_probe *p, int filtered);
/* 0 once the probe has nothing more to tell (its owner may free it). */
int sl_probe_active(const sl_probe *p);

#endif
