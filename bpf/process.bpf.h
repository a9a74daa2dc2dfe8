/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Exec records: what a process is, sent when it executes a program, so that its spans get their
 * resource even when it has exited before user space reads them. Included by kretspan.bpf.c after
 * the filters it reuses. */
#ifndef KRETSPAN_PROCESS_BPF_H
#define KRETSPAN_PROCESS_BPF_H

#define EXEC_FILENAME_MAX 256
#define EXEC_NAME_MAX 64
/* Bounds the environment's bytes read (one less, for the verifier's mask): where OTEL_SERVICE_NAME
 * is looked for. */
#define EXEC_ENVIRON_MAX 4096

/* One exec: a fixed part, then environ_len bytes of the environment (the record is cut there).
 * Go decodes it by the offsets of bpf2go's copy (the value of exec_scratch). */
struct exec_record {
	__u64 start_boottime_ns; /* what /proc/PID/stat's starttime counts, in nanoseconds */
	__u64 cgroup_id;         /* the cgroup v2 directory's inode number */
	__u32 pid;               /* tgid */
	__u32 parent_pid;        /* real parent's tgid */
	__u32 uid;               /* real uid */
	__u32 environ_len;
	__u8 comm[TASK_COMM_LEN];
	__u8 filename[EXEC_FILENAME_MAX];      /* as passed to execve: may be relative */
	__u8 executable_name[EXEC_NAME_MAX];   /* the executed file's own name (symbolic links resolved) */
	__u8 environ[EXEC_ENVIRON_MAX];
};

/* Layout of the sched:sched_process_exec record (see its tracefs format file). */
struct sched_process_exec_ctx {
	__u64 common;
	__u32 filename_loc; /* __data_loc: offset in the low 16 bits */
	int pid;
	int old_pid;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18); /* set by Go (execRingSize) */
} exec_records SEC(".maps");

/* Exec records the full ring lost: no probe's count, so not in counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} exec_records_lost SEC(".maps");

/* The record is built here: it is too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_record);
} exec_scratch SEC(".maps");

/* Runs in the new program's context: its mm, comm and environment are the new ones. Only
 * processes the filters keep are recorded, as their calls are the only ones traced. */
SEC("tp/sched/sched_process_exec")
int process_exec(struct sched_process_exec_ctx *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct mm_struct *mm;
	struct exec_record *record;
	__u64 *lost;
	const unsigned char *name;
	unsigned long env_start, env_end;
	__u32 zero = 0, len;

	if (!task_accepted(pid_tgid, current_task_btf()))
		return 0;
	record = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!record)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	record->start_boottime_ns = BPF_CORE_READ(task, start_boottime);
	record->cgroup_id = bpf_get_current_cgroup_id();
	record->pid = pid_tgid >> 32;
	record->parent_pid = BPF_CORE_READ(task, real_parent, tgid);
	record->uid = BPF_CORE_READ(task, real_cred, uid.val);
	bpf_get_current_comm(record->comm, sizeof(record->comm));
	bpf_probe_read_kernel_str(record->filename, sizeof(record->filename),
				  (void *)ctx + (ctx->filename_loc & 0xFFFF));
	mm = BPF_CORE_READ(task, mm);
	name = BPF_CORE_READ(mm, exe_file, f_path.dentry, d_name.name);
	if (!name || bpf_probe_read_kernel_str(record->executable_name, sizeof(record->executable_name), name) < 0)
		record->executable_name[0] = 0;

	env_start = BPF_CORE_READ(mm, env_start);
	env_end = BPF_CORE_READ(mm, env_end);
	len = env_end > env_start ? env_end - env_start : 0;
	if (len > EXEC_ENVIRON_MAX - 1)
		len = EXEC_ENVIRON_MAX - 1;
	/* The mask, which the compiler would drop as redundant, shows the verifier the bound. */
	barrier_var(len);
	len &= EXEC_ENVIRON_MAX - 1;
	if (bpf_probe_read_user(record->environ, len, (void *)env_start) < 0)
		len = 0;
	record->environ_len = len;

	/* Nobody waits on this ring: the span reader drains it before the spans that follow. */
	if (bpf_ringbuf_output(&exec_records, record, offsetof(struct exec_record, environ) + len, BPF_RB_NO_WAKEUP)) {
		lost = bpf_map_lookup_elem(&exec_records_lost, &zero);
		if (lost)
			(*lost)++;
	}
	return 0;
}

#endif
