/* registry.c - the operators, by the name used as the stage key in JSON. */
#include "operator.h"

#include <string.h>

const sl_operator_ops *const sl_operators[] = {&sl_op_filter, &sl_op_map, &sl_op_key_by,
                                               &sl_op_window, NULL};

const sl_operator_ops *sl_operator_find(const char *name)
{
    for (size_t i = 0; name && sl_operators[i]; i++)
        if (strcmp(sl_operators[i]->name, name) == 0)
            return sl_operators[i];
    return NULL;
}
