/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kretspan_bind.h: tie an OpenTelemetry span to the calling thread, so that kretspan puts the
 * kernel calls this thread makes inside the application's trace. Usable from C, C++, Rust or
 * anything with a C ABI; include it in one or more translation units.
 *
 *   uint8_t trace_id[16], span_id[8];   // from your tracer's current span
 *   kretspan_bind(trace_id, span_id, 1); // 1: sampled
 *   ... the work whose kernel calls you want to see ...
 *   kretspan_release();
 *
 * kretspan reads the binding with a uprobe on kretspan_marker; without kretspan running the
 * calls cost a function call. Unsampled spans (sampled = 0) bind too, so their kernel calls are
 * left out.
 */
#ifndef KRETSPAN_BIND_H
#define KRETSPAN_BIND_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KRETSPAN_BIND_SAMPLED 1
#define KRETSPAN_BIND_RELEASE 2

/* The marker kretspan attaches to. Weak, so that several translation units may include this
 * header; noinline and used, so that it exists as a function to probe. */
__attribute__((weak, noinline, used)) void kretspan_marker(uint64_t trace_high, uint64_t trace_low,
							 uint64_t span_id, uint64_t wall_ns, uint64_t flags)
{
	__asm__ volatile("" : : "r"(trace_high), "r"(trace_low), "r"(span_id), "r"(wall_ns), "r"(flags) : "memory");
}

static inline uint64_t kretspan_be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static inline void kretspan_bind(const uint8_t trace_id[16], const uint8_t span_id[8], int sampled)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	kretspan_marker(kretspan_be64(trace_id), kretspan_be64(trace_id + 8), kretspan_be64(span_id),
			(uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec,
			sampled ? KRETSPAN_BIND_SAMPLED : 0);
}

static inline void kretspan_release(void)
{
	kretspan_marker(0, 0, 0, 0, KRETSPAN_BIND_RELEASE);
}

#ifdef __cplusplus
}
#endif

#endif
