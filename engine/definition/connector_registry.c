/*
 * connector_registry.c - the table of connectors by "type" that the
 * definition loader and the engine look names up in. The connectors are
 * implemented in layers above this one, so the table is handed in at
 * start-up (sl_connectors_register) rather than named here.
 */
#include "connector.h"

#include <string.h>

static const sl_source_ops *const sl__no_sources[] = {NULL};
static const sl_sink_ops *const sl__no_sinks[] = {NULL};

const sl_source_ops *const *sl_sources = sl__no_sources;
const sl_sink_ops *const *sl_sinks = sl__no_sinks;

/* Called once at start-up, before any definition is loaded or engine
 * built (the lists are read without locking). The arrays are borrowed and
 * must stay valid for the life of the process. NULL keeps the current list. */
void sl_connectors_register(const sl_source_ops *const *sources, const sl_sink_ops *const *sinks)
{
    if (sources)
        sl_sources = sources;
    if (sinks)
        sl_sinks = sinks;
}

const sl_source_ops *sl_source_find(const char *type)
{
    for (size_t i = 0; type && sl_sources[i]; i++)
        if (strcmp(sl_sources[i]->name, type) == 0)
            return sl_sources[i];
    return NULL;
}

const sl_sink_ops *sl_sink_find(const char *type)
{
    for (size_t i = 0; type && sl_sinks[i]; i++)
        if (strcmp(sl_sinks[i]->name, type) == 0)
            return sl_sinks[i];
    return NULL;
}
