// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The benchmark workload: calls getppid (syscall tracepoints) or bench_func (uprobe + uretprobe)
// in a loop and reports what it did; for the argument rows, openat of a missing file (3 integers
// and a string) or bench_func3 (3 arguments).
//
//   loop overhead getppid|func|openat|func3 CALLS REPS   one line per repetition: "ns_per_call X"
//   loop rate getppid|func RATE MILLIS      paced at RATE calls/s (0: flat out) for MILLIS ms:
//                                           "calls N elapsed_ns E"
//   loop pingpong - ROUNDS REPS             two threads on one CPU pass a byte back and forth
//                                           through pipes, two context switches per round: one
//                                           line per repetition, "ns_per_call X" per round
//   loop churn getppid|func N 0             forks N children one after another, each executing
//                                           "loop once getppid|func 1 0" with this environment:
//                                           "children N elapsed_ns E"
//   loop once getppid|func 1 0              makes one call
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/wait.h>

// The uprobed function: not inlined, not optimised away.
__attribute__((noinline, used)) int bench_func(int x)
{
	__asm__ volatile("" : "+r"(x) : : "memory");
	return x + 1;
}

__attribute__((noinline, used)) long bench_func3(int x, const char *tag, unsigned long n)
{
	__asm__ volatile("" : "+r"(x), "+r"(tag), "+r"(n) : : "memory");
	return x + (long)n + tag[0];
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static volatile long sink;

enum { GETPPID, FUNC, OPENAT, FUNC3 };

static inline void call(int func)
{
	switch (func) {
	case FUNC:
		sink += bench_func((int)sink);
		break;
	case OPENAT:
		sink += syscall(SYS_openat, AT_FDCWD, "/nonexistent/kretspan-bench", O_RDONLY | O_CLOEXEC, 0);
		break;
	case FUNC3:
		sink += bench_func3((int)sink, "kretspan-bench", 42);
		break;
	default:
		sink += syscall(SYS_getppid); // the raw syscall: glibc does not cache getppid, but be sure
	}
}

static int ping[2], pong[2];

static void pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *ponger(void *arg)
{
	char c;

	pin_cpu0();
	while (read(ping[0], &c, 1) == 1 && c)
		if (write(pong[1], &c, 1) != 1)
			break;
	return NULL;
}

static int pingpong(long long rounds, long long reps)
{
	pthread_t thread;
	char c = 1, zero = 0;

	if (pipe(ping) || pipe(pong) || pthread_create(&thread, NULL, ponger, NULL)) {
		perror("pingpong");
		return 1;
	}
	pin_cpu0();
	for (long long rep = -1; rep < reps; rep++) { // the first repetition warms up
		long long start = now_ns();
		for (long long i = 0; i < rounds; i++)
			if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
				return 1;
		long long elapsed = now_ns() - start;
		if (rep >= 0) {
			printf("ns_per_call %.2f\n", (double)elapsed / (double)rounds);
			fflush(stdout);
		}
	}
	if (write(ping[1], &zero, 1) != 1)
		return 1;
	pthread_join(thread, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s overhead|rate|churn|once|pingpong getppid|func|openat|func3|- CALLS|RATE|CHILDREN|ROUNDS REPS|MILLIS|0\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "pingpong") == 0)
		return pingpong(atoll(argv[3]), atoll(argv[4]));
	static const char *calls[] = {[GETPPID] = "getppid", [FUNC] = "func", [OPENAT] = "openat", [FUNC3] = "func3"};
	int func = -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(argv[2], calls[i]) == 0)
			func = i;
	if (func < 0) {
		fprintf(stderr, "unknown call %s\n", argv[2]);
		return 2;
	}
	long long a = atoll(argv[3]), b = atoll(argv[4]);

	if (strcmp(argv[1], "overhead") == 0) {
		for (long long i = 0; i < 1000; i++) // warm up: page faults, first uprobe hit
			call(func);
		for (long long rep = 0; rep < b; rep++) {
			long long start = now_ns();
			for (long long i = 0; i < a; i++)
				call(func);
			long long elapsed = now_ns() - start;
			printf("ns_per_call %.2f\n", (double)elapsed / (double)a);
			fflush(stdout);
		}
		return 0;
	}
	if (strcmp(argv[1], "rate") == 0) {
		long long rate = a, duration = b * 1000000LL, calls = 0;
		long long start = now_ns(), now = start;
		while (now - start < duration) {
			for (int i = 0; i < 64; i++)
				call(func);
			calls += 64;
			now = now_ns();
			if (rate > 0) {
				// Ahead of schedule: sleep until the calls made are due.
				long long due = start + calls * 1000000000LL / rate;
				if (due > now) {
					struct timespec ts = {.tv_sec = (due - now) / 1000000000LL, .tv_nsec = (due - now) % 1000000000LL};
					nanosleep(&ts, NULL);
					now = now_ns();
				}
			}
		}
		printf("calls %lld elapsed_ns %lld\n", calls, now - start);
		return 0;
	}
	if (strcmp(argv[1], "once") == 0) {
		call(func);
		return 0;
	}
	if (strcmp(argv[1], "churn") == 0) {
		long long start = now_ns(), children = 0;
		char self[4096];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (len < 0) {
			perror("readlink /proc/self/exe");
			return 1;
		}
		self[len] = 0;
		for (long long i = 0; i < a; i++) {
			pid_t child = fork();

			if (child < 0) {
				perror("fork");
				return 1;
			}
			if (child == 0) {
				char *child_argv[] = {argv[0], "once", argv[2], "1", "0", NULL};

				execv(self, child_argv);
				_exit(127);
			}
			waitpid(child, NULL, 0);
			children++;
		}
		printf("children %lld elapsed_ns %lld\n", children, now_ns() - start);
		return 0;
	}
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}
