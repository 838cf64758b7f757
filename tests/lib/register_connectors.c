/*
 * register_connectors.c - compiled into every test program (an INTERFACE
 * source of sluice_testlib): registers the built-in connectors before
 * main(), as the CLI does first thing, so tests and fuzz targets load
 * definitions naming them.
 */
#include "registry.h"

__attribute__((constructor)) static void sl__test_register_connectors(void)
{
    sl_connectors_register_builtin();
}
