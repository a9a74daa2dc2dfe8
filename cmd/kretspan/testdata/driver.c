// A workload that the kernel tests drive line by line on stdin, so that they know exactly which
// kernel calls it makes. It prints "ready PID TID" first, then one line per command:
//   fork N          → "forked PID..." after forking N children that exit at once
//   churn N SERVICE → "churned PID..." after forking N children, one after another, that each
//                     execute this program again (as "driver getppid", with only
//                     OTEL_SERVICE_NAME=SERVICE in their environment), call getppid once and exit
//   open PATH       → "open RET" (RET is -errno on failure)
//   read PATH       → "read BYTES"
//   sleepers N MS   → "slept" once N threads have each slept MS milliseconds, concurrently
//   spin SECONDS    → "spun N" after calling getppid as fast as it can for SECONDS
//   leave           → exits inside leave_now(), a function that never returns
//   describe N TAG  → "described RET" after describe(N, TAG, strlen(TAG)), whose arguments the
//                     argument tests read
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
	long ms = (long)arg;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
	return NULL;
}

__attribute__((noinline)) void leave_now(void)
{
	fflush(stdout);
	_exit(0);
}

__attribute__((noinline)) long describe(int n, const char *tag, unsigned long size)
{
	return n * 1000L + (long)size + tag[0];
}

int main(int argc, char **argv)
{
	char line[4096], arg[4096];
	long n, ms;

	if (argc == 2 && strcmp(argv[1], "getppid") == 0) { // a churn child
		syscall(SYS_getppid);
		return 0;
	}
	printf("ready %d %ld\n", getpid(), syscall(SYS_gettid));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "fork %ld", &n) == 1) {
			printf("forked");
			for (long i = 0; i < n; i++) {
				pid_t child = fork();

				if (child == 0)
					_exit(0);
				printf(" %d", child);
				waitpid(child, NULL, 0);
			}
			printf("\n");
		} else if (sscanf(line, "churn %ld %255s", &n, arg) == 2) {
			char self[4096], env[sizeof(arg) + 32];
			ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
			char *child_argv[] = {"driver", "getppid", NULL}, *child_env[] = {env, NULL};

			if (len < 0) {
				printf("readlink -%d\n", errno);
				fflush(stdout);
				continue;
			}
			self[len] = 0;
			snprintf(env, sizeof(env), "OTEL_SERVICE_NAME=%s", arg);
			printf("churned");
			for (long i = 0; i < n; i++) {
				pid_t child = fork();

				if (child == 0) {
					execve(self, child_argv, child_env);
					_exit(127);
				}
				printf(" %d", child);
				waitpid(child, NULL, 0);
			}
			printf("\n");
		} else if (sscanf(line, "open %4095s", arg) == 1) {
			int fd = open(arg, O_RDONLY);

			printf("open %d\n", fd < 0 ? -errno : fd);
			if (fd >= 0)
				close(fd);
		} else if (sscanf(line, "read %4095s", arg) == 1) {
			char buf[4096];
			int fd = open(arg, O_RDONLY);
			long got = fd < 0 ? -errno : read(fd, buf, sizeof(buf));

			printf("read %ld\n", got);
			if (fd >= 0)
				close(fd);
		} else if (sscanf(line, "describe %ld %4095s", &n, arg) == 2) {
			printf("described %ld\n", describe((int)n, arg, strlen(arg)));
		} else if (strncmp(line, "leave", 5) == 0) {
			leave_now();
		} else if (sscanf(line, "spin %ld", &n) == 1) {
			struct timespec start, now;
			long calls = 0;

			clock_gettime(CLOCK_MONOTONIC, &start);
			do {
				for (int i = 0; i < 1000; i++)
					syscall(SYS_getppid);
				calls += 1000;
				clock_gettime(CLOCK_MONOTONIC, &now);
			} while (now.tv_sec - start.tv_sec < n);
			printf("spun %ld\n", calls);
		} else if (sscanf(line, "sleepers %ld %ld", &n, &ms) == 2) {
			pthread_t threads[256];

			if (n > 256)
				n = 256;
			for (long i = 0; i < n; i++)
				pthread_create(&threads[i], NULL, sleeper, (void *)ms);
			for (long i = 0; i < n; i++)
				pthread_join(threads[i], NULL);
			printf("slept\n");
		} else {
			printf("unknown command: %s", line);
		}
		fflush(stdout);
	}
	return 0;
}
