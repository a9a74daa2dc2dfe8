/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The few kernel types kretspan reads, relocated by CO-RE against the running kernel's BTF.
 * It stands in for bpftool's vmlinux.h, and defines its guard so that bpf_tracing.h names the
 * registers as the kernel's own struct pt_regs does. bpf2go defines __TARGET_ARCH_x86 or
 * __TARGET_ARCH_arm64 for each object it builds. */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef short int __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_STACK_TRACE = 7,
	BPF_MAP_TYPE_CGROUP_ARRAY = 8,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
};

#define BPF_F_NO_PREALLOC (1U << 0)
#define BPF_LOCAL_STORAGE_GET_F_CREATE (1ULL << 0)

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};

enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

enum {
	BPF_RB_AVAIL_DATA = 0,
};

#define PF_KTHREAD 0x00200000

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	long unsigned int r15;
	long unsigned int r14;
	long unsigned int r13;
	long unsigned int r12;
	long unsigned int bp;
	long unsigned int bx;
	long unsigned int r11;
	long unsigned int r10;
	long unsigned int r9;
	long unsigned int r8;
	long unsigned int ax;
	long unsigned int cx;
	long unsigned int dx;
	long unsigned int si;
	long unsigned int di;
	long unsigned int orig_ax;
	long unsigned int ip;
	long unsigned int cs;
	long unsigned int flags;
	long unsigned int sp;
	long unsigned int ss;
} __attribute__((preserve_access_index));
#elif defined(__TARGET_ARCH_arm64)
/* A probe's context on arm64 (bpf_user_pt_regs_t), the registers bpf_tracing.h's macros read. */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

struct pt_regs;
#else
#error "kernel_types.h: unsupported target architecture (bpf2go defines __TARGET_ARCH_*)"
#endif

/* The fields read, each under the kernel's own type and field names; CO-RE matches them to the
 * running kernel's, nested anonymous structs included. A flavour (NAME___FLAVOUR) is kept only
 * for a field that differs across kernels. */
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct qstr {
	const unsigned char *name;
};

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
};

struct dentry;

struct dentry_operations {
	char *(*d_dname)(struct dentry *, char *, int);
};

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
	const struct dentry_operations *d_op;
};

struct vfsmount {
	struct dentry *mnt_root;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct mm_struct {
	unsigned long env_start;
	unsigned long env_end;
	struct file *exe_file;
};

struct cred {
	struct {
		unsigned int val;
	} uid;
};

struct sched_info {
	unsigned long long run_delay;
};

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	unsigned int __state; /* 5.14+; before, task_struct___state_old */
	struct task_struct *real_parent;
	const struct cred *real_cred;
	__u64 start_boottime; /* 5.5+, before the ring buffers kretspan needs (5.8) */
	struct mm_struct *mm;
	struct files_struct *files;
	unsigned long nvcsw;
	unsigned long nivcsw;
	struct sched_info sched_info;
};

/* Before 5.14 the state was a long named state. */
struct task_struct___state_old {
	long state;
};
#pragma clang attribute pop

/* Layout of syscalls:sys_enter_* and sys_exit_* records (see their tracefs format files). */
struct syscall_enter_ctx {
	__u64 common;
	int nr;
	__u32 _pad;
	__u64 args[6];
};

struct syscall_exit_ctx {
	__u64 common;
	int nr;
	__u32 _pad;
	long ret;
};

#endif /* __VMLINUX_H__ */
