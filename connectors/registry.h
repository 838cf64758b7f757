/*
 * registry.h - the built-in connectors (file, generator, null, Kafka).
 * A program that loads definitions calls sl_connectors_register_builtin()
 * once at start-up, before loading one; the lower layers (definition
 * loader, engine) then find these connectors by their "type".
 */
#ifndef SL_CONNECTORS_REGISTRY_H
#define SL_CONNECTORS_REGISTRY_H

void sl_connectors_register_builtin(void);

#endif
