/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The records shared by the BPF programs and Go (through bpf2go's -type). */
#ifndef KRETSPAN_H
#define KRETSPAN_H

#define TASK_COMM_LEN 16
/* Nesting deeper than this on one thread is counted as dropped. */
#define MAX_DEPTH 8
/* Bounds the syscall-number → probe table; x86-64 has ~460 syscalls. */
#define MAX_SYSCALLS 1024

/* Limits Go reads too (bpf2go's -type makes them Go constants). */
enum limit {
	MAX_CGROUPS = 16, /* --cgroup and --container together: each call checks them in turn */
};

/* One completed call: the ring-buffer record. Explicitly padded so C and Go agree. */
struct event {
	__u8 trace_id[16];
	__u64 span_id;
	__u64 parent_span_id; /* 0 for the root of a nest */
	__u64 start_ns;       /* CLOCK_MONOTONIC, bpf_ktime_get_ns */
	__u64 end_ns;
	__s64 ret;            /* sign-extended for 32-bit return types */
	__u32 pid;            /* tgid */
	__u32 tid;
	__u32 probe_id;
	__u32 cpu;
	__u8 comm[TASK_COMM_LEN];
	/* Root of a nest under an application span: the application's clock when it bound the span
	 * to the thread (0 when the context came from traces_ctx_v1, which carries no time). */
	__u64 bound_wall_ns;
	__u32 flags; /* enum event_flag */
	__u32 _pad;
};

enum event_flag {
	EVENT_REMOTE_PARENT = 1, /* parent_span_id is an application span, not a kernel one */
};

/* The OpenTelemetry eBPF ecosystem's per-thread context (OTEP 4855), map traces_ctx_v1. */
struct trace_context {
	__u8 trace_id[16];
	__u8 span_id[8];
};

#define BIND_SAMPLED 1
#define BIND_RELEASE 2

/* A span an application bound to a thread through the marker function. */
struct binding {
	struct trace_context context;
	__u64 bound_wall_ns;
	__u32 sampled;
	__u32 _pad;
};

/* Errnos a probe counts as outcomes rather than failures (EAGAIN, EINPROGRESS, ...). */
#define MAX_NOT_FAILURES 8

/* Per-probe settings, indexed by probe id. */
struct probe_config {
	__u64 min_duration_ns;
	__u32 sample_keep_below; /* keep a root call when prandom < this */
	__u8 sample_all;         /* 1: no sampling */
	__u8 errors_only;
	__u8 ret_int32;          /* return type is 32 bits: sign-extend */
	__u8 _pad;
	__u16 not_failures[MAX_NOT_FAILURES]; /* positive errnos; 0 ends the list */
};

/* Log2 latency buckets: bucket k counts calls that took [2^k, 2^(k+1)) ns (bucket 0 also 0 ns). */
#define LATENCY_BUCKETS 64

/* Each kernel counter, named once: Go's table (counters.go) gives each its metric outcome and its
 * place in the exit summary's ledger. Every call entered ends in exactly one of them (or is still
 * in flight), but for the orphan returns, which were never entered. */
enum counter {
	COUNTER_ENTERED,
	COUNTER_SUBMITTED,
	COUNTER_FILTERED_ENTRY,    /* kernel thread, --pid, --comm, --cgroup, --container, kretspan itself */
	COUNTER_FILTERED_DURATION, /* --min-duration */
	COUNTER_FILTERED_ERRORS,   /* --errors-only */
	COUNTER_SAMPLED_OUT,
	COUNTER_DROP_INFLIGHT_FULL,
	COUNTER_DROP_DEPTH,
	COUNTER_DROP_RINGBUF_FULL,
	COUNTER_MISSED_RETURN,     /* entry whose return never came: found stale under a later return, or the thread exited */
	COUNTER_ORPHAN_RETURN,     /* return with no entry on this thread's stack (e.g. attached mid-call) */
	COUNTER_LOST_EXEC_RECORD,  /* not a call: an exec record the full ring lost (counted under id 0) */
	COUNTER_MAX,
};

/* Per-probe, per-CPU counters; every call that returned is in the latency histogram, filtered or not. */
struct probe_counters {
	__u64 counts[COUNTER_MAX];
	__u64 latency_sum_ns; /* of the calls in latency_log2 */
	__u64 latency_log2[LATENCY_BUCKETS];
};

struct frame {
	__u64 start_ns;
	__u64 span_id; /* 0 until the span or a child of it is emitted */
	__u32 probe_id;
	__u32 _pad;
};

/* One thread's calls in flight. The trace, its parent and the sampling decision belong to the
 * nest under the root call; they are settled when the first span of the nest is emitted. */
struct call_stack {
	__u8 trace_id[16];           /* all zero until drawn or joined */
	__u64 remote_parent_span_id; /* the application span the root call ran under, or 0 */
	__u64 bound_wall_ns;
	__u32 depth;
	__u32 overflow;        /* calls entered beyond MAX_DEPTH still in flight */
	__u8 sampled_out;      /* the nest's sampling decision */
	__u8 context_pending;  /* the application's span for the nest not looked up yet */
	__u8 _pad[6];
	struct frame frames[MAX_DEPTH];
};

#endif
