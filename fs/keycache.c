/*
 * keycache.c - key list, version bundles, latest pointers, misses.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keycache.h"
#include "render.h"

#define KC_BUCKETS 1024

struct kentry {
	struct kentry *next;		/* hash chain */
	struct kentry *newer, *older;	/* the LRU list */
	char *name;
	char *latest;			/* version id, or NULL */
	int64_t latest_at;
	int64_t neg_at;			/* 0: no miss remembered */
	struct kver **vers;
	size_t n_vers;
	char **versions;		/* list_versions result */
	size_t n_versions;
	int64_t versions_at;		/* 0: none */
};

struct keycache {
	pthread_mutex_t lock;
	struct kc_backend be;
	int64_t list_ttl, neg_ttl;
	/* the key list: sorted names and times */
	char **names;
	int64_t *created, *updated;
	size_t n_names;
	int64_t list_at;		/* 0: never fetched */
	bool list_stale;		/* a change made here: fetch again */
	/* Bumped by each kc_forget() and flush: what a fetch that started
	 * before may have read is not cached (it may predate the change). */
	uint64_t gen;
	struct kentry *tab[KC_BUCKETS];
	/* Least recently used entries go first past KC_MAX_ENTRIES, so
	 * names looked up (and missed) by anyone never grow it further. */
	struct kentry *newest, *oldest;
	size_t n_entries;
	/* names no list holds, asked for by name this second */
	int64_t miss_window;
	unsigned miss_gets;
	struct kc_stats stats;
};

struct kver *kver_get(struct kver *v)
{
	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	return v;
}

void kver_put(struct kver *v)
{
	if (v == NULL || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	hsm_key_cleanup(&v->key);
	EVP_PKEY_free(v->pk);
	free(v->pem);
	free(v->der);
	free(v->info);
	free(v->algs);
	free(v);
}

struct kver *kver_build(struct hsm_key *k)
{
	struct kver *v = calloc(1, sizeof(*v));

	if (v == NULL) {
		hsm_key_cleanup(k);
		return NULL;
	}
	v->refs = 1;
	v->key = *k;
	memset(k, 0, sizeof(*k));
	render_keyshape(&v->key, &v->shape);
	if (v->key.kty != KEY_OCT &&
	    render_public(&v->key, &v->pk, &v->pem, &v->pem_len, &v->der,
			  &v->der_len) != 0)
		goto fail;
	if (render_info(&v->key, &v->info, &v->info_len) != 0)
		goto fail;
	v->algs = algs_text(&v->shape);
	if (v->algs == NULL)
		goto fail;
	v->algs_len = strlen(v->algs);
	v->jwk_len = v->key.jwk_json ? strlen(v->key.jwk_json) : 0;
	v->meta_len = v->key.bundle_json ? strlen(v->key.bundle_json) : 0;
	return v;
fail:
	kver_put(v);
	return NULL;
}

static int64_t now_ms(struct keycache *kc)
{
	struct timespec ts;

	if (kc->be.now_ms != NULL)
		return kc->be.now_ms(kc->be.arg);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned hash(const char *s)
{
	unsigned h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % KC_BUCKETS;
}

static void lru_del(struct keycache *kc, struct kentry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		kc->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		kc->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push(struct keycache *kc, struct kentry *e)
{
	e->older = kc->newest;
	e->newer = NULL;
	if (kc->newest != NULL)
		kc->newest->newer = e;
	else
		kc->oldest = e;
	kc->newest = e;
}

static void entry_free(struct kentry *e);

/* Take e out of the table and free it (lock held). */
static void entry_drop(struct keycache *kc, struct kentry *e)
{
	struct kentry **pp = &kc->tab[hash(e->name)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	lru_del(kc, e);
	kc->n_entries--;
	entry_free(e);
}

/* NAME's entry, now the most recently used; create: made when missing
 * (the least recently used going past KC_MAX_ENTRIES). */
static struct kentry *find(struct keycache *kc, const char *name, bool create)
{
	unsigned h = hash(name);
	struct kentry *e;

	for (e = kc->tab[h]; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			break;
	if (e != NULL || !create) {
		if (e != NULL && e != kc->newest) {
			lru_del(kc, e);
			lru_push(kc, e);
		}
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->name = strdup(name);
	if (e->name == NULL) {
		free(e);
		return NULL;
	}
	while (kc->n_entries >= KC_MAX_ENTRIES && kc->oldest != NULL)
		entry_drop(kc, kc->oldest);
	e->next = kc->tab[h];
	kc->tab[h] = e;
	lru_push(kc, e);
	kc->n_entries++;
	return e;
}

static struct kver *find_ver(struct kentry *e, const char *version)
{
	size_t i;

	for (i = 0; e != NULL && version != NULL && i < e->n_vers; i++)
		if (strcmp(e->vers[i]->key.version, version) == 0)
			return e->vers[i];
	return NULL;
}

void kc_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
}

static void entry_free(struct kentry *e)
{
	size_t i;

	for (i = 0; i < e->n_vers; i++)
		kver_put(e->vers[i]);
	free(e->vers);
	kc_names_free(e->versions, e->n_versions);
	free(e->latest);
	free(e->name);
	free(e);
}

static void flush_locked(struct keycache *kc)
{
	size_t i;

	for (i = 0; i < KC_BUCKETS; i++)
		while (kc->tab[i] != NULL)
			entry_drop(kc, kc->tab[i]);
	kc_names_free(kc->names, kc->n_names);
	free(kc->created);
	free(kc->updated);
	kc->names = NULL;
	kc->created = kc->updated = NULL;
	kc->n_names = 0;
	kc->list_at = 0;
	kc->gen++;
}

struct keycache *kc_new(const struct kc_backend *be, int64_t list_ttl_ms,
			int64_t neg_ttl_ms)
{
	struct keycache *kc = calloc(1, sizeof(*kc));

	if (kc == NULL)
		return NULL;
	pthread_mutex_init(&kc->lock, NULL);
	kc->be = *be;
	kc->list_ttl = list_ttl_ms;
	kc->neg_ttl = neg_ttl_ms;
	return kc;
}

void kc_free(struct keycache *kc)
{
	if (kc == NULL)
		return;
	flush_locked(kc);
	pthread_mutex_destroy(&kc->lock);
	free(kc);
}

void kc_flush(struct keycache *kc)
{
	pthread_mutex_lock(&kc->lock);
	flush_locked(kc);
	pthread_mutex_unlock(&kc->lock);
}

bool kc_status_transient(enum hsm_status st)
{
	return st == HSM_E_UNREACHABLE || st == HSM_E_TIMEOUT ||
	       st == HSM_E_THROTTLED || st == HSM_E_SERVER;
}

static bool fresh(struct keycache *kc, int64_t at, int64_t ttl, int64_t now)
{
	return at != 0 && now - at < ttl;
}

/* The key list is fresh (lock held). */
static bool list_fresh(struct keycache *kc)
{
	return !kc->list_stale && fresh(kc, kc->list_at, kc->list_ttl,
					now_ms(kc));
}

void kc_forget(struct keycache *kc, const char *name)
{
	struct kentry *e;

	pthread_mutex_lock(&kc->lock);
	/* The names stay for stale serving; the next lookup fetches. */
	kc->list_stale = true;
	kc->gen++;
	if (name != NULL && (e = find(kc, name, false)) != NULL)
		entry_drop(kc, e);
	pthread_mutex_unlock(&kc->lock);
}

struct name_time {
	char *name;
	int64_t created, updated;
};

static int cmp_nt(const void *a, const void *b)
{
	return strcmp(((const struct name_time *)a)->name,
		      ((const struct name_time *)b)->name);
}

/* Copy the names of the locked list (or of the list given). */
static enum hsm_status copy_names(char *const *src, size_t n, char ***out,
				  size_t *n_out)
{
	char **v = calloc(n ? n : 1, sizeof(*v));
	size_t i;

	if (v == NULL)
		return HSM_E_NOMEM;
	for (i = 0; i < n; i++) {
		v[i] = strdup(src[i]);
		if (v[i] == NULL) {
			kc_names_free(v, i);
			return HSM_E_NOMEM;
		}
	}
	*out = v;
	*n_out = n;
	return HSM_OK;
}

/* Fetch the list and install it; called without the lock. */
static enum hsm_status refresh_list(struct keycache *kc, struct hsm_call *call,
				    uint64_t gen)
{
	struct hsm_key_list l = {0};
	struct name_time *nt;
	char **names;
	int64_t *cr, *up;
	enum hsm_status st;
	size_t i;

	st = kc->be.list(kc->be.arg, call, &l);
	if (st != HSM_OK)
		return st;
	nt = calloc(l.n ? l.n : 1, sizeof(*nt));
	names = calloc(l.n ? l.n : 1, sizeof(*names));
	cr = calloc(l.n ? l.n : 1, sizeof(*cr));
	up = calloc(l.n ? l.n : 1, sizeof(*up));
	if (nt == NULL || names == NULL || cr == NULL || up == NULL) {
		st = HSM_E_NOMEM;
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		nt[i].name = l.items[i].name;
		nt[i].created = l.items[i].attrs.created;
		nt[i].updated = l.items[i].attrs.updated;
	}
	qsort(nt, l.n, sizeof(*nt), cmp_nt);
	for (i = 0; i < l.n; i++) {
		names[i] = strdup(nt[i].name ? nt[i].name : "");
		if (names[i] == NULL) {
			kc_names_free(names, i);
			names = NULL;
			st = HSM_E_NOMEM;
			goto out;
		}
		cr[i] = nt[i].created;
		up[i] = nt[i].updated;
	}
	pthread_mutex_lock(&kc->lock);
	kc_names_free(kc->names, kc->n_names);
	free(kc->created);
	free(kc->updated);
	kc->names = names;
	kc->created = cr;
	kc->updated = up;
	kc->n_names = l.n;
	kc->list_at = now_ms(kc);
	/* served now, fetched again if a change raced with the fetch */
	kc->list_stale = kc->gen != gen;
	pthread_mutex_unlock(&kc->lock);
	names = NULL;
	cr = up = NULL;
out:
	free(nt);
	free(names);
	free(cr);
	free(up);
	hsm_key_list_cleanup(&l);
	return st;
}

enum hsm_status kc_list(struct keycache *kc, struct hsm_call *call,
			char ***names, size_t *n)
{
	enum hsm_status st = HSM_OK;
	uint64_t gen;
	bool have;

	*names = NULL;
	*n = 0;
	pthread_mutex_lock(&kc->lock);
	gen = kc->gen;
	have = list_fresh(kc);
	if (have)
		kc->stats.hits++;
	else
		kc->stats.misses++;
	pthread_mutex_unlock(&kc->lock);
	if (!have)
		st = refresh_list(kc, call, gen);
	pthread_mutex_lock(&kc->lock);
	if (st != HSM_OK && kc_status_transient(st) && kc->list_at != 0) {
		kc->stats.stale_served++;
		st = HSM_OK;
	}
	if (st == HSM_OK)
		st = copy_names(kc->names, kc->n_names, names, n);
	pthread_mutex_unlock(&kc->lock);
	return st;
}

static int cmp_str(const void *key, const void *elem)
{
	return strcmp(key, *(char *const *)elem);
}

/*
 * May a name no list holds be asked for by name (lock held)?  A key
 * made elsewhere is then seen at once; but past KC_MISS_GETS such names
 * a second (someone stats made-up names by the thousand: issue 11) the
 * list answers instead, fetched at most every neg_ttl, so a key made
 * elsewhere shows within neg_ttl, like any miss (DESIGN.md §3.4).
 */
static bool miss_allowed(struct keycache *kc)
{
	int64_t now = now_ms(kc);

	if (kc->miss_window == 0 || now - kc->miss_window >= 1000) {
		kc->miss_window = now ? now : 1;
		kc->miss_gets = 0;
	}
	return kc->miss_gets++ < KC_MISS_GETS;
}

/* Answer for NAME from a list at most neg_ttl old (lock held, and
 * released here). */
static enum hsm_status miss_from_list(struct keycache *kc,
				      struct hsm_call *call, const char *name,
				      int64_t *created, int64_t *updated)
{
	enum hsm_status st = HSM_OK;
	uint64_t gen = kc->gen;
	char **hit = NULL;

	if (kc->list_stale || !fresh(kc, kc->list_at, kc->neg_ttl,
				     now_ms(kc))) {
		pthread_mutex_unlock(&kc->lock);
		st = refresh_list(kc, call, gen);
		pthread_mutex_lock(&kc->lock);
	}
	if (st == HSM_OK && kc->list_at != 0)
		hit = bsearch(name, kc->names, kc->n_names, sizeof(char *),
			      cmp_str);
	if (st == HSM_OK && hit == NULL)
		st = HSM_E_NOT_FOUND;
	if (hit != NULL && created)
		*created = kc->created[hit - kc->names];
	if (hit != NULL && updated)
		*updated = kc->updated[hit - kc->names];
	kc->stats.hits++;
	pthread_mutex_unlock(&kc->lock);
	return st;
}

enum hsm_status kc_key_exists(struct keycache *kc, struct hsm_call *call,
			      const char *name, int64_t *created,
			      int64_t *updated)
{
	struct kver *v = NULL;
	enum hsm_status st;
	char **hit = NULL;

	if (created)
		*created = 0;
	if (updated)
		*updated = 0;
	pthread_mutex_lock(&kc->lock);
	/* A fresh list that names the key answers without a request, which
	 * is what keeps `ls -l keys/` at the list requests alone. */
	if (kc->list_at != 0)
		hit = bsearch(name, kc->names, kc->n_names, sizeof(char *),
			      cmp_str);
	if (hit != NULL && list_fresh(kc)) {
		size_t i = (size_t)(hit - kc->names);

		if (created)
			*created = kc->created[i];
		if (updated)
			*updated = kc->updated[i];
		kc->stats.hits++;
		pthread_mutex_unlock(&kc->lock);
		return HSM_OK;
	}
	if (hit == NULL && !miss_allowed(kc))
		return miss_from_list(kc, call, name, created, updated);
	pthread_mutex_unlock(&kc->lock);
	st = kc_get(kc, call, name, NULL, &v);
	if (st == HSM_OK) {
		if (created)
			*created = v->key.attrs.created;
		if (updated)
			*updated = v->key.attrs.updated;
		kver_put(v);
	} else if (kc_status_transient(st) && hit != NULL) {
		/* Unreachable, but a stale list still names it. */
		st = HSM_OK;
	}
	return st;
}

/* Install a fetched version (lock held); returns a new reference. */
static struct kver *install(struct keycache *kc, struct kentry *e,
			    struct kver *v, bool latest, int64_t now)
{
	struct kver *have = find_ver(e, v->key.version);

	if (latest) {
		char *l = strdup(v->key.version);

		if (l != NULL) {
			free(e->latest);
			e->latest = l;
			e->latest_at = now;
		}
		e->neg_at = 0;
	}
	if (have != NULL) {
		kver_put(v);
		return kver_get(have);
	}
	{
		struct kver **nv = realloc(e->vers, (e->n_vers + 1) * sizeof(*nv));

		if (nv == NULL)
			return v;	/* not cached, still usable */
		e->vers = nv;
		e->vers[e->n_vers++] = v;
	}
	return kver_get(v);
}

enum hsm_status kc_get(struct keycache *kc, struct hsm_call *call,
		       const char *name, const char *version,
		       struct kver **out)
{
	struct hsm_key k = {0};
	struct kentry *e;
	struct kver *v;
	enum hsm_status st;
	uint64_t gen;
	int64_t now;
	bool latest = version == NULL || version[0] == '\0';

	*out = NULL;
	pthread_mutex_lock(&kc->lock);
	now = now_ms(kc);
	e = find(kc, name, false);
	if (e != NULL) {
		if (latest && e->latest != NULL &&
		    fresh(kc, e->latest_at, kc->list_ttl, now))
			v = find_ver(e, e->latest);
		else
			v = latest ? NULL : find_ver(e, version);
		if (v != NULL) {
			kc->stats.hits++;
			*out = kver_get(v);
			pthread_mutex_unlock(&kc->lock);
			return HSM_OK;
		}
		if (latest && fresh(kc, e->neg_at, kc->neg_ttl, now)) {
			kc->stats.hits++;
			pthread_mutex_unlock(&kc->lock);
			return HSM_E_NOT_FOUND;
		}
	}
	kc->stats.misses++;
	gen = kc->gen;
	pthread_mutex_unlock(&kc->lock);

	st = kc->be.get(kc->be.arg, call, name, latest ? NULL : version, &k);
	if (st == HSM_OK && (k.version == NULL || k.name == NULL))
		st = HSM_E_PROTOCOL;
	if (st != HSM_OK) {
		hsm_key_cleanup(&k);
		pthread_mutex_lock(&kc->lock);
		e = find(kc, name, st == HSM_E_NOT_FOUND && latest);
		if (st == HSM_E_NOT_FOUND && latest && e != NULL) {
			e->neg_at = now_ms(kc);
			if (e->neg_at == 0)
				e->neg_at = 1;
		} else if (kc_status_transient(st) && e != NULL) {
			v = find_ver(e, latest ? e->latest : version);
			if (v != NULL) {
				kc->stats.stale_served++;
				*out = kver_get(v);
				st = HSM_OK;
			}
		}
		pthread_mutex_unlock(&kc->lock);
		return st;
	}
	v = kver_build(&k);
	if (v == NULL)
		return HSM_E_PROTOCOL;
	pthread_mutex_lock(&kc->lock);
	e = kc->gen == gen ? find(kc, name, true) : NULL;
	if (e == NULL)
		*out = v;	/* cannot (or must not) cache: still answer */
	else
		*out = install(kc, e, v, latest, now_ms(kc));
	pthread_mutex_unlock(&kc->lock);
	return HSM_OK;
}

enum hsm_status kc_versions(struct keycache *kc, struct hsm_call *call,
			    const char *name, char ***versions, size_t *n)
{
	struct hsm_key_list l = {0};
	struct kentry *e;
	enum hsm_status st;
	char **v = NULL;
	uint64_t gen;
	size_t i;

	*versions = NULL;
	*n = 0;
	pthread_mutex_lock(&kc->lock);
	e = find(kc, name, false);
	if (e != NULL && fresh(kc, e->versions_at, kc->list_ttl, now_ms(kc))) {
		st = copy_names(e->versions, e->n_versions, versions, n);
		pthread_mutex_unlock(&kc->lock);
		return st;
	}
	gen = kc->gen;
	pthread_mutex_unlock(&kc->lock);
	st = kc->be.list_versions(kc->be.arg, call, name, &l);
	if (st == HSM_OK) {
		v = calloc(l.n ? l.n : 1, sizeof(*v));
		if (v == NULL)
			st = HSM_E_NOMEM;
		for (i = 0; st == HSM_OK && i < l.n; i++) {
			v[i] = strdup(l.items[i].version ? l.items[i].version : "");
			if (v[i] == NULL) {
				kc_names_free(v, i);
				v = NULL;
				st = HSM_E_NOMEM;
			}
		}
	}
	pthread_mutex_lock(&kc->lock);
	if (st == HSM_OK) {
		e = kc->gen == gen ? find(kc, name, true) : NULL;
		if (e != NULL) {
			kc_names_free(e->versions, e->n_versions);
			e->versions = v;
			e->n_versions = l.n;
			e->versions_at = now_ms(kc);
			if (e->versions_at == 0)
				e->versions_at = 1;
			st = copy_names(v, l.n, versions, n);
		} else {
			*versions = v;
			*n = l.n;
		}
	} else if (kc_status_transient(st)) {
		e = find(kc, name, false);
		if (e != NULL && e->versions_at != 0) {
			kc->stats.stale_served++;
			st = copy_names(e->versions, e->n_versions, versions, n);
		}
	}
	pthread_mutex_unlock(&kc->lock);
	hsm_key_list_cleanup(&l);
	return st;
}

void kc_get_stats(struct keycache *kc, struct kc_stats *out)
{
	pthread_mutex_lock(&kc->lock);
	*out = kc->stats;
	out->entries = kc->n_entries;
	pthread_mutex_unlock(&kc->lock);
}
