/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* --sched: how each call's time divides into on-CPU, run-queue and blocked time, and, with
 * --blocked-stacks, the stacks where its longest block began.
 *
 * Run-queue time is the kernel's own: sched_info.run_delay, which it brings up to date whenever
 * the thread gets a CPU, so it is exact at entry and at return, where the thread runs. Blocked
 * time the scheduler hooks account, in the span's clock (bpf_ktime_get_ns): sched_switch stamps a
 * thread that leaves the CPU not runnable, sched_wakeup stamps its wakeup, and the sched_switch
 * that brings it back adds the block. Run-queue time is bounded by the duration less the blocked
 * time: run_delay is in the scheduler's clock, and has counted time the hooks saw as blocked (a
 * 20 ms sleep with 19 ms of each, in an emulated arm64 6.12 guest). On-CPU time is what is left
 * of the duration. Each frame
 * snapshots its thread's totals at entry, so a call's split is the difference at its return,
 * children included. se.sum_exec_runtime would not do for on-CPU time: it lags the running slice
 * by up to a tick. The hooks cost a thread with no call in flight a lookup each. */
#ifndef KRETSPAN_SCHED_BPF_H
#define KRETSPAN_SCHED_BPF_H

#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef BPF_F_USER_STACK
#define BPF_F_USER_STACK (1ULL << 8)
#endif

/* The split of one call: the EVENT_SCHED tail, right after struct event in its record. */
struct sched_tail {
	__u64 on_cpu_ns;
	__u64 runqueue_ns;
	__u64 blocked_ns;
	__u32 voluntary_switches;
	__u32 involuntary_switches;
	__u64 block_ns;        /* the longest block of at least blocked_stack_min_ns; 0: none */
	__u64 block_start_ns;  /* when it began */
	__s32 kernel_stack_id; /* in blocked_stack_traces where it went off the CPU; negative: none */
	__s32 user_stack_id;
};

/* A call's snapshot of its thread's totals at entry, and its longest block so far. */
struct sched_frame {
	__u64 run_delay; /* the task's sched_info.run_delay */
	__u64 blocked_ns;
	__u64 nvcsw;
	__u64 nivcsw;
	__u64 block_ns; /* children's blocks included once they return */
	__u64 block_start_ns;
	__s32 kernel_stack_id;
	__s32 user_stack_id;
};

/* A thread's scheduler state while it has calls in flight. */
struct sched_thread {
	__u64 blocked_ns; /* total while calls were in flight */
	__u64 off_cpu_ns; /* when it left the CPU blocked; 0 while not blocked */
	__u64 woken_ns;   /* when it was woken from its block; 0 while not */
	__s32 off_kernel_stack_id;
	__s32 off_user_stack_id;
	__u32 depth;   /* the frames in flight; the hooks skip threads with none */
	__u32 _pad;
	struct sched_frame frames[MAX_DEPTH];
};

// --sched on any probe: the hooks run and frames take snapshots.
volatile const __u8 sched_enabled = 0;
// The thread state lives in task storage, found from the hooks' task pointers (tp_btf with task
// storage); else in a table by thread id.
volatile const __u8 sched_task_storage = 0;
// --blocked-stacks: capture the stacks where a thread with a call in flight blocks.
volatile const __u8 blocked_stacks = 0;
volatile const __u64 blocked_stack_min_ns = 1000000;

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sched_thread);
} sched_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32); // thread id
	__type(value, struct sched_thread);
} sched_threads SEC(".maps");

// Stack ids stay valid for the run: a new stack whose slot is taken is lost (and counted), never
// written over a stack a record still names (no BPF_F_REUSE_STACKID), and user space deletes none.
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 8192);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 64 * sizeof(__u64));
} blocked_stack_traces SEC(".maps");

const struct sched_tail *unused_sched_tail __attribute__((unused));

// task's state is TASK_RUNNING: switched out, it stays on the run queue.
static __always_inline bool sched_task_running(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state) == 0;
	return BPF_CORE_READ((struct task_struct___state_old *)task, state) == 0;
}

// The hooks' lookup: by task pointer in task storage (btf: a tp_btf argument), else by thread id.
static __always_inline struct sched_thread *sched_thread_of(struct task_struct *task, bool btf)
{
	__u32 tid;

	if (btf && sched_task_storage)
		return bpf_task_storage_get(&sched_tasks, task, 0, 0);
	tid = BPF_CORE_READ(task, pid);
	return bpf_map_lookup_elem(&sched_threads, &tid);
}

// The current thread's state, created at a root entry (create) where there is room.
static __always_inline struct sched_thread *sched_current(__u32 tid, bool create)
{
	static const struct sched_thread empty = {};
	struct sched_thread *thread;

	if (sched_task_storage)
		return bpf_task_storage_get(&sched_tasks, bpf_get_current_task_btf(), 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	thread = bpf_map_lookup_elem(&sched_threads, &tid);
	if (thread || !create)
		return thread;
	if (bpf_map_update_elem(&sched_threads, &tid, &empty, BPF_NOEXIST))
		return NULL;
	return bpf_map_lookup_elem(&sched_threads, &tid);
}

static __always_inline void sched_switch(void *ctx, bool preempt, struct task_struct *prev,
					 struct task_struct *next, bool btf)
{
	struct sched_thread *out = sched_thread_of(prev, btf);
	struct sched_thread *in = sched_thread_of(next, btf);
	struct sched_frame *frame;
	__u64 woken, block = 0;

	if (out && out->depth && !preempt && !sched_task_running(prev)) {
		out->off_cpu_ns = bpf_ktime_get_ns();
		out->woken_ns = 0;
		if (blocked_stacks) {
			// prev is the current task here: the stacks are where it goes off the CPU.
			out->off_kernel_stack_id = bpf_get_stackid(ctx, &blocked_stack_traces, 0);
			out->off_user_stack_id = bpf_get_stackid(ctx, &blocked_stack_traces, BPF_F_USER_STACK);
		}
	}
	if (!in || !in->depth || !in->off_cpu_ns)
		return;
	// A wakeup the hook did not see leaves the whole interval blocked.
	woken = in->woken_ns ? in->woken_ns : bpf_ktime_get_ns();
	block = woken - in->off_cpu_ns;
	in->blocked_ns += block;
	if (blocked_stacks && block >= blocked_stack_min_ns) {
		frame = &in->frames[(in->depth - 1) & (MAX_DEPTH - 1)];
		if (block > frame->block_ns) {
			frame->block_ns = block;
			frame->block_start_ns = in->off_cpu_ns;
			frame->kernel_stack_id = in->off_kernel_stack_id;
			frame->user_stack_id = in->off_user_stack_id;
		}
	}
	in->off_cpu_ns = 0;
	in->woken_ns = 0;
}

static __always_inline void sched_wakeup(struct task_struct *task, bool btf)
{
	struct sched_thread *thread = sched_thread_of(task, btf);

	if (thread && thread->depth && thread->off_cpu_ns && !thread->woken_ns)
		thread->woken_ns = bpf_ktime_get_ns();
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	sched_switch(ctx, preempt, prev, next, true);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup_btf, struct task_struct *task)
{
	sched_wakeup(task, true);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	sched_switch(ctx, preempt, prev, next, false);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(sched_wakeup_raw, struct task_struct *task)
{
	sched_wakeup(task, false);
	return 0;
}

// At a probed call's entry, on the thread at depth (its frame's index): snapshot the totals.
static __always_inline void sched_enter(__u32 tid, __u32 depth)
{
	struct task_struct *task;
	struct sched_thread *thread;
	struct sched_frame *frame;

	if (!sched_enabled)
		return;
	thread = sched_current(tid, true);
	if (!thread)
		return; // the call's record goes without its split
	task = (void *)bpf_get_current_task();
	frame = &thread->frames[depth & (MAX_DEPTH - 1)];
	frame->run_delay = BPF_CORE_READ(task, sched_info.run_delay);
	frame->blocked_ns = thread->blocked_ns;
	frame->nvcsw = BPF_CORE_READ(task, nvcsw);
	frame->nivcsw = BPF_CORE_READ(task, nivcsw);
	frame->block_ns = 0;
	frame->block_start_ns = 0;
	frame->kernel_stack_id = -1;
	frame->user_stack_id = -1;
	thread->off_cpu_ns = 0; // running: a stale interval from a lost hook run must not count
	thread->depth = depth + 1;
}

// At a return to the frame at index (frames above it lost their returns): the call's split in
// tail, when the thread has it, and the frame popped.
static __always_inline bool sched_return(__u32 tid, int index, __u64 duration, struct sched_tail *tail)
{
	struct task_struct *task;
	struct sched_thread *thread;
	struct sched_frame *frame, *parent;
	__u64 off;

	if (!sched_enabled)
		return false;
	thread = sched_current(tid, false);
	if (!thread || index < 0 || index >= thread->depth)
		return false;
	task = (void *)bpf_get_current_task();
	frame = &thread->frames[index & (MAX_DEPTH - 1)];
	tail->blocked_ns = thread->blocked_ns - frame->blocked_ns;
	if (tail->blocked_ns > duration)
		tail->blocked_ns = duration;
	tail->runqueue_ns = BPF_CORE_READ(task, sched_info.run_delay) - frame->run_delay;
	off = duration - tail->blocked_ns;
	if (tail->runqueue_ns > off)
		tail->runqueue_ns = off;
	tail->on_cpu_ns = off - tail->runqueue_ns;
	tail->voluntary_switches = BPF_CORE_READ(task, nvcsw) - frame->nvcsw;
	tail->involuntary_switches = BPF_CORE_READ(task, nivcsw) - frame->nivcsw;
	tail->block_ns = frame->block_ns;
	tail->block_start_ns = frame->block_start_ns;
	tail->kernel_stack_id = frame->kernel_stack_id;
	tail->user_stack_id = frame->user_stack_id;
	if (index > 0) {
		parent = &thread->frames[(index - 1) & (MAX_DEPTH - 1)];
		if (frame->block_ns > parent->block_ns) {
			parent->block_ns = frame->block_ns;
			parent->block_start_ns = frame->block_start_ns;
			parent->kernel_stack_id = frame->kernel_stack_id;
			parent->user_stack_id = frame->user_stack_id;
		}
	}
	thread->depth = index;
	if (index == 0 && !sched_task_storage)
		bpf_map_delete_elem(&sched_threads, &tid);
	return true;
}

// Every call's split in its probe's sums, as every call's duration is in its histogram; and a
// longest block whose stack found no slot, counted rather than shown without it.
static __always_inline void count_sched_split(const struct sched_tail *split, struct probe_counters *count)
{
	count->on_cpu_sum_ns += split->on_cpu_ns;
	count->runqueue_sum_ns += split->runqueue_ns;
	count->blocked_sum_ns += split->blocked_ns;
	if (split->block_ns && (split->kernel_stack_id < 0 || split->user_stack_id == -EEXIST))
		count->counts[COUNTER_BLOCKED_STACK_LOST]++;
}

// A thread that exits inside probed calls: its state goes with it.
static __always_inline void sched_thread_exit(__u32 tid)
{
	if (sched_enabled && !sched_task_storage)
		bpf_map_delete_elem(&sched_threads, &tid);
}

#endif
