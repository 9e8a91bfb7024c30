/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef __TRACE_HELPERS_H
#define __TRACE_HELPERS_H

#include <stdbool.h>

/* Can a tp_btf program attach to tracepoint @name on the running kernel? */
bool tp_btf_exists(const char *name);

#endif /* __TRACE_HELPERS_H */
