// A C program using spanbind/kretspan_bind.h. After "ready PID TID" and a line on stdin it makes
// four failing opens, each in a different binding state:
//   1. bound to span 00f067aa0ba902b7 of trace 4bf92f3577b34da6a3ce929d0e0e4736, sampled
//   2. after release
//   3. bound to an unsampled span
//   4. bound with the application's clock an hour ahead of the kernel's
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../../spanbind/kretspan_bind.h"

static const uint8_t trace_id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
				     0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t span_id[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

int main(void)
{
	char line[16];
	struct timespec now;

	printf("ready %d %ld\n", getpid(), syscall(SYS_gettid));
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;

	kretspan_bind(trace_id, span_id, 1);
	open("/nonexistent/kretspan/bound", O_RDONLY);
	kretspan_release();

	open("/nonexistent/kretspan/released", O_RDONLY);

	kretspan_bind(trace_id, span_id, 0);
	open("/nonexistent/kretspan/unsampled", O_RDONLY);
	kretspan_release();

	clock_gettime(CLOCK_REALTIME, &now);
	kretspan_marker(kretspan_be64(trace_id), kretspan_be64(trace_id + 8), kretspan_be64(span_id),
			((uint64_t)now.tv_sec + 3600) * 1000000000u, KRETSPAN_BIND_SAMPLED);
	open("/nonexistent/kretspan/skewed", O_RDONLY);
	kretspan_release();
	return 0;
}
