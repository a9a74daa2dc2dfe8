// A workload with known timing for kretspan's tests: outer(ms) calls inner(ms), which sleeps ms;
// outer then sleeps ms again. It prints "ready PID TID", waits for a line on stdin, makes CALLS
// calls and prints "call BEFORE_NS AFTER_NS RET" (CLOCK_REALTIME) for each. Last, recurse(10)
// nests deeper than kretspan's per-thread stack, and negative() returns a negative int.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

__attribute__((noinline)) int inner(int ms)
{
	sleep_ms(ms);
	return ms * 2;
}

__attribute__((noinline)) int outer(int ms)
{
	int r = inner(ms);

	sleep_ms(ms);
	return r + 1;
}

int recurse(int n);
// Called through a volatile pointer so that the compiler cannot turn the recursion into a loop.
static int (*volatile recurse_again)(int) = recurse;

__attribute__((noinline)) int recurse(int n)
{
	if (n <= 1)
		return 1;
	return recurse_again(n - 1) + 1;
}

__attribute__((noinline)) int negative(int n)
{
	return -n;
}

int main(int argc, char **argv)
{
	char line[16];
	int calls, ms;

	if (argc != 3)
		return 2;
	calls = atoi(argv[1]);
	ms = atoi(argv[2]);
	printf("ready %d %ld\n", getpid(), syscall(SYS_gettid));
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < calls; i++) {
		long long before = now_ns();
		int ret = outer(ms);
		long long after = now_ns();

		printf("call %lld %lld %d\n", before, after, ret);
	}
	return recurse(10) == 10 && negative(22) == -22 ? 0 : 3;
}
