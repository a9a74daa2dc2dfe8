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
	EVENT_SCHED = 2,         /* a struct sched_tail (sched.bpf.h) follows the event */
	EVENT_ARGS = 4,          /* then the call's arguments: struct arg_values_header */
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
	__u8 sched;              /* --sched: records carry the scheduler split */
	__u8 args;               /* has an arg_plan: capture arguments at entry */
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
	COUNTER_BLOCKED_STACK_LOST, /* a call's longest block whose stack found no slot in the stack map */
	COUNTER_MAX,
};

/* Per-probe, per-CPU counters; every call that returned is in the latency histogram, filtered or not. */
struct probe_counters {
	__u64 counts[COUNTER_MAX];
	__u64 latency_sum_ns; /* of the calls in latency_log2 */
	/* --sched: how the durations of the calls with a split divide */
	__u64 on_cpu_sum_ns;
	__u64 runqueue_sum_ns;
	__u64 blocked_sum_ns;
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

/* Argument capture (args.bpf.h). argspec, which compiles the plans and decodes the values,
 * repeats these limits, enums and layouts; a bpf test checks them against the generated types. */
#define MAX_ARGS 8
#define MAX_ARG_HOPS 4
#define MAX_PATH_DEPTH 32 /* names of a file's path walked up from it: a power of two */

/* Where an argument's value is at entry. */
enum arg_source {
	ARG_SOURCE_PARAMETER = 0,   /* the function's parameter number index (syscall, kprobe, fentry) */
	ARG_SOURCE_REGS_OFFSET = 1, /* a register at byte offset in pt_regs (uprobe) */
	ARG_SOURCE_STACK = 2,       /* a word at offset from the stack pointer in user memory (uprobe) */
};

/* How the final value is read. */
enum arg_read {
	ARG_READ_INTEGER = 0,       /* the value itself, or size bytes at the field */
	ARG_READ_STRING_USER = 1,   /* a NUL-terminated string in user memory */
	ARG_READ_STRING_KERNEL = 2, /* the same in kernel memory */
	ARG_READ_STRING_ANY = 3,    /* kernel memory, else user memory: char * without an __user tag */
	ARG_READ_FD_PATH = 4,       /* the path of the current task's file descriptor */
	ARG_READ_FILE_PATH = 5,     /* the path of a struct file * */
	ARG_READ_PATH_PATH = 6,     /* the path of a struct path * */
	ARG_READ_DENTRY_PATH = 7,   /* the path of a struct dentry * within its file system */
	ARG_READ_GO_STRING = 8,     /* a Go string in user memory: its pointer, then its length (at
				     * length_offset for an argument, in the 8 bytes after it in a field) */
};

/* One argument's compiled read: the source's value v, then v = *(u64 *)(v + hop) for each hop,
 * then, for a field, v + field_offset is where the value is (an integer of size bytes, a string,
 * a struct path); else v is the value (an integer, a string's address, a pointer). */
struct arg_spec {
	__u8 source;      /* enum arg_source */
	__u8 index;       /* ARG_SOURCE_PARAMETER: 0-based parameter number */
	__u8 read;        /* enum arg_read */
	__u8 size;        /* ARG_READ_INTEGER at a field: 1, 2, 4 or 8 bytes */
	__u8 hop_count;
	__u8 field;       /* 1: the value is at v + field_offset */
	__u8 user_memory; /* hops and fields read user memory (uprobes) */
	__u8 _pad;
	__s32 offset;     /* ARG_SOURCE_REGS_OFFSET, ARG_SOURCE_STACK */
	__s32 field_offset;
	__s32 length_offset; /* ARG_READ_GO_STRING argument: where its length is, as offset */
	__s32 hops[MAX_ARG_HOPS];
};

struct arg_plan {
	__u32 count;
	__u32 path_index; /* the one argument that is a file's path; MAX_ARGS: none */
	struct arg_spec args[MAX_ARGS];
};

enum arg_status {
	ARG_STATUS_OK = 0,
	ARG_STATUS_TRUNCATED = 1,   /* the string or path is longer than length */
	ARG_STATUS_READ_FAILED = 2, /* number is the read's negative errno, if any */
};

enum arg_file_kind {
	ARG_FILE_PATH = 0,      /* a path in data */
	ARG_FILE_SOCKET = 1,    /* socket:[number] */
	ARG_FILE_PIPE = 2,      /* pipe:[number] */
	ARG_FILE_ANONYMOUS = 3, /* anon_inode:data */
};

/* One captured argument, followed by its string's bytes (the rest of the stride). */
struct arg_value {
	__u8 status;    /* enum arg_status */
	__u8 file_kind; /* enum arg_file_kind, for paths */
	__u16 length;   /* of the string in the bytes that follow */
	__u32 _pad;
	__u64 number;   /* an integer, a pointer, an inode number */
};

/* The args tail: count values of stride bytes each follow, size bytes in all with this header. */
struct arg_values_header {
	__u16 size;
	__u16 stride;
	__u16 count;
	__u16 _pad;
};

#endif
