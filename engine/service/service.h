/*
 * service.h - what makes `sluice run` a service: Prometheus metrics and the
 * HTTP endpoints (/healthz, /readyz, /metrics, /api/status) on
 * def->http.addr.
 *
 * The engine's threads keep their own counters (published once per batch);
 * the service's thread copies them into metric cells twice a second, so
 * serving metrics costs the hot path nothing.
 */
#ifndef SL_SERVICE_H
#define SL_SERVICE_H

#include "definition.h"
#include "engine.h"

typedef struct sl_service sl_service;

/* Registers the metrics and starts the HTTP server (unless def->http.addr
 * is NULL) and the metrics thread. Borrows `e` and `def`. Returns NULL with
 * errstr on failure (e.g. the address is in use). */
sl_service *sl_service_start(sl_engine *e, const sl_def *def, char *errstr, size_t errstr_size);
/* Refreshes the metrics one last time and stops. NULL is a no-op. */
void sl_service_stop(sl_service *s);
/* The JSON document of /api/status (malloc'd). */
char *sl_service_status_json(sl_service *s);

#endif
