// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The benchmark workload: calls getppid (syscall tracepoints) or bench_func (uprobe + uretprobe)
// in a loop and reports what it did.
//
//   loop overhead getppid|func CALLS REPS   one line per repetition: "ns_per_call X"
//   loop rate getppid|func RATE MILLIS      paced at RATE calls/s (0: flat out) for MILLIS ms:
//                                           "calls N elapsed_ns E"
//   loop churn getppid|func N 0             forks N children one after another, each executing
//                                           "loop once getppid|func 1 0" with this environment:
//                                           "children N elapsed_ns E"
//   loop once getppid|func 1 0              makes one call
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

// The uprobed function: not inlined, not optimised away.
__attribute__((noinline, used)) int bench_func(int x)
{
	__asm__ volatile("" : "+r"(x) : : "memory");
	return x + 1;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static volatile long sink;

static inline void call(int func)
{
	if (func)
		sink += bench_func((int)sink);
	else
		sink += syscall(SYS_getppid); // the raw syscall: glibc does not cache getppid, but be sure
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s overhead|rate|churn|once getppid|func CALLS|RATE|CHILDREN REPS|MILLIS|0\n", argv[0]);
		return 2;
	}
	int func = strcmp(argv[2], "func") == 0;
	if (!func && strcmp(argv[2], "getppid") != 0) {
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
