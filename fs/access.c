/*
 * access.c - owner, group and mode of each node (DESIGN.md §3.4), for
 * the kernel to enforce with default_permissions; the policy=FILE in
 * force, reread after a SIGHUP.
 */
#include "hsmfs.h"
#include "log.h"
#include "resolve.h"

/* The class of a node of a key's subtree, or -1 for the others. */
static int key_class(const struct node *nd)
{
	switch (nd->kind) {
	case N_KEY:
	case N_VERSIONS:
	case N_VERSION:
	case N_DELKEY:
		return AC_DIR;
	case N_OP:
		return AC_USE;
	case N_CTL:
		return nd->name[0] != '\0' ? AC_USE : -1;
	case N_KSVC:
		/* rotation.json is written to change the key; backup is
		 * the key itself, wrapped for the HSM. */
		return nd->svc == S_ROTATION ? AC_USE : AC_PRIVATE;
	case N_META:
		return nd->meta <= M_JWK ? AC_PUBLIC : AC_PRIVATE;
	case N_DELFILE:
		return AC_PRIVATE;
	default:
		return -1;
	}
}

/*
 * After a SIGHUP, read policy=FILE again.  Done here, by the first
 * caller that needs a mode, not in the signal handler (which may not
 * allocate).  A file that does not parse leaves the policy in force.
 */
static void policy_refresh(struct fs_state *fs)
{
	unsigned n = audit_hup_count();
	struct policy *p = NULL;
	char err[512];

	if (fs->opts->policy_path == NULL ||
	    __atomic_load_n(&fs->policy_hup, __ATOMIC_ACQUIRE) == n)
		return;
	pthread_mutex_lock(&fs->policy_lock);
	if (fs->policy_hup != n) {
		if (policy_load(fs->opts->policy_path, &p, err,
				sizeof(err)) != 0) {
			log_err("%s: the policy in force is kept", err);
		} else {
			policy_free(fs->policy);
			fs->policy = p;
			log_info("policy=%s read again: %zu rules",
				 fs->opts->policy_path, p->n);
		}
		__atomic_store_n(&fs->policy_hup, n, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&fs->policy_lock);
}

void fs_node_access(struct fs_state *fs, const struct node *nd, mode_t *mode,
		    uid_t *uid, gid_t *gid)
{
	const struct policy_rule *r;
	int c = key_class(nd);

	*uid = fs->uid;
	*gid = fs->gid;
	if (c < 0) {
		*mode = nd->root != NULL ? nd->root->mode : 0555;
		return;
	}
	policy_refresh(fs);
	pthread_mutex_lock(&fs->policy_lock);
	r = policy_match(fs->policy, nd->name);
	*mode = policy_mode(r, (enum acc_class)c);
	if (r != NULL) {
		*uid = r->uid;
		*gid = r->gid;
	}
	pthread_mutex_unlock(&fs->policy_lock);
}
