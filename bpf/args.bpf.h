/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Argument capture: a probe with arguments has a compiled read plan (struct arg_plan) that these
 * functions follow at entry, with no interpretation in user space. The values wait in arg_frames,
 * keyed by thread and depth, until the call returns, when they become the record's args tail.
 * A probe without arguments captures none; when no probe has any, arg_slots is 0, the verifier
 * drops this code, and the maps are shrunk to one small entry. */
#ifndef KRETSPAN_ARGS_BPF_H
#define KRETSPAN_ARGS_BPF_H

#ifndef EBADF
#define EBADF 9
#endif

#define ARGS_S_IFMT 0170000
#define ARGS_S_IFSOCK 0140000
#define ARGS_S_IFIFO 0010000

/* Set from user space: the layout of a probe's captured values (0 slots: no probe has arguments). */
volatile const __u32 arg_slots = 0;       /* the most arguments any probe captures */
volatile const __u32 arg_stride = 0;      /* bytes per argument: struct arg_value, then its string */
volatile const __u32 arg_string_max = 0;  /* --arg-string-max */
volatile const __u32 args_value_size = 8; /* struct arg_values_header + arg_slots * arg_stride */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32); /* probe id */
	__type(value, struct arg_plan);
} arg_plans SEC(".maps");

/* The values captured at entry, until the return: key (tid << 32) | depth. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u64);
	__uint(value_size, 8); /* args_value_size, set from user space */
} arg_frames SEC(".maps");

/* Where entry builds the values before storing them (the BPF stack has 512 bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(value_size, 8); /* args_value_size */
} arg_scratch SEC(".maps");

#define PATH_BUF 4096 /* a path is assembled within its first half; a name may run past it */
#define PATH_NAME_MAX 256

/* A dentry walk's state: where it is, and how far it got. */
struct path_walk {
	__u64 dentry, mnt, root; /* struct dentry *, struct mount *, the mount's root dentry */
	__u32 depth, pos, complete, _pad;
};

struct path_scratch {
	struct path_walk walk;
	__u64 names[MAX_PATH_DEPTH]; /* const unsigned char * */
	char buf[PATH_BUF];
};

#define ARGS_ONCE(x) (*(volatile typeof(x) *)&(x))

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} path_scratch SEC(".maps");

/* Where a program's context holds the arguments. */
enum arg_context {
	ARG_CONTEXT_SYSCALL, /* a syscalls:sys_enter_* record */
	ARG_CONTEXT_REGS,    /* pt_regs: kprobe, uprobe */
	ARG_CONTEXT_FENTRY,  /* fentry's array of arguments */
};

/* A user function's argument word: on its stack at offset from the stack pointer, or in the
 * register at offset in pt_regs. */
static __always_inline __u64 arg_user_word(void *ctx, __u8 source, __s32 offset)
{
	__u64 value = 0;

	if (source == ARG_SOURCE_STACK) {
		__u64 sp = PT_REGS_SP_CORE((struct pt_regs *)ctx);

		bpf_probe_read_user(&value, sizeof(value), (void *)(sp + offset));
	} else {
		bpf_probe_read_kernel(&value, sizeof(value), (char *)ctx + (offset & 0x3f8));
	}
	return value;
}

static __always_inline __u64 arg_register(void *ctx, enum arg_context context, const struct arg_spec *spec)
{
	__u64 value = 0;

	if (spec->source != ARG_SOURCE_PARAMETER)
		return arg_user_word(ctx, spec->source, spec->offset);
	switch (context) {
	case ARG_CONTEXT_SYSCALL: {
		struct syscall_enter_ctx *sys = ctx;

		/* Read through the helper: the one program serves every syscall, and the kernel refuses
		 * to attach a tracepoint program that loads past the smallest record it serves
		 * (sys_enter_getpid has no arguments). */
		if (spec->index < sizeof(sys->args) / sizeof(sys->args[0]))
			bpf_probe_read_kernel(&value, sizeof(value), &sys->args[spec->index]);
		return value;
	}
	case ARG_CONTEXT_REGS: {
		struct pt_regs *regs = ctx;

		switch (spec->index) {
		case 0: return PT_REGS_PARM1_CORE(regs);
		case 1: return PT_REGS_PARM2_CORE(regs);
		case 2: return PT_REGS_PARM3_CORE(regs);
		case 3: return PT_REGS_PARM4_CORE(regs);
		default: return PT_REGS_PARM5_CORE(regs);
		}
	}
	default:
		/* fentry's array of arguments. Through the helper, not a load: the verifier types a
		 * loaded argument as a kernel pointer, on which a plan's offsets are not allowed. */
		bpf_probe_read_kernel(&value, sizeof(value), (char *)ctx + 8 * (spec->index & 7));
		return value;
	}
}

static __always_inline long arg_read(void *dst, __u32 size, __u64 address, bool user)
{
	return user ? bpf_probe_read_user(dst, size, (void *)address) : bpf_probe_read_kernel(dst, size, (void *)address);
}

/* Reads a string into value's data: arg_string_max bytes at most, and one more to tell a
 * truncated string from one of exactly that length. */
static __always_inline void arg_read_string(struct arg_value *value, char *data, __u64 address, __u8 read)
{
	__u32 size = arg_string_max + 2;
	long n = -1;

	if (read == ARG_READ_STRING_KERNEL || read == ARG_READ_STRING_ANY)
		n = bpf_probe_read_kernel_str(data, size, (void *)address);
	if (read == ARG_READ_STRING_USER || (read == ARG_READ_STRING_ANY && n < 0))
		n = bpf_probe_read_user_str(data, size, (void *)address);
	if (n < 0) {
		value->status = ARG_STATUS_READ_FAILED;
		value->number = n;
		return;
	}
	n = n > 0 ? n - 1 : 0; /* without the NUL */
	if (n > arg_string_max) {
		n = arg_string_max;
		value->status = ARG_STATUS_TRUNCATED;
	}
	value->length = n;
}

/* Reads a Go string of length bytes at address in user memory into value's data. */
static __always_inline void arg_read_go_string(struct arg_value *value, char *data, __u64 address, __u64 length)
{
	__u64 size = length;

	if (size > arg_string_max) {
		size = arg_string_max;
		value->status = ARG_STATUS_TRUNCATED;
	}
	value->length = size;
	barrier_var(size); /* keep the bound the verifier needs, as in arg_read_path */
	if (size <= (__u64)arg_string_max && size > 0) {
		long err = bpf_probe_read_user(data, size, (void *)address);

		if (err) {
			value->status = ARG_STATUS_READ_FAILED;
			value->number = err;
			value->length = 0;
		}
	}
}

/* The file open as descriptor fd in the current task, or NULL. */
static __always_inline struct file *arg_fd_file(__u64 fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

/* Writes the path of dentry (under mount vfsmnt, or within its file system when vfsmnt is NULL)
 * into value's data, as /proc/PID/fd shows it: socket:[INODE], pipe:[INODE] for those, and the
 * walk's names from the root down for others. The walk is bounded by MAX_PATH_DEPTH names;
 * a longer path is marked truncated. */
static __noinline void arg_read_path(struct arg_value *value, char *data, struct dentry *dentry, struct vfsmount *vfsmnt)
{
	__u32 zero = 0;
	struct path_scratch *scratch = bpf_map_lookup_elem(&path_scratch, &zero);
	struct path_walk *walk;
	struct inode *inode;
	__u64 size;
	int i;

	if (!scratch || !dentry) {
		value->status = ARG_STATUS_READ_FAILED;
		return;
	}
	inode = BPF_CORE_READ(dentry, d_inode);
	if (BPF_CORE_READ(dentry, d_op, d_dname)) {
		/* A pseudo file system's name: a socket, a pipe, an anonymous inode. */
		__u16 mode = BPF_CORE_READ(inode, i_mode) & ARGS_S_IFMT;

		value->number = BPF_CORE_READ(inode, i_ino);
		if (mode == ARGS_S_IFSOCK)
			value->file_kind = ARG_FILE_SOCKET;
		else if (mode == ARGS_S_IFIFO)
			value->file_kind = ARG_FILE_PIPE;
		else
			value->file_kind = ARG_FILE_ANONYMOUS;
		if (value->file_kind != ARG_FILE_ANONYMOUS)
			return;
		arg_read_string(value, data, (__u64)BPF_CORE_READ(dentry, d_name.name), ARG_READ_STRING_KERNEL);
		return;
	}
	/* The walk's state lives in the map, through volatile accesses: the verifier then sees the
	 * same state at each iteration's start, whichever way the one before went, and prunes. */
	walk = (struct path_walk *)&scratch->walk;
	walk->dentry = (__u64)dentry;
	walk->mnt = vfsmnt ? (__u64)vfsmnt - bpf_core_field_offset(struct mount, mnt) : 0;
	walk->root = vfsmnt ? (__u64)BPF_CORE_READ(vfsmnt, mnt_root) : 0;
	walk->depth = 0;
	walk->complete = 0;
	for (i = 0; i < MAX_PATH_DEPTH + 8; i++) {
		struct dentry *d = (struct dentry *)ARGS_ONCE(walk->dentry);
		struct mount *m = (struct mount *)ARGS_ONCE(walk->mnt);
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		__u32 depth = ARGS_ONCE(walk->depth);

		if (d == (struct dentry *)ARGS_ONCE(walk->root) || d == parent) {
			struct mount *up = BPF_CORE_READ(m, mnt_parent);

			if (!m || !up || up == m) {
				walk->complete = 1;
				break;
			}
			/* Cross into the mount this one is mounted on. */
			walk->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
			walk->mnt = (__u64)up;
			walk->root = (__u64)BPF_CORE_READ(up, mnt.mnt_root);
			continue;
		}
		if (depth >= MAX_PATH_DEPTH)
			break;
		scratch->names[depth & (MAX_PATH_DEPTH - 1)] = (__u64)BPF_CORE_READ(d, d_name.name);
		walk->depth = depth + 1;
		walk->dentry = (__u64)parent;
	}
	if (!walk->complete)
		value->status = ARG_STATUS_TRUNCATED;
	walk->pos = 0;
	if (walk->depth == 0)
		scratch->buf[walk->pos++] = '/';
	for (i = MAX_PATH_DEPTH - 1; i >= 0; i--) {
		__u32 pos = ARGS_ONCE(walk->pos);
		long n;

		if (i >= ARGS_ONCE(walk->depth) || pos > arg_string_max)
			continue;
		scratch->buf[pos & (PATH_BUF / 2 - 1)] = '/';
		pos++;
		n = bpf_probe_read_kernel_str(&scratch->buf[pos & (PATH_BUF / 2 - 1)], PATH_NAME_MAX, (void *)scratch->names[i]);
		if (n > 1)
			pos += n - 1;
		walk->pos = pos;
	}
	size = ARGS_ONCE(walk->pos);
	if (size > arg_string_max) {
		size = arg_string_max;
		value->status = ARG_STATUS_TRUNCATED;
	}
	value->length = size;
	/* Opaque to the compiler, which would otherwise fold the bound below into the one above
	 * and leave the verifier a size it cannot bound. */
	barrier_var(size);
	if (size <= (__u64)arg_string_max)
		bpf_probe_read_kernel(data, size, scratch->buf);
}

/* Reads one argument by its plan into value and data (arg_string_max + 2 bytes). A path is only
 * located here, into *path_from: it is read once the loop is done, for the one path argument a
 * plan may have, which keeps the verifier's work to one dentry walk. */
static __always_inline void arg_capture_one(void *ctx, enum arg_context context, const struct arg_spec *spec,
					    struct arg_value *value, char *data, __u64 *path_from)
{
	bool user = spec->user_memory;
	__u64 v = arg_register(ctx, context, spec);
	__u32 h;

	value->status = ARG_STATUS_OK;
	value->file_kind = ARG_FILE_PATH;
	value->length = 0;
	value->number = 0;
	for (h = 0; h < MAX_ARG_HOPS; h++) {
		if (h >= spec->hop_count)
			break;
		if (!v || arg_read(&v, sizeof(v), v + spec->hops[h], user)) {
			value->status = ARG_STATUS_READ_FAILED;
			return;
		}
	}
	if (spec->field) {
		if (!v) {
			value->status = ARG_STATUS_READ_FAILED;
			return;
		}
		v += spec->field_offset;
		if (spec->read == ARG_READ_INTEGER) {
			__u64 field = 0;

			if (arg_read(&field, spec->size & 0xf, v, user)) {
				value->status = ARG_STATUS_READ_FAILED;
				return;
			}
			v = field;
		}
		if (spec->read == ARG_READ_GO_STRING) {
			__u64 parts[2];

			if (bpf_probe_read_user(parts, sizeof(parts), (void *)v)) {
				value->status = ARG_STATUS_READ_FAILED;
				return;
			}
			arg_read_go_string(value, data, parts[0], parts[1]);
			return;
		}
	}
	switch (spec->read) {
	case ARG_READ_INTEGER:
		value->number = v;
		return;
	case ARG_READ_STRING_USER:
	case ARG_READ_STRING_KERNEL:
	case ARG_READ_STRING_ANY:
		arg_read_string(value, data, v, spec->read);
		return;
	case ARG_READ_GO_STRING:
		arg_read_go_string(value, data, v, arg_user_word(ctx, spec->source, spec->length_offset));
		return;
	default:
		*path_from = v;
	}
}

/* Reads the path a plan's path argument names, from v as arg_capture_one left it. */
static __always_inline void arg_capture_path(__u8 read, __u64 v, struct arg_value *value, char *data)
{
	struct dentry *dentry = NULL;
	struct vfsmount *mnt = NULL;
	struct file *file = NULL;

	switch (read) {
	case ARG_READ_FD_PATH:
		file = arg_fd_file(v);
		if (!file) {
			value->status = ARG_STATUS_READ_FAILED;
			value->number = -EBADF; /* no such descriptor */
			return;
		}
		break;
	case ARG_READ_FILE_PATH:
		file = (struct file *)v;
		break;
	case ARG_READ_PATH_PATH:
		if (v) {
			dentry = BPF_CORE_READ((struct path *)v, dentry);
			mnt = BPF_CORE_READ((struct path *)v, mnt);
		}
		break;
	default:
		dentry = (struct dentry *)v;
	}
	if (file) {
		dentry = BPF_CORE_READ(file, f_path.dentry);
		mnt = BPF_CORE_READ(file, f_path.mnt);
	}
	arg_read_path(value, data, dentry, mnt);
}

static __always_inline __u64 arg_frame_key(__u32 tid, __u32 depth)
{
	return ((__u64)tid << 32) | depth;
}

/* Where argument i's slot begins in the values. The bound that follows each use compares this
 * register itself, which is what older verifiers (5.10, 6.1) need to bound the access. */
static __always_inline __u64 arg_slot_offset(__u32 i)
{
	__u64 offset = sizeof(struct arg_values_header) + (__u64)i * arg_stride;

	barrier_var(offset);
	return offset;
}

/* At entry of a probe with arguments: reads them by its plan and keeps them until the return. */
static __always_inline void args_capture(void *ctx, enum arg_context context, __u32 probe_id, __u32 tid, __u32 depth)
{
	const struct arg_plan *plan;
	__u32 zero = 0;
	__u64 key = arg_frame_key(tid, depth);
	struct arg_values_header *header;
	__u64 path_from = 0;
	char *values;
	__u32 i;

	if (!arg_slots) /* a load-time constant: without arguments the verifier drops all of this */
		return;
	plan = bpf_map_lookup_elem(&arg_plans, &probe_id);
	values = bpf_map_lookup_elem(&arg_scratch, &zero);
	if (!plan || !values)
		return;
	header = (void *)values;
	header->size = args_value_size;
	header->stride = arg_stride;
	header->count = 0;
	for (i = 0; i < MAX_ARGS; i++) {
		__u64 offset = arg_slot_offset(i);

		if (i >= plan->count || offset > args_value_size - arg_stride) /* the second: i >= arg_slots */
			break;
		arg_capture_one(ctx, context, &plan->args[i], (void *)(values + offset),
				values + offset + sizeof(struct arg_value), &path_from);
		header->count = i + 1;
	}
	i = plan->path_index;
	if (i < MAX_ARGS && i < header->count) {
		__u64 offset = arg_slot_offset(i);

		if (offset <= args_value_size - arg_stride && ((struct arg_value *)(values + offset))->status == ARG_STATUS_OK)
			arg_capture_path(plan->args[i].read, path_from, (void *)(values + offset),
					 values + offset + sizeof(struct arg_value));
	}
	bpf_map_update_elem(&arg_frames, &key, values, BPF_ANY);
}

/* Fills a record's args tail with the values kept at entry. The record must have been reserved
 * with room for it: args_value_size bytes at tail. Values that could not be kept (arg_frames
 * full) are each marked failed, so that the span says so rather than going without them. */
static __always_inline void args_fill_tail(struct arg_values_header *tail, __u32 tid, __u32 depth, __u32 probe_id)
{
	__u64 key = arg_frame_key(tid, depth);
	const struct arg_plan *plan;
	void *values;
	__u32 i;

	if (!arg_slots)
		return;
	values = bpf_map_lookup_elem(&arg_frames, &key);
	if (values) {
		bpf_probe_read_kernel(tail, args_value_size, values);
		return;
	}
	tail->size = args_value_size;
	tail->stride = arg_stride;
	tail->count = 0;
	tail->_pad = 0;
	plan = bpf_map_lookup_elem(&arg_plans, &probe_id);
	if (!plan)
		return;
	for (i = 0; i < MAX_ARGS; i++) {
		__u64 offset = arg_slot_offset(i);
		struct arg_value *value;

		if (i >= plan->count || offset > args_value_size - arg_stride)
			break;
		value = (void *)tail + offset;
		value->status = ARG_STATUS_READ_FAILED;
		value->file_kind = ARG_FILE_PATH;
		value->length = 0;
		value->_pad = 0;
		value->number = 0;
		tail->count = i + 1;
	}
}

static __always_inline void args_release(__u32 tid, __u32 depth)
{
	__u64 key = arg_frame_key(tid, depth);

	if (arg_slots)
		bpf_map_delete_elem(&arg_frames, &key);
}

#endif
