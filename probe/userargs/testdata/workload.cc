// C++ functions for probe/userargs's tests: a member function (its 'this'), a class passed by
// value that has a copy constructor (so by invisible reference, in a register or on the stack),
// references, and a namespaced free function.
#include <cstdio>
#include <cstring>

namespace shop {
struct Item { long id; const char *name; };

struct Totals { long count, sum, min, max; };

class Cart {
public:
	long total(int count, const char *label, Item *item);
	Totals totals(int count);
	long items = 0;
};

// Tracked has a copy constructor, so it is non-trivial for calls: passed and returned through
// memory, where a plain struct of its size would take two registers.
struct Tracked {
	Tracked(long v) : value(v), copies(0) {}
	Tracked(const Tracked &other) : value(other.value), copies(other.copies + 1) {}
	long value, copies;
};

// Plain is trivially copyable although it declares its constructors, defaulted.
struct Plain {
	Plain() = default;
	Plain(const Plain &) = default;
	long a, b;
};

__attribute__((noinline)) long Cart::total(int count, const char *label, Item *item) {
	items += count;
	return items + (long)std::strlen(label) + item->id + (long)std::strlen(item->name);
}

// Returned in memory: the caller passes the address before 'this' (amd64) or in x8 (arm64).
__attribute__((noinline)) Totals Cart::totals(int count) { return Totals{count, items, count - 1, items + 1}; }

__attribute__((noinline)) Tracked make(long value, int extra) { return Tracked(value + extra); }

__attribute__((noinline)) long plain(Plain p, int after) { return p.a + p.b + after; }

__attribute__((noinline)) long take(Tracked tracked, int after) { return tracked.value + after; }

// The six integer registers are taken before tracked: its hidden reference goes to the stack,
// one slot, and so do the arguments after it.
__attribute__((noinline)) long spill_tracked(long a, long b, long c, long d, long e, long f, Tracked tracked, long i, long j) {
	return a + b + c + d + e + f + tracked.value + i + j;
}

__attribute__((noinline)) long lookup(int key, const char *name) { return key + (long)std::strlen(name); }

__attribute__((noinline)) long refer(const Item &item, long &total, int after) { return total += item.id + after; }
} // namespace shop

int main(int argc, char **argv) {
	shop::Cart cart;
	shop::Item item{argc, argv[0]};
	shop::Tracked tracked(argc);
	long sum = cart.total(argc, argv[0], &item) + shop::take(tracked, argc) + shop::lookup(argc, argv[0]);
	shop::refer(item, sum, argc);
	sum += shop::spill_tracked(1, 2, 3, 4, 5, 6, tracked, 7, 8);
	shop::Plain p;
	p.a = argc;
	p.b = 2;
	sum += cart.totals(argc).max + shop::make(argc, 2).value + shop::plain(p, argc);
	std::printf("%ld\n", sum);
	return 0;
}
