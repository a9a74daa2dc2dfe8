// A workload whose calls spend known times on the CPU, waiting for it and blocked, for the tests
// of the scheduler split. Its thread is pinned to one CPU. It prints "ready PID TID", then answers
// each command with "did WALL_NS CPU_NS OUTER_WALL_NS OUTER_CPU_NS": the call's wall-clock
// (CLOCK_MONOTONIC) and CPU (CLOCK_THREAD_CPUTIME_ID) time read inside the call, then read around
// it, which includes the probes' own work on the thread:
//   sleep MS    sleep_call sleeps MS
//   burn MS     burn_call runs until its thread has used MS of CPU time
//   contend MS  contended_call does the same while a second thread spins on the same CPU
//   nested MS   outer_call calls burn_call(MS), then sleep_call(MS)
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct timing {
	long long wall, cpu;
};

static void start(struct timing *t)
{
	t->wall = clock_ns(CLOCK_MONOTONIC);
	t->cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static void stop(struct timing *t)
{
	t->cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t->cpu;
	t->wall = clock_ns(CLOCK_MONOTONIC) - t->wall;
}

static void burn(int ms)
{
	long long until = clock_ns(CLOCK_THREAD_CPUTIME_ID) + ms * 1000000LL;

	while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < until)
		;
}

__attribute__((noinline)) void sleep_call(int ms, struct timing *t)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	start(t);
	nanosleep(&ts, NULL);
	stop(t);
}

__attribute__((noinline)) void burn_call(int ms, struct timing *t)
{
	start(t);
	burn(ms);
	stop(t);
}

__attribute__((noinline)) void contended_call(int ms, struct timing *t)
{
	start(t);
	burn(ms);
	stop(t);
}

__attribute__((noinline)) void outer_call(int ms, struct timing *t)
{
	struct timing child;

	start(t);
	burn_call(ms, &child);
	sleep_call(ms, &child);
	stop(t);
}

static volatile int spinning, stop_spinning;

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static int cpu;

static void *spin(void *arg)
{
	pin(cpu);
	spinning = 1;
	while (!stop_spinning)
		;
	return NULL;
}

int main(void)
{
	char command[16];
	struct timing t, around;
	pthread_t spinner;
	int ms;

	cpu = sched_getcpu();
	pin(cpu);
	printf("ready %d %ld\n", getpid(), syscall(SYS_gettid));
	fflush(stdout);
	while (scanf("%15s %d", command, &ms) == 2) {
		if (!strcmp(command, "sleep")) {
			start(&around);
			sleep_call(ms, &t);
			stop(&around);
		} else if (!strcmp(command, "burn")) {
			start(&around);
			burn_call(ms, &t);
			stop(&around);
		} else if (!strcmp(command, "contend")) {
			spinning = stop_spinning = 0;
			pthread_create(&spinner, NULL, spin, NULL);
			while (!spinning)
				sched_yield();
			start(&around);
			contended_call(ms, &t);
			stop(&around);
			stop_spinning = 1;
			pthread_join(spinner, NULL);
		} else if (!strcmp(command, "nested")) {
			start(&around);
			outer_call(ms, &t);
			stop(&around);
		} else {
			fprintf(stderr, "unknown command %s\n", command);
			return 1;
		}
		printf("did %lld %lld %lld %lld\n", t.wall, t.cpu, around.wall, around.cpu);
		fflush(stdout);
	}
	return 0;
}
