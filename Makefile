# SPDX-License-Identifier: GPL-2.0
#
# ctxkit: build the patched kernel, the BPF tools and the selftests, and run
# them in QEMU.  Everything generated goes under $(OUTPUT).
#
#   make run     build what is missing, boot, run the demo
#   make check   build what is missing, boot, run every selftest
#   make help    the other targets

OUTPUT ?= $(CURDIR)/.output
# DEBUG=1: the debug kernel (vmlinux-config/debug/) and everything built
# for it go to their own folder, beside the normal lane's; the kernel tree
# and ccache are shared.  (A sub-make finds CTXKIT_DEBUG already set.)
ifeq ($(DEBUG)$(CTXKIT_DEBUG),1)
export KSRC := $(OUTPUT)/linux
export CCACHE_DIR ?= $(OUTPUT)/ccache
export CTXKIT_DEBUG := 1
override OUTPUT := $(OUTPUT)/debug
endif
KSRC_DIR := $(or $(KSRC),$(OUTPUT)/linux)
KBUILD := $(OUTPUT)/kbuild
VMLINUX := $(KBUILD)/vmlinux
# The patched kernel's uapi headers: new syscalls, flags and structs.
UAPI := $(OUTPUT)/uapi/include
UAPI_HEADERS := $(UAPI)/linux/mmcontext.h $(UAPI)/linux/cp_range.h \
	$(UAPI)/linux/sfork.h $(UAPI)/linux/ipc_msg.h
ROOTFS := $(OUTPUT)/rootfs
export OUTPUT

CLANG ?= clang-19
BPFTOOL ?= bpftool
CC := gcc
ARCH := x86

CFLAGS := -g -O2 -Wall -Wextra -Wno-unused-parameter -Werror
INCLUDES := -I$(OUTPUT)/bpf -Ibpf -Itools
LDLIBS := -static -lbpf -lelf -lz -lzstd

# One tool is bpf/NAME.bpf.c + tools/NAME.c + bpf/NAME.h (libbpf-tools).
TOOLS := cowstat ctxtop
# Plain static programs: the demo workload.
DEMOS := ctxdemo stubs
# tools/bench/NAME.c
BENCHES := ctxbench
# tools/bench/NAME.c without BPF: the kernel features against their peers.
SYSCALL_BENCHES := mmbench cpbench sforkbench ipcbench
# tools/NAME.c without BPF: tools for the kernel features' files, and
# ptyrun, which drives ctxtop on a pseudo-terminal in the tests, and
# asuser, which runs the tools as a user without privileges there.
SYSCALL_TOOLS := cpinspect cprestore ptyrun asuser
# The terminal types ctxtop can draw on in the guest: from ncurses-base,
# which Debian marks essential, so deps.sh need not install it.
TERMINFO := l/linux v/vt100 v/vt220 x/xterm x/xterm-256color s/screen \
	s/screen-256color t/tmux t/tmux-256color
# tools/fuzz/NAME.c and tools/stress/NAME.c: run in the guest, against the
# kernel features' system calls.
FUZZERS := ctxfuzz
STRESSERS := ctxstress
# selftests/bpf/prog_tests/NAME.c
BPF_TESTS := cow_copy ctxtop
# selftests/mm/NAME.c: the kernel features themselves, no BPF.
MM_TESTS := mmcontext cp_range sfork ipc_msg
# Tests of the tools themselves, run in the guest as they are.
TOOL_TESTS := $(wildcard selftests/tools/*.sh)

# What goes into the guest: /usr/bin, the BPF selftests, the BPF objects.
GUEST_BINS = $(addprefix $(OUTPUT)/bin/,$(TOOLS) $(DEMOS) $(BENCHES) \
	$(SYSCALL_BENCHES) $(SYSCALL_TOOLS) $(FUZZERS) $(STRESSERS))
GUEST_TESTS = $(addprefix $(OUTPUT)/selftests/bpf/,$(BPF_TESTS))
GUEST_MM_TESTS = $(addprefix $(OUTPUT)/selftests/mm/,$(MM_TESTS))
GUEST_BPF_OBJS = $(patsubst %,$(OUTPUT)/bpf/%.bpf.o,$(TOOLS))

# Helpers every BPF program links (libbpf-tools' names), and ctxtop's hook
# choice, shared by ctxtop, ctxbench and ctxtop's selftest.
HELPERS := $(OUTPUT)/helpers/trace_helpers.o
CTXTOP_HOOKS := $(OUTPUT)/helpers/ctxtop_hooks.o

# Per program NAME (selftests: test_NAME): the skeletons it includes, the
# objects it links beyond $(HELPERS), extra libraries, extra compiler
# flags and other files it needs first.
cowstat_SKELS := cowstat
ctxtop_SKELS := ctxtop
ctxtop_OBJS := $(CTXTOP_HOOKS)
ctxtop_LDLIBS := -lncursesw -ltinfo -lm
ctxbench_SKELS := ctxtop
ctxbench_OBJS := $(CTXTOP_HOOKS)
test_cow_copy_SKELS := cowstat
test_ctxtop_SKELS := ctxtop
test_ctxtop_OBJS := $(CTXTOP_HOOKS)
test_ctxtop_CFLAGS := -isystem $(UAPI)
test_ctxtop_DEPS := $(UAPI_HEADERS)

# What make bench runs in the guest, one shell command line.
BENCH ?= ctxbench $(BENCH_ARGS) && mmbench && cpbench

# make fuzz / make stress: how long, the fuzzer's first seed and options
# (see ctxfuzz.c).
DURATION ?= 60
SEED ?=
FUZZ_ARGS ?=

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(patsubst $(CURDIR)/%,%,$(2))";
endif

.DELETE_ON_ERROR:
.SECONDARY:

.PHONY: all build deps kernel kernel-tree kernel-config kernel-export \
	kernel-check kernel-check-arm64 userspace initramfs run check \
	check-upstream check-boot \
	bench fuzz \
	stress upstream-mm vm clean distclean help

all: build

help:
	@echo 'make run            boot the patched kernel and run the demo'
	@echo 'make check          boot and run every selftest, with the fast'
	@echo '                    part of upstream'"'"'s mm selftests'
	@echo 'make check-upstream all of upstream'"'"'s mm selftests, with and'
	@echo '                    without a ctxkit tracker in each'
	@echo 'make check-boot     boot, power off, no kernel report on the way'
	@echo 'make fuzz           the syscall fuzzer for DURATION=SECS [SEED=N]'
	@echo 'make stress         every feature at once under memory pressure,'
	@echo '                    for DURATION=SECS'
	@echo 'make vm             interactive shell in the guest'
	@echo 'make bench          every benchmark, as ratios (tools/bench);'
	@echo '                    BENCH="mmbench -q" runs just that one'
	@echo 'make deps           install missing Debian packages (root)'
	@echo 'make kernel         unpack, patch, configure and build bzImage'
	@echo 'make kernel-tree    git tree of linux-source-6.12 + kernel/series'
	@echo 'make kernel-export  write that tree'"'"'s commits back to kernel/'
	@echo 'make kernel-check   apply kernel/series to pristine source, checkpatch'
	@echo 'make kernel-check-arm64  build the series for arm64 (cross, build only)'
	@echo 'make clean          remove build output (keeps kernel tree, ccache)'
	@echo 'make distclean      remove all of $(OUTPUT)'
	@echo 'DEBUG=1             any of these on the debug kernel (KASAN,'
	@echo '                    lockdep, DEBUG_VM, kmemleak), in $(OUTPUT)/debug'
	@echo 'V=1 shows full commands'

deps:
	$(Q)tools/build/deps.sh

kernel: deps
	$(Q)kernel/ktree.sh build

kernel-tree: deps
	$(Q)kernel/ktree.sh tree
	@echo "  TREE     $(OUTPUT)/linux (branch ctxkit, base tag pristine)"

kernel-config: deps
	$(Q)kernel/ktree.sh config

kernel-export:
	$(Q)kernel/ktree.sh export

kernel-check: deps
	$(Q)kernel/ktree.sh check

# The series built for arm64 (cross compiler, build only); by hand.
kernel-check-arm64: deps
	$(Q)kernel/ktree.sh arm64

# Everything after the kernel is plain file dependencies on its vmlinux.
build: kernel
	$(Q)$(MAKE) --no-print-directory initramfs

run: build
	$(Q)selftests/vmtest.sh -- /usr/bin/ctxkit-demo

check: build upstream-mm
	$(Q)selftests/run.sh

check-upstream: build upstream-mm
	$(Q)selftests/run.sh -u

check-boot: build
	$(Q)selftests/run.sh -b

fuzz: build
	$(Q)selftests/vmtest.sh -t $$(($(DURATION) * 2 + 600)) -- \
		ctxfuzz -d $(DURATION) $(if $(SEED),-s $(SEED)) $(FUZZ_ARGS)

stress: build
	$(Q)selftests/vmtest.sh -t $$(($(DURATION) * 2 + 600)) -- \
		ctxstress -d $(DURATION)

vm: build
	$(Q)selftests/vmtest.sh -s

bench: build
	$(Q)selftests/vmtest.sh -t 3600 -- sh -c '$(BENCH)'

# ---- BPF: vmlinux.h from the patched kernel's BTF, CO-RE objects, skeletons

$(OUTPUT)/bpf/vmlinux.h: $(VMLINUX)
	$(call msg,BTF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file $< format c >$@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(OUTPUT)/bpf/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) \
		-I$(OUTPUT)/bpf -Ibpf -c $< -o $(@:.o=.tmp.o)
	$(Q)$(BPFTOOL) gen object $@ $(@:.o=.tmp.o)
	$(Q)rm -f $(@:.o=.tmp.o)

$(OUTPUT)/bpf/%.skel.h: $(OUTPUT)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf >$@

# ---- userspace, all static so the busybox guest needs no libc

$(OUTPUT)/helpers/%.o: tools/%.c tools/%.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) -c $< -o $@

$(CTXTOP_HOOKS): $(OUTPUT)/bpf/ctxtop.skel.h tools/trace_helpers.h

# $(call link,NAME): link $< with NAME's objects, the helpers and libbpf
link = $(CC) $(CFLAGS) $($(1)_CFLAGS) $(INCLUDES) $< $($(1)_OBJS) \
	$(HELPERS) -o $@ $(LDLIBS) $($(1)_LDLIBS)

$(addprefix $(OUTPUT)/bin/,$(TOOLS)): $(OUTPUT)/bin/%: tools/%.c $(HELPERS) \
					    $(wildcard bpf/*.h)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(call link,$*)

$(addprefix $(OUTPUT)/bin/,$(BENCHES)): $(OUTPUT)/bin/%: tools/bench/%.c \
		tools/bench/bench.h $(HELPERS) $(wildcard bpf/*.h)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(call link,$*)

$(OUTPUT)/selftests/bpf/%: selftests/bpf/prog_tests/%.c selftests/harness.h \
			   $(HELPERS) $(wildcard bpf/*.h)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(call link,test_$*)

$(addprefix $(OUTPUT)/bin/,$(DEMOS)): $(OUTPUT)/bin/%: tools/demo/%.c \
		$(UAPI_HEADERS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(syscall_prog)

# $(call link_deps,TARGET,NAME): TARGET needs NAME's skeletons and objects
define link_deps
$(1): $(foreach s,$($(2)_SKELS),$(OUTPUT)/bpf/$(s).skel.h) $($(2)_OBJS) \
	$($(2)_DEPS)
endef
$(foreach t,$(TOOLS) $(BENCHES),$(eval $(call link_deps,$(OUTPUT)/bin/$(t),$(t))))
$(foreach t,$(BPF_TESTS),$(eval \
	$(call link_deps,$(OUTPUT)/selftests/bpf/$(t),test_$(t))))

$(UAPI_HEADERS) &: $(VMLINUX)
	$(call msg,HEADERS,$(UAPI))
	$(Q)kernel/ktree.sh headers
	$(Q)touch $(UAPI_HEADERS)

# Programs that call the new syscalls: static, against the uapi headers,
# built from every .c file they depend on.
syscall_prog = $(CC) $(CFLAGS) -isystem $(UAPI) -Itools $(filter %.c,$^) \
	-o $@ -static -pthread

$(GUEST_MM_TESTS): $(OUTPUT)/selftests/mm/%: selftests/mm/%.c \
		   selftests/mm/mm_util.h selftests/harness.h $(UAPI_HEADERS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(syscall_prog)

$(addprefix $(OUTPUT)/bin/,$(SYSCALL_BENCHES)): $(OUTPUT)/bin/%: \
		tools/bench/%.c tools/bench/bench.h tools/bench/uffd.h $(UAPI_HEADERS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(syscall_prog)

$(addprefix $(OUTPUT)/bin/,$(SYSCALL_TOOLS)): $(OUTPUT)/bin/%: tools/%.c \
		$(UAPI_HEADERS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(syscall_prog)

# The checkpoint file reader, for the tools and the tests that read files.
$(OUTPUT)/bin/cpinspect $(OUTPUT)/bin/cprestore \
		$(OUTPUT)/selftests/mm/cp_range: tools/cpfile.c tools/cpfile.h

$(addprefix $(OUTPUT)/bin/,$(FUZZERS)): $(OUTPUT)/bin/%: tools/fuzz/%.c \
		$(wildcard tools/fuzz/*.h) tools/cpfile.c tools/cpfile.h \
		$(UAPI_HEADERS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(syscall_prog)

$(addprefix $(OUTPUT)/bin/,$(STRESSERS)): $(OUTPUT)/bin/%: tools/stress/%.c \
		$(wildcard tools/stress/*.h) tools/cpfile.c tools/cpfile.h \
		$(UAPI_HEADERS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(syscall_prog)

# Upstream's tools/testing/selftests/mm, built static from the unpacked
# tree against the patched uapi headers, each linked with a tracker that
# an environment variable turns on (selftests/upstream/).  Carried into
# the guest over 9p, not packed into the initramfs.
upstream-mm: $(OUTPUT)/upstream-mm/.stamp

$(OUTPUT)/upstream-mm/.stamp: $(wildcard selftests/upstream/*) $(UAPI_HEADERS)
	$(call msg,UPSTREAM,$(OUTPUT)/upstream-mm)
	$(Q)selftests/upstream/build.sh $(KSRC_DIR) $(UAPI) $(@D)
	$(Q)touch $@

$(OUTPUT)/selftests/carry/exit_with: selftests/vm/exit_with.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -static

userspace: $(GUEST_BINS) $(GUEST_TESTS) $(GUEST_MM_TESTS) \
	$(OUTPUT)/selftests/carry/exit_with

# ---- the guest's initramfs: busybox + tools + tests + BPF objects

INITRAMFS_DEPS := $(GUEST_BINS) $(GUEST_TESTS) $(GUEST_MM_TESTS) $(GUEST_BPF_OBJS) \
	tools/demo/demo.sh selftests/run_tests.sh $(TOOL_TESTS) selftests/tools/tap.inc \
	selftests/vm/init selftests/vm/kreport selftests/vm/mkinitramfs.sh $(VMLINUX)

initramfs: userspace $(OUTPUT)/initramfs.cpio
	@:

$(OUTPUT)/initramfs.cpio: $(INITRAMFS_DEPS)
	$(call msg,CPIO,$@)
	$(Q)rm -rf $(ROOTFS)
	$(Q)mkdir -p $(ROOTFS)/usr/bin $(ROOTFS)/usr/lib/ctxkit/bpf \
		$(ROOTFS)/usr/lib/ctxkit/selftests/bpf \
		$(ROOTFS)/usr/lib/ctxkit/selftests/mm
	$(Q)install -m 0755 $(GUEST_BINS) $(ROOTFS)/usr/bin/
	$(Q)install -m 0755 tools/demo/demo.sh $(ROOTFS)/usr/bin/ctxkit-demo
	$(Q)install -m 0644 $(GUEST_BPF_OBJS) $(ROOTFS)/usr/lib/ctxkit/bpf/
	$(Q)install -m 0755 selftests/run_tests.sh $(ROOTFS)/usr/lib/ctxkit/selftests/
	$(Q)install -m 0755 $(GUEST_TESTS) $(ROOTFS)/usr/lib/ctxkit/selftests/bpf/
	$(Q)install -m 0755 $(GUEST_MM_TESTS) $(ROOTFS)/usr/lib/ctxkit/selftests/mm/
	$(Q)install -D -m 0755 -t $(ROOTFS)/usr/lib/ctxkit/selftests/tools \
		$(TOOL_TESTS)
	$(Q)install -m 0644 selftests/tools/tap.inc \
		$(ROOTFS)/usr/lib/ctxkit/selftests/tools/
	$(Q)for t in $(TERMINFO); do \
		f=/lib/terminfo/$$t; [ -f $$f ] || f=/usr/share/terminfo/$$t; \
		install -D -m 0644 $$f $(ROOTFS)/usr/share/terminfo/$$t || exit 1; \
	done
	$(Q)selftests/vm/mkinitramfs.sh $(KBUILD)/usr/gen_init_cpio $(ROOTFS) $@

clean:
	$(call msg,CLEAN,$(OUTPUT) except linux/ kbuild/ ccache/)
	$(Q)rm -rf $(OUTPUT)/bpf $(OUTPUT)/bin $(OUTPUT)/helpers $(OUTPUT)/selftests \
		$(OUTPUT)/uapi \
		$(ROOTFS) $(OUTPUT)/initramfs.cpio $(OUTPUT)/tmp

distclean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)
