/* registry.c - the connectors known by "type" in pipeline definitions,
 * handed to the definition loader and the engine (connector.h). */
#include "registry.h"

#include "connector.h"
#include "kafka.h"

#include <stddef.h>

static const sl_source_ops *const sl__builtin_sources[] = {
    &sl_source_file,
    &sl_source_generator,
    &sl_source_kafka,
    NULL,
};

static const sl_sink_ops *const sl__builtin_sinks[] = {
    &sl_sink_file,
    &sl_sink_null,
    &sl_sink_kafka,
    NULL,
};

void sl_connectors_register_builtin(void)
{
    sl_connectors_register(sl__builtin_sources, sl__builtin_sinks);
}
