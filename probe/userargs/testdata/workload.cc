// C++ functions for probe/userargs's tests: a member function (its 'this'), a class passed by
// value that has a copy constructor (so by invisible reference), references, and a namespaced
// free function.
#include <cstdio>
#include <cstring>

namespace shop {
struct Item { long id; const char *name; };

class Cart {
public:
	long total(int count, const char *label, Item *item);
	long items = 0;
};

struct Tracked {
	Tracked(long v) : value(v) {}
	Tracked(const Tracked &other) : value(other.value + 1) {}
	~Tracked() { std::printf("%ld\n", value); }
	long value;
};

__attribute__((noinline)) long Cart::total(int count, const char *label, Item *item) {
	items += count;
	return items + (long)std::strlen(label) + item->id;
}

__attribute__((noinline)) long take(Tracked tracked, int after) { return tracked.value + after; }

__attribute__((noinline)) long lookup(int key, const char *name) { return key + (long)std::strlen(name); }

__attribute__((noinline)) long refer(const Item &item, long &total, int after) { return total += item.id + after; }
} // namespace shop

int main(int argc, char **argv) {
	shop::Cart cart;
	shop::Item item{argc, argv[0]};
	shop::Tracked tracked(argc);
	long sum = cart.total(argc, argv[0], &item) + shop::take(tracked, argc) + shop::lookup(argc, argv[0]);
	shop::refer(item, sum, argc);
	std::printf("%ld\n", sum);
	return 0;
}
