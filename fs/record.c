/*
 * record.c - what the daemon keeps of each operation: metrics and the
 * audit line (the lifecycle code reports its changes here too).
 */
#include <string.h>

#include "hsmfs.h"

void fs_record(struct fs_state *fs, const struct audit_ev *ev)
{
	struct fuse_context *ctx;
	struct audit_ev e = *ev;
	char comm[32];

	metrics_op_done(fs->metrics, ev->key, ev->op, ev->err, ev->latency_us);
	if (!audit_enabled(fs->audit))
		return;
	if (e.pid == 0 && (ctx = fuse_get_context()) != NULL) {
		e.uid = ctx->uid;
		e.pid = ctx->pid;
	}
	/* comm is the caller's now; a process gone already has none.  Not
	 * from PID/stat: its read walks every thread of the caller, a cost
	 * per operation that grew with a multi-threaded caller's size. */
	if (e.comm == NULL && e.pid > 0 &&
	    proc_read_comm("/proc", e.pid, comm, sizeof(comm)) == 0)
		e.comm = comm;
	audit_event(fs->audit, &e);
}

/* The metrics file: ours and what the client and the caches count. */
int metrics_text(struct fs_state *fs, char **out, size_t *len)
{
	struct metrics_ext x;

	memset(&x, 0, sizeof(x));
	hsm_client_stats(fs->client, &x.hs);
	kc_get_stats(fs->kc, &x.ks);
	x.pending = reqstore_count(fs->requests);
	x.start_time = fs->mounted_at;
	x.version = HSMFS_VERSION;
	return metrics_render(fs->metrics, &x, out, len);
}
