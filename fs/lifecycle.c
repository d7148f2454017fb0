/*
 * lifecycle.c - the end of every change to a key: caches, then (after
 * the merge) the audit log and the metrics.
 */
#include <stdio.h>

#include "lifecycle.h"
#include "log.h"
#include "opname.h"
#include "resolve.h"

/*
 * The files of keys/NAME whose attributes the kernel may still hold
 * (attr_timeout): their sizes change with the key's attributes, and a
 * read stops at the size the kernel believes.
 */
static const char *const key_files[] = {
	"", "/versions", "/public.pem", "/public.der", "/jwk.json",
	"/meta.json", "/info", "/algs", "/rotation.json", "/backup", NULL
};

static const char *const deleted_files[] = {
	"", "/info", "/meta.json", NULL
};

/* dir/key + each of files (key NULL: dir alone). */
static void kernel_forget(const char *dir, const char *key,
			  const char *const *files)
{
	struct fuse_context *ctx = fuse_get_context();
	char path[256];
	int i;

	if (ctx == NULL || ctx->fuse == NULL)
		return;
	/* -ENOENT: the kernel holds nothing of it, which is fine. */
	if (key == NULL) {
		(void)fuse_invalidate_path(ctx->fuse, dir);
		return;
	}
	for (i = 0; files[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s%s", dir, key, files[i]);
		(void)fuse_invalidate_path(ctx->fuse, path);
	}
}

/*
 * The operation files of keys/NAME: a change of key_ops or of the key
 * (delete) makes them vanish, and the kernel would otherwise go on
 * answering stat from its attribute cache.  Invalidated, the next stat
 * asks hsmfs, which answers from the fresh bundle (ENOENT when gone).
 */
static void kernel_forget_ops(const char *key)
{
	char file[32];
	const char *files[2] = { file, NULL };
	int op;

	for (op = 0; op < FOP__COUNT; op++) {
		snprintf(file, sizeof(file), "/%s", fs_op_name((enum fs_op)op));
		kernel_forget("/keys", key, files);
	}
}

/* Drop what the kernel and hsmfs keep of key (NULL: the lists only). */
static void caches_forget(struct fs_state *fs, const char *key)
{
	kc_forget(fs->kc, key);
	kernel_forget("/keys", NULL, NULL);
	kernel_forget("/deleted", NULL, NULL);
	if (key == NULL)
		return;
	kernel_forget("/keys", key, key_files);
	kernel_forget("/deleted", key, deleted_files);
	kernel_forget_ops(key);
}

int lifecycle_done(struct fs_state *fs, const char *path,
		   const struct lc_change *ch, const struct fs_fail *f)
{
	bool failed = f != NULL && f->err != 0;

	caches_forget(fs, ch->key);
	/* Every lifecycle change made through the tree, done or failed,
	 * passes here once: one audit line and the metrics. */
	fs_record(fs, &(struct audit_ev){
		.key = ch->key, .version = ch->version, .op = ch->what,
		.err = failed ? f->err : 0,
		.request_id = failed ? f->request_id : ch->request_id,
		.latency_us = ch->t0_us ? (uint64_t)(mono_us() - ch->t0_us) : 0,
	});
	if (failed)
		return fs_fail(fs, NULL, path, f);
	log_info("%s: %s %s%s%s (request id %s)", path, ch->what,
		 ch->key ? ch->key : "", ch->version ? " version " : "",
		 ch->version ? ch->version : "",
		 ch->request_id && ch->request_id[0] ? ch->request_id : "none");
	return 0;
}
