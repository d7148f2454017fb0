/* Unit tests: the held text of status and metrics (fs/snap.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snap.h"
#include "tap.h"

static int made;

/* Each text differs: "text N". */
static int make(struct fs_state *fs, char **out, size_t *len)
{
	(void)fs;
	made++;
	*len = (size_t)asprintf(out, "text %d%s", made, made % 2 ? "" : "!");
	return 0;
}

static int take_is(struct snap *s, int64_t now, const char *want)
{
	char *t = NULL;
	size_t len = 0;
	int r;

	snap_take(s, now, make, NULL, &t, &len);
	r = strcmp(t, want) == 0 && len == strlen(want);
	free(t);
	return r;
}

int main(void)
{
	struct snap s;
	size_t len = 0;

	snap_init(&s);
	ok(take_is(&s, 0, "text 1"), "open without a stat: a fresh text");
	snap_size(&s, 100, make, NULL, &len);
	is_int(len, strlen("text 2!"), "stat: the size of a new text");
	ok(take_is(&s, 1500, "text 2!"), "open within the hold: the text stat sized");
	snap_size(&s, 1000, make, NULL, &len);
	ok(take_is(&s, 2400, "text 2!"), "a stat within the hold extends it");
	is_int(made, 2, "no text made for held ones");
	ok(take_is(&s, 2500, "text 3"), "past the hold: fresh");
	snap_size(&s, 2600, make, NULL, &len);
	is_int(made, 4, "a stat past the hold makes a new text");
	snap_size(&s, 3900, make, NULL, &len);
	is_int(made, 4, "held: same text");
	snap_size(&s, 4200, make, NULL, &len);
	is_int(made, 5, "a text that would outlive SNAP_MAX_MS is made anew");
	ok(take_is(&s, 5600, "text 5"), "and served until its hold ends");
	snap_cleanup(&s);
	return done_testing();
}
