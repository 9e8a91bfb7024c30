// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "trace_helpers.h"

bool tp_btf_exists(const char *name)
{
	char tname[128];
	struct btf *btf;
	bool found;

	/* Every tracepoint has a "btf_trace_<name>" typedef in vmlinux BTF. */
	snprintf(tname, sizeof(tname), "btf_trace_%s", name);
	btf = btf__load_vmlinux_btf();
	if (!btf)
		return false;
	found = btf__find_by_name_kind(btf, tname, BTF_KIND_TYPEDEF) > 0;
	btf__free(btf);
	return found;
}
