// Functions whose arguments probe/userargs places; built with -g at -O0 and -O2 for amd64 and
// arm64 by the package's tests. Every argument is used so that the optimizer keeps it.
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

enum color { RED, GREEN = 5, BLUE = -1 };
struct header { int kind; int len; };
struct request { long id; char *name; struct header hdr; struct request *next; union { int flags; unsigned int mask; }; };
struct pair { long a, b; };
struct big { long a, b, c, d; };
typedef const char *label_t;

// Offsets the field paths must reach, as the compiler lays them out.
const unsigned long offset_hdr_len = offsetof(struct request, hdr) + offsetof(struct header, len);
const unsigned long offset_next = offsetof(struct request, next);
const unsigned long offset_name = offsetof(struct request, name);
const unsigned long offset_id = offsetof(struct request, id);
const unsigned long offset_flags = offsetof(struct request, flags);

__attribute__((noinline)) int handle(int n, const char *tag, unsigned long size, struct request *req) {
	int sum = n + (int)strlen(tag) + (int)size + req->hdr.len + req->hdr.kind + (int)req->id + (int)strlen(req->name) + req->flags;
	if (req->next)
		sum += (int)strlen(req->next->name) + (int)req->next->id + req->next->hdr.len;
	return sum;
}

__attribute__((noinline)) long many(int a, bool b, enum color c, double d, struct pair p, long f,
		long g, short h, unsigned char i, label_t j) {
	return a + b + c + (long)d + p.a + p.b + f + g + h + i + (long)strlen(j);
}

__attribute__((noinline)) struct big make_big(long a, long b) {
	struct big r = { a, b, a * b, a - b };
	return r;
}

__attribute__((noinline)) long spill(struct pair p1, struct pair p2, struct pair p3, long x,
		struct pair p4, long y) {
	return p1.a + p1.b * p2.a + p2.b * p3.a + p3.b * x + p4.a * p4.b + y;
}

__attribute__((noinline)) long wide(long a, __int128 big, long after) {
	return a + (long)(big >> 3) + after;
}

__attribute__((noinline)) long large_struct(struct big b, long after) {
	return b.a + b.b * b.c + b.d * after;
}

__attribute__((noinline)) long mixed(double d1, double d2, double d3, double d4, double d5,
		double d6, double d7, double d8, double d9, long l1, long l2, long l3, long l4, long l5,
		long l6, long l7, signed char last) {
	return (long)(d1 + d2 + d3 + d4 + d5 + d6 + d7 + d8 + d9) + l1 + l2 * l3 + l4 * l5 + l6 * l7 + last;
}

__attribute__((noinline)) int small(unsigned short u16, signed char s8, _Bool ok, enum color c,
		unsigned long long u64, int *counter) {
	*counter += 1;
	return u16 + s8 + ok + c + (int)u64;
}

// scaled is static with a constant argument at its only call: at -O2 GCC makes scaled.constprop.0
// without that argument.
static __attribute__((noinline)) long scaled(long value, long factor) { return value * factor + factor; }

int main(int argc, char **argv) {
	struct request second = { 7, "second", { 1, 2 }, NULL, { 0 } };
	struct request first = { argc, argv[0], { 3, argc }, &second, { argc } };
	struct pair p = { argc, 2 };
	struct big b = { argc, 2, 3, 4 };
	int counter = 0;
	long sum = handle(argc, argv[0], (unsigned long)argc * 3, &first);
	sum += many(argc, argc > 1, argc > 2 ? BLUE : GREEN, argc * 1.5, p, argc + 6, argc + 7, (short)argc, (unsigned char)argc, argv[0]);
	sum += make_big(argc, argc + 1).c;
	sum += spill(p, p, p, argc, p, argc + 2);
	sum += wide(argc, (__int128)argc << 70, argc + 3);
	sum += large_struct(b, argc);
	sum += mixed(argc, 2, 3, 4, 5, 6, 7, 8, 9, argc, 2, 3, 4, 5, 6, 7, (signed char)argc);
	sum += small((unsigned short)argc, (signed char)-argc, argc > 3, RED, (unsigned long long)argc << 40, &counter);
	sum += scaled(argc, 12345);
	printf("%ld %d\n", sum, counter);
	return 0;
}
