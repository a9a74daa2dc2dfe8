//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// kretspan: time entry→return of chosen functions and emit one ring-buffer record per completed call.
//
// Every attach mechanism (kprobe, kprobe.multi, fentry, uprobe, syscall tracepoint) is a thin program
// that finds its probe id and return value, then calls on_entry/on_return. Calls are paired per thread
// on a bounded stack, so nested probed calls become parent and child spans without user-space state.

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "go_abi.h"
#include "kretspan.h"

char __license[] SEC("license") = "Dual BSD/GPL";

// Set per loaded instance: the probe this program copy serves (0: the program finds it at run time).
volatile const __u32 instance_probe_id = 0;
// fexit: index of the return value in the context (= the traced function's argument count).
volatile const __u32 fexit_ret_index = 0;
volatile const __u8 trace_kernel_threads = 0;
// kretspan's own process: its exports would otherwise trace themselves, a feedback loop.
volatile const __u32 self_tgid = 0;
volatile const __u8 filter_pids = 0;
volatile const __u8 filter_comm = 0;
volatile const char comm_filter[TASK_COMM_LEN] = {};
// The number of cgroups in cgroup_filter (0: no cgroup filter).
volatile const __u32 filter_cgroups = 0;
// Parent root calls under the application span bound to their thread (marker or traces_ctx_v1).
volatile const __u8 correlate = 0;
// Wake the reader only once this many bytes wait in the ring; it also polls on a deadline.
volatile const __u64 wakeup_bytes = 1;
// Keep call stacks in task storage (kernels 5.11+): found without hashing, and freed with the
// thread. Older kernels use the stacks hash map, bounded by --max-inflight.
volatile const __u8 use_task_storage = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call_stack);
} task_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32); // thread id
	__type(value, struct call_stack);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_config);
} probe_configs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); // tgid
	__type(value, __u8);
} pid_filter SEC(".maps");

// The cgroups of --cgroup and --container. A cgroup array and bpf_current_task_under_cgroup
// rather than cgroup ids: kprobe, tracepoint and fentry programs may all call the helper (there
// since 4.9), so every kernel of the matrix (5.10, 6.1, 6.12) has it, and one call answers for
// the cgroup and all its descendants through the kernel's ancestor table. Matching ids with
// bpf_get_current_ancestor_cgroup_id would take a call per distinct level of the cgroups named.
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, MAX_CGROUPS);
	__type(key, __u32);
	__type(value, __u32); // a cgroup v2 directory's file descriptor, from user space
} cgroup_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32); // syscall number
	__type(value, __u32); // probe id, 0 when not probed
} syscall_probes SEC(".maps");

// Shared with OBI and the OTel eBPF profiler; user space pins it at $BPFFS/otel/traces_ctx_v1.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, __u64); // pid_tgid
	__type(value, struct trace_context);
} traces_ctx_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); // threads that exit while bound age out
	__uint(max_entries, 1 << 14);
	__type(key, __u64); // pid_tgid
	__type(value, struct binding);
} bindings SEC(".maps");

#include "sched.bpf.h"
#include "args.bpf.h"

// Force BTF for the types Go generates.
const struct event *unused_event __attribute__((unused));
const struct probe_counters *unused_counters __attribute__((unused));
const struct probe_config *unused_config __attribute__((unused));
const struct binding *unused_binding __attribute__((unused));
const enum counter *unused_counter __attribute__((unused));
const enum event_flag *unused_event_flag __attribute__((unused));
const enum limit *unused_limit __attribute__((unused));
const struct arg_value *unused_arg_value __attribute__((unused));
const struct arg_values_header *unused_arg_values_header __attribute__((unused));
const enum arg_source *unused_arg_source __attribute__((unused));
const enum arg_read *unused_arg_read __attribute__((unused));
const enum arg_status *unused_arg_status __attribute__((unused));
const enum arg_file_kind *unused_arg_file_kind __attribute__((unused));

static __always_inline bool comm_matches(void)
{
	char comm[TASK_COMM_LEN];

	bpf_get_current_comm(comm, sizeof(comm));
#pragma unroll
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != comm_filter[i])
			return false;
		if (comm[i] == 0)
			break;
	}
	return true;
}

// Whether the current task is in one of the filter's cgroups, or below one. filter_cgroups is a
// load-time constant: the verifier drops the iterations past it.
static __always_inline bool cgroup_matches(void)
{
#pragma unroll
	for (__u32 i = 0; i < MAX_CGROUPS; i++) {
		if (i >= filter_cgroups)
			break;
		if (bpf_current_task_under_cgroup(&cgroup_filter, i) == 1)
			return true;
	}
	return false;
}

// The current task as a BTF pointer, whose fields load without helper calls, where call stacks
// live in task storage (every kernel with task storage has such pointers); NULL elsewhere, where
// the hash table and probe reads serve instead.
static __always_inline struct task_struct *current_task_btf(void)
{
	return use_task_storage ? bpf_get_current_task_btf() : NULL;
}

static __always_inline bool task_accepted(__u64 pid_tgid, struct task_struct *task)
{
	if ((__u32)(pid_tgid >> 32) == self_tgid)
		return false;
	if (!trace_kernel_threads) {
		unsigned int flags = task ? task->flags
					  : BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), flags);

		if (flags & PF_KTHREAD)
			return false;
	}
	if (filter_pids) {
		__u32 tgid = pid_tgid >> 32;

		if (!bpf_map_lookup_elem(&pid_filter, &tgid))
			return false;
	}
	if (filter_comm && !comm_matches())
		return false;
	if (filter_cgroups && !cgroup_matches())
		return false;
	return true;
}

// The current thread's call stack, or NULL when it has none.
static __always_inline struct call_stack *find_stack(__u32 tid)
{
	struct task_struct *task = current_task_btf();

	if (task)
		return bpf_task_storage_get(&task_stacks, task, 0, 0);
	return bpf_map_lookup_elem(&stacks, &tid);
}

// A new thread's stack in the hash table: a global, since one on the BPF stack would be zeroed
// on every entry, whichever storage is in use.
const struct call_stack empty_stack = {};

// The current thread's call stack, created empty if needed; NULL when the table is full.
static __always_inline struct call_stack *find_or_create_stack(__u32 tid, struct task_struct *task)
{
	struct call_stack *stack;

	if (task)
		return bpf_task_storage_get(&task_stacks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	stack = bpf_map_lookup_elem(&stacks, &tid);
	if (stack)
		return stack;
	if (bpf_map_update_elem(&stacks, &tid, &empty_stack, BPF_NOEXIST))
		return NULL;
	return bpf_map_lookup_elem(&stacks, &tid);
}

// Called when the thread has no call in flight any more: the hash map keeps its size bounded by
// threads with calls in flight; task storage stays with the thread until it exits.
static __always_inline void release_stack(__u32 tid)
{
	if (!use_task_storage)
		bpf_map_delete_elem(&stacks, &tid);
}

static __always_inline __u64 random_id(void)
{
	__u64 id = ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32();

	return id ? id : 1; // an all-zero ID is invalid in OpenTelemetry
}

// IDs are drawn only when a span is emitted (its own, its parent's, its trace's), so that calls
// filtered or sampled out do not pay for them; 0 means not drawn yet.
static __always_inline __u64 frame_span_id(struct frame *frame)
{
	if (!frame->span_id)
		frame->span_id = random_id();
	return frame->span_id;
}

// start_nest resets the stack for a root call. Its trace id is drawn, or the application's span
// looked up, only when the nest's first span is emitted: calls filtered out never pay for either.
static __always_inline void start_nest(struct call_stack *stack, struct probe_config *config)
{
	__u64 *trace_id = (__u64 *)stack->trace_id;

	stack->sampled_out = !config->sample_all && bpf_get_prandom_u32() >= config->sample_keep_below;
	stack->context_pending = correlate;
	trace_id[0] = 0;
	trace_id[1] = 0;
	stack->remote_parent_span_id = 0;
	stack->bound_wall_ns = 0;
}

// join_application_trace makes the nest's root call a child of the application span bound to this
// thread, by the marker or by another tool through traces_ctx_v1; the application's sampling
// decision replaces kretspan's. A kernel nest runs inside one system call, where the application
// cannot rebind its thread, so looking the span up late finds the one bound at root entry.
static __always_inline void join_application_trace(struct call_stack *stack, __u64 pid_tgid)
{
	struct binding *binding = bpf_map_lookup_elem(&bindings, &pid_tgid);
	struct trace_context *context;

	stack->context_pending = 0;
	if (binding) {
		context = &binding->context;
		stack->sampled_out = !binding->sampled;
		stack->bound_wall_ns = binding->bound_wall_ns;
	} else {
		context = bpf_map_lookup_elem(&traces_ctx_v1, &pid_tgid);
		if (!context)
			return;
		stack->sampled_out = 0; // tools write only the contexts of sampled spans
	}
	__builtin_memcpy(stack->trace_id, context->trace_id, sizeof(stack->trace_id));
	stack->remote_parent_span_id = __builtin_bswap64(*(__u64 *)context->span_id);
}

// ctx and context are where the arguments are, for a probe that captures them.
static __always_inline int on_entry(__u32 probe_id, void *ctx, enum arg_context context)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct probe_counters *count;
	struct probe_config *config;
	struct task_struct *task;
	struct call_stack *stack;
	struct frame *frame;
	__u32 depth;

	count = bpf_map_lookup_elem(&counters, &probe_id);
	config = bpf_map_lookup_elem(&probe_configs, &probe_id);
	if (!count || !config || !probe_id)
		return 0;
	count->counts[COUNTER_ENTERED]++;

	task = current_task_btf();
	if (!task_accepted(pid_tgid, task)) {
		count->counts[COUNTER_FILTERED_ENTRY]++;
		return 0;
	}

	stack = find_or_create_stack(tid, task);
	if (!stack) {
		count->counts[COUNTER_DROP_INFLIGHT_FULL]++;
		return 0;
	}

	depth = stack->depth;
	if (depth >= MAX_DEPTH) {
		stack->overflow++;
		count->counts[COUNTER_DROP_DEPTH]++;
		return 0;
	}

	frame = &stack->frames[depth & (MAX_DEPTH - 1)];
	if (depth == 0)
		start_nest(stack, config);
	frame->probe_id = probe_id;
	frame->span_id = 0;
	stack->depth = depth + 1;
	sched_enter(tid, depth);
	// A nest sampled out for good emits none of its calls (only an application's span looked up
	// later may overturn the decision): their arguments would go unread.
	if (config->args && (!stack->sampled_out || stack->context_pending))
		args_capture(ctx, context, probe_id, tid, depth);
	frame->start_ns = bpf_ktime_get_ns(); // last, so kretspan's own work is outside the span
	return 0;
}

// Frame i of the thread's stack lost its return: count it, and free the arguments kept for it,
// which nothing else would (a hash-table stack is gone once its root returns).
static __always_inline void drop_frame(__u32 tid, struct call_stack *stack, int i)
{
	__u32 probe_id = stack->frames[i & (MAX_DEPTH - 1)].probe_id;
	struct probe_counters *count = bpf_map_lookup_elem(&counters, &probe_id);

	if (count)
		count->counts[COUNTER_MISSED_RETURN]++;
	args_release(tid, i);
}

static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 high = v >> 32;

	return high ? log2_u32(high) + 32 : log2_u32(v);
}

static __always_inline bool is_failure(__s64 ret, const struct probe_config *config)
{
	if (ret >= 0 || ret < -4095)
		return false;
	for (int i = 0; i < MAX_NOT_FAILURES; i++) {
		__u16 excused = config->not_failures[i];
		if (excused == 0)
			break;
		if (ret == -(__s64)excused)
			return false;
	}
	return true;
}

static __always_inline void emit(struct call_stack *stack, int index, __u64 end_ns, __s64 ret,
				 __u64 pid_tgid, struct probe_counters *count, struct sched_tail *split, bool args)
{
	struct frame *frame = &stack->frames[index & (MAX_DEPTH - 1)];
	__u64 *trace_id = (__u64 *)stack->trace_id;
	struct event *event;
	__u64 flags;

	// Each reservation is checked and its tails written in its own branch: verifiers before 6.x
	// tie neither a later test of split or args nor a second null check to the reservation. The
	// sched tail comes first, then the args tail.
	if (split && args) {
		event = bpf_ringbuf_reserve(&events, sizeof(*event) + sizeof(*split) + args_value_size, 0);
		if (!event)
			goto full;
		__builtin_memcpy(event + 1, split, sizeof(*split));
		args_fill_tail((void *)(event + 1) + sizeof(*split), (__u32)pid_tgid, index, frame->probe_id);
	} else if (split) {
		event = bpf_ringbuf_reserve(&events, sizeof(*event) + sizeof(*split), 0);
		if (!event)
			goto full;
		__builtin_memcpy(event + 1, split, sizeof(*split));
	} else if (args) {
		event = bpf_ringbuf_reserve(&events, sizeof(*event) + args_value_size, 0);
		if (!event)
			goto full;
		args_fill_tail((void *)(event + 1), (__u32)pid_tgid, index, frame->probe_id);
	} else {
		event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
		if (!event)
			goto full;
	}
	if (!trace_id[0] && !trace_id[1]) {
		trace_id[0] = random_id();
		trace_id[1] = random_id();
	}
	__builtin_memcpy(event->trace_id, stack->trace_id, sizeof(event->trace_id));
	event->span_id = frame_span_id(frame);
	if (index > 0) {
		event->parent_span_id = frame_span_id(&stack->frames[(index - 1) & (MAX_DEPTH - 1)]);
		event->flags = 0;
		event->bound_wall_ns = 0;
	} else {
		event->parent_span_id = stack->remote_parent_span_id;
		event->flags = stack->remote_parent_span_id ? EVENT_REMOTE_PARENT : 0;
		event->bound_wall_ns = stack->bound_wall_ns;
	}
	event->_pad = 0;
	event->start_ns = frame->start_ns;
	event->end_ns = end_ns;
	event->ret = ret;
	event->pid = pid_tgid >> 32;
	event->tid = (__u32)pid_tgid;
	event->probe_id = frame->probe_id;
	event->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	if (split)
		event->flags |= EVENT_SCHED;
	if (args)
		event->flags |= EVENT_ARGS;

	flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
										 : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(event, flags);
	count->counts[COUNTER_SUBMITTED]++;
	return;
full:
	count->counts[COUNTER_DROP_RINGBUF_FULL]++;
}

static __always_inline int on_return(__u32 probe_id, __u64 raw_ret)
{
	__u64 end_ns = bpf_ktime_get_ns();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct probe_counters *count;
	struct probe_config *config;
	struct call_stack *stack;
	struct sched_tail split;
	bool has_split;
	int index = -1;
	__u64 duration;
	__u32 depth;
	__s64 ret;

	stack = find_stack(tid);
	if (!stack || (!stack->depth && !stack->overflow))
		return 0; // filtered at entry, or entered before kretspan attached
	count = bpf_map_lookup_elem(&counters, &probe_id);
	config = bpf_map_lookup_elem(&probe_configs, &probe_id);
	if (!count || !config || !probe_id)
		return 0;

	if (stack->overflow) {
		stack->overflow--; // counted as COUNTER_DROP_DEPTH at entry
		return 0;
	}

	// The innermost frame of this probe is ours; frames above it lost their returns. Nearly always
	// it is the top frame, checked first to spare the scan.
	depth = stack->depth;
	if (depth > 0 && depth <= MAX_DEPTH && stack->frames[(depth - 1) & (MAX_DEPTH - 1)].probe_id == probe_id) {
		index = depth - 1;
	} else {
#pragma unroll
		for (int i = MAX_DEPTH - 1; i >= 0; i--) {
			if (i < depth && stack->frames[i].probe_id == probe_id) {
				index = i;
				break;
			}
		}
		if (index < 0) {
			count->counts[COUNTER_ORPHAN_RETURN]++;
			return 0;
		}
#pragma unroll
		for (int i = MAX_DEPTH - 1; i > 0; i--) {
			if (i > index && i < depth)
				drop_frame(tid, stack, i);
		}
	}
	// Opaque to the compiler, which would otherwise drop the masks below as redundant, leaving an
	// index whose bounds the verifier cannot see.
	barrier_var(index);
	stack->depth = index;

	ret = config->ret_int32 ? (__s64)(__s32)raw_ret : (__s64)raw_ret;
	duration = end_ns - stack->frames[index & (MAX_DEPTH - 1)].start_ns;
	// Every call's latency, so that it stays visible while spans are filtered or sampled out.
	count->latency_log2[log2_u64(duration) & (LATENCY_BUCKETS - 1)]++;
	count->latency_sum_ns += duration;
	has_split = sched_return(tid, index, duration, &split) && config->sched;
	if (has_split)
		count_sched_split(&split, count);
	if (duration < config->min_duration_ns) {
		count->counts[COUNTER_FILTERED_DURATION]++;
	} else if (config->errors_only && !is_failure(ret, config)) {
		count->counts[COUNTER_FILTERED_ERRORS]++;
	} else {
		if (stack->context_pending)
			join_application_trace(stack, pid_tgid);
		if (stack->sampled_out)
			count->counts[COUNTER_SAMPLED_OUT]++;
		else
			emit(stack, index, end_ns, ret, pid_tgid, count, has_split ? &split : NULL, config->args);
	}
	if (config->args)
		args_release(tid, index);

	if (index == 0)
		release_stack(tid);
	return 0;
}

static __always_inline __u32 syscall_probe_id(int nr)
{
	__u32 key = nr;
	__u32 *id = bpf_map_lookup_elem(&syscall_probes, &key);

	return id ? *id : 0;
}

SEC("kprobe")
int kprobe_entry(struct pt_regs *ctx)
{
	return on_entry(instance_probe_id, ctx, ARG_CONTEXT_REGS);
}

SEC("kretprobe")
int kprobe_return(struct pt_regs *ctx)
{
	return on_return(instance_probe_id, PT_REGS_RC(ctx));
}

SEC("kprobe.multi")
int kprobe_multi_entry(struct pt_regs *ctx)
{
	return on_entry(bpf_get_attach_cookie(ctx), ctx, ARG_CONTEXT_REGS);
}

SEC("kretprobe.multi")
int kprobe_multi_return(struct pt_regs *ctx)
{
	return on_return(bpf_get_attach_cookie(ctx), PT_REGS_RC(ctx));
}

SEC("fentry")
int fentry_entry(__u64 *ctx)
{
	return on_entry(instance_probe_id, ctx, ARG_CONTEXT_FENTRY);
}

// fexit's context holds the arguments, then the return value. The verifier allows only constant
// context offsets, so each case loads through inline assembly with its own immediate offset:
// plain C would let the compiler fold the cases into one load at a computed offset, which the
// verifier rejects. fexit_ret_index is a load-time constant: all cases but one are dead code.
#define CTX_SLOT(ctx, n) ({                                                        \
	__u64 value;                                                               \
	asm volatile("%0 = *(u64 *)(%1 + %2)" : "=r"(value) : "r"(ctx), "i"((n) * 8)); \
	value;                                                                     \
})

SEC("fexit")
int fexit_return(__u64 *ctx)
{
	__u64 ret;

	switch (fexit_ret_index) {
	case 0: ret = CTX_SLOT(ctx, 0); break;
	case 1: ret = CTX_SLOT(ctx, 1); break;
	case 2: ret = CTX_SLOT(ctx, 2); break;
	case 3: ret = CTX_SLOT(ctx, 3); break;
	case 4: ret = CTX_SLOT(ctx, 4); break;
	case 5: ret = CTX_SLOT(ctx, 5); break;
	case 6: ret = CTX_SLOT(ctx, 6); break;
	case 7: ret = CTX_SLOT(ctx, 7); break;
	case 8: ret = CTX_SLOT(ctx, 8); break;
	case 9: ret = CTX_SLOT(ctx, 9); break;
	case 10: ret = CTX_SLOT(ctx, 10); break;
	case 11: ret = CTX_SLOT(ctx, 11); break;
	default: ret = CTX_SLOT(ctx, 12); break;
	}
	return on_return(instance_probe_id, ret);
}

SEC("uprobe")
int uprobe_entry(struct pt_regs *ctx)
{
	return on_entry(instance_probe_id, ctx, ARG_CONTEXT_REGS);
}

SEC("uretprobe")
int uprobe_return(struct pt_regs *ctx)
{
	return on_return(instance_probe_id, PT_REGS_RC(ctx));
}

// Go binaries: a uprobe on each RET instruction of the function stands in for the uretprobe,
// which would corrupt goroutine stacks that the Go runtime moves.
SEC("uprobe")
int uprobe_ret_instruction(struct pt_regs *ctx)
{
	return on_return(instance_probe_id, PT_REGS_RC(ctx));
}

SEC("tracepoint")
int syscall_entry(struct syscall_enter_ctx *ctx)
{
	return on_entry(syscall_probe_id(ctx->nr), ctx, ARG_CONTEXT_SYSCALL);
}

SEC("tracepoint")
int syscall_return(struct syscall_exit_ctx *ctx)
{
	return on_return(syscall_probe_id(ctx->nr), ctx->ret);
}

// A thread that exits inside probed calls (killed in a blocking syscall, exit() inside a probed
// function) never returns from them: drop their frames and free its stack, which would otherwise
// stay until the table fills or a new thread reuses the id and inherits stale parents.
SEC("tracepoint/sched/sched_process_exit")
int thread_exit(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call_stack *stack = find_stack(tid);

	if (!stack)
		return 0;
#pragma unroll
	for (int i = 0; i < MAX_DEPTH; i++) {
		if (i < stack->depth)
			drop_frame(tid, stack, i);
	}
	stack->depth = 0;
	release_stack(tid);
	sched_thread_exit(tid);
	return 0;
}

// The marker: kretspan's application libraries call kretspan_marker(trace_hi, trace_lo, span_id,
// wall_ns, flags) to bind a span to the calling thread (or release it). Go passes the arguments in
// its register ABI (go_abi.h), C in the platform's C ABI (bpf_tracing.h's PT_REGS_PARMn).
static __always_inline int on_marker(__u64 trace_hi, __u64 trace_lo, __u64 span_id, __u64 wall_ns, __u64 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct binding binding = {};

	if (flags & BIND_RELEASE) {
		bpf_map_delete_elem(&bindings, &pid_tgid);
		bpf_map_delete_elem(&traces_ctx_v1, &pid_tgid);
		return 0;
	}
	*(__u64 *)&binding.context.trace_id[0] = __builtin_bswap64(trace_hi);
	*(__u64 *)&binding.context.trace_id[8] = __builtin_bswap64(trace_lo);
	*(__u64 *)binding.context.span_id = __builtin_bswap64(span_id);
	binding.bound_wall_ns = wall_ns;
	binding.sampled = flags & BIND_SAMPLED;
	bpf_map_update_elem(&bindings, &pid_tgid, &binding, BPF_ANY);
	if (binding.sampled)
		bpf_map_update_elem(&traces_ctx_v1, &pid_tgid, &binding.context, BPF_ANY);
	else
		bpf_map_delete_elem(&traces_ctx_v1, &pid_tgid);
	return 0;
}

SEC("uprobe")
int marker_go(struct pt_regs *ctx)
{
	return on_marker(GO_PARM1(ctx), GO_PARM2(ctx), GO_PARM3(ctx), GO_PARM4(ctx), GO_PARM5(ctx));
}

SEC("uprobe")
int marker_c(struct pt_regs *ctx)
{
	return on_marker(PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx), PT_REGS_PARM4(ctx), PT_REGS_PARM5(ctx));
}

#include "process.bpf.h"
