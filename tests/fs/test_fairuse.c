/* Unit tests: per-uid bytes and calls (fs/fairuse.c). */
#include <errno.h>

#include "fairuse.h"
#include "tap.h"

int main(void)
{
	struct fairuse *fu = fu_new(100, 2);
	struct fu_hold a = { fu, 1000, 0 }, b = { fu, 1000, 0 },
		       root = { fu, 0, 0 };
	size_t bytes;
	unsigned calls;

	is_int(fu_hold_add(&a, 60), 0, "60 of 100");
	is_int(fu_hold_add(&b, 41), -EAGAIN, "101 of 100: EAGAIN");
	is_int(b.bytes, 0, "nothing charged");
	is_int(fu_hold_add(&root, 100), 0, "another uid has its own 100");
	is_int(fu_hold_add(&b, 40), 0, "exactly 100");
	fu_usage(fu, 1000, &bytes, &calls);
	is_int(bytes, 100, "usage");
	fu_hold_release(&a);
	is_int(a.bytes, 0, "released");
	is_int(fu_hold_add(&a, 60), 0, "room again");
	is_int(fu_hold_add(&a, (size_t)-1), -EAGAIN, "no overflow");
	fu_hold_release(&a);
	fu_hold_release(&b);
	fu_hold_release(&root);
	fu_usage(fu, 1000, &bytes, &calls);
	is_int(bytes, 0, "all given back");

	is_int(fu_call_begin(fu, 1000), 0, "call 1");
	is_int(fu_call_begin(fu, 1000), 0, "call 2");
	is_int(fu_call_begin(fu, 1000), -EAGAIN, "call 3: EAGAIN");
	is_int(fu_call_begin(fu, 0), 0, "root is not held up");
	fu_call_end(fu, 1000);
	is_int(fu_call_begin(fu, 1000), 0, "a slot again");
	fu_call_end(fu, 1000);
	fu_call_end(fu, 1000);
	fu_call_end(fu, 0);
	fu_call_end(fu, 0);		/* one too many: harmless */
	fu_usage(fu, 0, &bytes, &calls);
	is_int(calls, 0, "no calls left");
	fu_free(fu);
	return done_testing();
}
