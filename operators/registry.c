/* registry.c - the operators, by the name used as the stage key in JSON:
 * the built-in ones, and those registered from outside this folder. */
#include "operator.h"

#include <string.h>

const sl_operator_ops *const sl_operators[] = {&sl_op_filter, &sl_op_map, &sl_op_key_by,
                                               &sl_op_window, NULL};

#define SL__MAX_REGISTERED 16
static const sl_operator_ops *sl__registered[SL__MAX_REGISTERED];
static size_t sl__nregistered;

const sl_operator_ops *sl_operator_find(const char *name)
{
    for (size_t i = 0; name && sl_operators[i]; i++)
        if (strcmp(sl_operators[i]->name, name) == 0)
            return sl_operators[i];
    for (size_t i = 0; name && i < sl__nregistered; i++)
        if (strcmp(sl__registered[i]->name, name) == 0)
            return sl__registered[i];
    return NULL;
}

int sl_operator_register(const sl_operator_ops *ops)
{
    if (!ops || !ops->name || !ops->init || !ops->explain || !ops->destroy ||
        sl_operator_find(ops->name) || sl__nregistered == SL__MAX_REGISTERED)
        return SL_EINVAL;
    sl__registered[sl__nregistered++] = ops;
    return SL_OK;
}

const sl_operator_ops *const *sl_operator_registered(size_t *n)
{
    *n = sl__nregistered;
    return sl__registered;
}
