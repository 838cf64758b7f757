/* registry.c - the connectors known by "type" in pipeline definitions. */
#include "connector.h"
#include "kafka.h"

#include <string.h>

const sl_source_ops *const sl_sources[] = {
    &sl_source_file,
    &sl_source_generator,
    &sl_source_kafka,
    NULL,
};

const sl_sink_ops *const sl_sinks[] = {
    &sl_sink_file,
    &sl_sink_null,
    &sl_sink_kafka,
    NULL,
};

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
