/*
 * store.c - the emulator's key store: versions, entries, the name
 * index, persistence (one file per key, written atomically) and what
 * backup blobs hold (an entry as JSON; the envelope is backup_blob.c's).
 *
 * Files: DIR/keys/<lower-case name>.json, mode 0600, holding every version
 * with its private key as PKCS#8 DER (or the AES bytes), the deleted state
 * and the rotation policy.  DIR/backup.key holds the 64-byte key that
 * protects backup blobs, so a blob survives restarts of the same store.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup_blob_i.h"
#include "codec.h"
#include "keys_json_i.h"
#include "material_i.h"
#include "store_i.h"
#include "pkey.h"
#include "sym.h"

int64_t store_now(void)
{
	return (int64_t)time(NULL);
}

/* Fill out (2 * nbytes + 1 chars) with nbytes random bytes in lower-case
 * hex; nbytes is at most 32.  Aborts if the RNG fails. */
static void random_hex(char *out, size_t nbytes)
{
	static const char hexd[] = "0123456789abcdef";
	uint8_t buf[32];

	if (nbytes > sizeof(buf))
		nbytes = sizeof(buf);
	if (random_bytes(buf, nbytes) != 0) {
		/* The RNG failing is not recoverable in an HSM emulator. */
		abort();
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hexd[buf[i] >> 4];
		out[2 * i + 1] = hexd[buf[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

/* ---- versions ---- */

static void tags_free(struct key_tag *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].value);
	}
	free(t);
}

void ver_free(struct key_ver *v)
{
	if (v == NULL)
		return;
	mat_put(v->m);
	tags_free(v->tags, v->ntags);
	free(v);
}

struct key_ver *ver_new(struct key_mat *m, int64_t now)
{
	struct key_ver *v = calloc(1, sizeof(*v));

	if (v == NULL) {
		mat_put(m);
		return NULL;
	}
	random_hex(v->id, KEY_VERSION_LEN / 2);
	v->m = m;
	v->enabled = true;
	v->created = v->updated = now;
	return v;
}

int ver_set_tags(struct key_ver *v, struct json_object *obj)
{
	struct key_tag *t = NULL;
	size_t n = 0;

	if (obj != NULL && json_object_object_length(obj) > 0) {
		t = calloc((size_t)json_object_object_length(obj), sizeof(*t));
		if (t == NULL)
			return -ENOMEM;
		json_object_object_foreach(obj, key, val) {
			t[n].name = strdup(key);
			t[n].value = strdup(json_object_get_string(val));
			n++;
			if (t[n - 1].name == NULL || t[n - 1].value == NULL) {
				tags_free(t, n);
				return -ENOMEM;
			}
		}
	}
	tags_free(v->tags, v->ntags);
	v->tags = t;
	v->ntags = n;
	return 0;
}

/* ---- entries and the index ---- */

static uint64_t name_hash(const char *lname)
{
	uint64_t h = 1469598103934665603ull;

	for (; *lname != '\0'; lname++)
		h = (h ^ (uint8_t)*lname) * 1099511628211ull;
	return h;
}

static char *lower_dup(const char *s)
{
	char *l = strdup(s);

	if (l != NULL)
		for (char *p = l; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	return l;
}

struct key_entry *store_find(struct keystore *ks, const char *name)
{
	char lname[KEY_NAME_MAX + 1];
	size_t i;
	struct key_entry *e;

	for (i = 0; name[i] != '\0'; i++) {
		if (i >= KEY_NAME_MAX)
			return NULL;
		lname[i] = (char)tolower((unsigned char)name[i]);
	}
	lname[i] = '\0';
	e = ks->buckets[name_hash(lname) & (ks->nbuckets - 1)];
	for (; e != NULL; e = e->hnext)
		if (strcmp(e->lname, lname) == 0)
			return e;
	return NULL;
}

struct key_ver *entry_version(struct key_entry *e, const char *id)
{
	if (e->nvers == 0)
		return NULL;
	if (id == NULL || *id == '\0')
		return e->vers[e->nvers - 1];
	for (size_t i = e->nvers; i-- > 0;)
		if (strcasecmp(e->vers[i]->id, id) == 0)
			return e->vers[i];
	return NULL;
}

void entry_free(struct key_entry *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nvers; i++)
		ver_free(e->vers[i]);
	free(e->vers);
	free(e->name);
	free(e->lname);
	free(e);
}

static struct key_entry *entry_new(const char *name)
{
	struct key_entry *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->name = strdup(name);
	e->lname = lower_dup(name);
	if (e->name == NULL || e->lname == NULL) {
		entry_free(e);
		return NULL;
	}
	return e;
}

static int rehash(struct keystore *ks)
{
	size_t n = ks->nbuckets * 2;
	struct key_entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ks->nbuckets; i++) {
		struct key_entry *e = ks->buckets[i], *next;

		for (; e != NULL; e = next) {
			size_t h = name_hash(e->lname) & (n - 1);

			next = e->hnext;
			e->hnext = b[h];
			b[h] = e;
		}
	}
	free(ks->buckets);
	ks->buckets = b;
	ks->nbuckets = n;
	return 0;
}

/*
 * Add e to the hash and to the creation order.  keep_seq: e comes from
 * disk with the sequence number it was created with; files are read in
 * directory order, and keystore_open() sorts by seq afterwards, so lists
 * keep creation order across restarts.  Otherwise e goes to the end.
 */
static int insert_entry(struct keystore *ks, struct key_entry *e, bool keep_seq)
{
	size_t h;

	if (ks->count >= ks->nbuckets && rehash(ks) != 0)
		return -ENOMEM;
	if (ks->norder == ks->ordcap) {
		size_t cap = ks->ordcap ? ks->ordcap * 2 : 256;
		struct key_entry **o = realloc(ks->order, cap * sizeof(*o));

		if (o == NULL)
			return -ENOMEM;
		ks->order = o;
		ks->ordcap = cap;
	}
	if (e->seq == 0 || (!keep_seq && ks->norder > 0 &&
			    e->seq <= ks->order[ks->norder - 1]->seq))
		e->seq = ks->next_seq;
	if (e->seq >= ks->next_seq)
		ks->next_seq = e->seq + 1;
	ks->order[ks->norder++] = e;
	h = name_hash(e->lname) & (ks->nbuckets - 1);
	e->hnext = ks->buckets[h];
	ks->buckets[h] = e;
	ks->count++;
	return 0;
}

int store_insert_entry(struct keystore *ks, struct key_entry *e)
{
	return insert_entry(ks, e, false);
}

struct key_entry *store_add_entry(struct keystore *ks, const char *name)
{
	struct key_entry *e = entry_new(name);

	if (e == NULL)
		return NULL;
	e->seq = ks->next_seq;
	if (store_insert_entry(ks, e) != 0) {
		entry_free(e);
		return NULL;
	}
	return e;
}

int entry_add_version(struct key_entry *e, struct key_ver *v)
{
	if (e->nvers == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 4;
		struct key_ver **n = realloc(e->vers, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		e->vers = n;
		e->cap = cap;
	}
	e->vers[e->nvers++] = v;
	return 0;
}

size_t store_order_from(struct keystore *ks, uint64_t seq)
{
	size_t lo = 0, hi = ks->norder;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ks->order[mid]->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static char *entry_path(const struct keystore *ks, const char *lname,
			const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/keys/%s.json%s", ks->dir, lname, suffix) < 0)
		return NULL;
	return p;
}

void store_purge(struct keystore *ks, struct key_entry *e)
{
	size_t h = name_hash(e->lname) & (ks->nbuckets - 1);
	struct key_entry **pp = &ks->buckets[h];
	size_t i;

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	i = store_order_from(ks, e->seq);
	if (i < ks->norder && ks->order[i] == e) {
		memmove(&ks->order[i], &ks->order[i + 1],
			(ks->norder - i - 1) * sizeof(*ks->order));
		ks->norder--;
	}
	ks->count--;
	if (ks->dir != NULL) {
		char *p = entry_path(ks, e->lname, "");

		if (p != NULL)
			unlink(p);
		free(p);
	}
	entry_free(e);
}

/* ---- serialization ---- */

static const char *kty_tag(enum key_type t)
{
	return t == KEY_RSA ? "RSA" : t == KEY_EC ? "EC" : "oct";
}

/* Cleanse the bytes of a JSON string member that held a secret; json-c
 * owns the buffer and would free it without wiping. */
static void json_wipe_str(struct json_object *s)
{
	if (s != NULL && json_object_is_type(s, json_type_string)) {
		char *p = (char *)json_object_get_string(s);

		secret_wipe(p, strlen(p));
	}
}

static void entry_json_wipe(struct json_object *o)
{
	struct json_object *vers, *m;

	if (!json_object_object_get_ex(o, "versions", &vers))
		return;
	for (size_t i = 0; i < json_object_array_length(vers); i++) {
		struct json_object *v = json_object_array_get_idx(vers, i);

		if (json_object_object_get_ex(v, "der", &m))
			json_wipe_str(m);
		if (json_object_object_get_ex(v, "k", &m))
			json_wipe_str(m);
	}
}

static void put_secret_json(struct json_object *o)
{
	if (o != NULL) {
		entry_json_wipe(o);
		json_object_put(o);
	}
}

static struct json_object *ver_to_json(const struct key_ver *v)
{
	struct json_object *o = json_object_new_object(), *tags;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int err;

	if (o == NULL)
		return NULL;
	jadd_str(o, "id", v->id);
	jadd_str(o, "kty", kty_tag(v->m->kty));
	if (v->m->software)
		jadd_bool(o, "software", true);
	if (v->m->kty == KEY_OCT) {
		err = jadd_b64(o, "k", secret_bytes(v->m->k), secret_len(v->m->k));
	} else {
		err = pkey_private_der(v->m->pkey, &der, &der_len);
		if (err == 0)
			err = jadd_b64(o, "der", der, der_len);
		secret_wipe_free(der, der_len);
	}
	if (err != 0) {
		entry_json_wipe(o);
		json_object_put(o);
		return NULL;
	}
	jadd_int(o, "ops", v->ops);
	jadd_bool(o, "enabled", v->enabled);
	jadd_int(o, "nbf", v->nbf);
	jadd_int(o, "exp", v->exp);
	jadd_int(o, "created", v->created);
	jadd_int(o, "updated", v->updated);
	tags = json_object_new_object();
	for (size_t i = 0; tags != NULL && i < v->ntags; i++)
		jadd_str(tags, v->tags[i].name, v->tags[i].value);
	json_object_object_add(o, "tags", tags);
	return o;
}

/* Serialize an entry, private material included (the object holds
 * secrets: free it through put_secret_json()). */
static struct json_object *entry_to_json(const struct key_entry *e)
{
	struct json_object *o = json_object_new_object(), *vers, *pol, *acts;

	if (o == NULL)
		return NULL;
	jadd_str(o, "name", e->name);
	jadd_int(o, "seq", (int64_t)e->seq);
	jadd_bool(o, "deleted", e->deleted);
	jadd_int(o, "deletedDate", e->deleted_date);
	if (e->pol.set) {
		pol = json_object_new_object();
		jadd_int(pol, "created", e->pol.created);
		jadd_int(pol, "updated", e->pol.updated);
		jadd_str(pol, "expiryTime", e->pol.expiry);
		acts = json_object_new_array();
		for (size_t i = 0; i < e->pol.nactions; i++) {
			struct json_object *a = json_object_new_object();

			jadd_str(a, "trigger", e->pol.actions[i].trigger);
			jadd_str(a, "dur", e->pol.actions[i].dur);
			json_object_array_add(acts, a);
		}
		json_object_object_add(pol, "actions", acts);
		json_object_object_add(o, "policy", pol);
	}
	vers = json_object_new_array();
	json_object_object_add(o, "versions", vers);
	for (size_t i = 0; i < e->nvers; i++) {
		struct json_object *v = ver_to_json(e->vers[i]);

		if (v == NULL || vers == NULL) {
			put_secret_json(o);
			return NULL;
		}
		json_object_array_add(vers, v);
	}
	return o;
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *m;

	return json_object_object_get_ex(o, k, &m) ? json_object_get_int64(m) : 0;
}

static struct key_ver *ver_from_json(struct json_object *o)
{
	const char *id = jmember_str(o, "id"), *kty = jmember_str(o, "kty"), *b;
	struct json_object *tags;
	struct key_mat *m = NULL;
	struct key_ver *v;
	uint8_t *raw = NULL;
	size_t len = 0;

	if (id == NULL || kty == NULL || !key_version_valid(id, strlen(id)))
		return NULL;
	b = jmember_str(o, strcmp(kty, "oct") == 0 ? "k" : "der");
	if (b == NULL || b64url_decode(b, strlen(b), &raw, &len) != 0)
		return NULL;
	if (strcmp(kty, "oct") == 0) {
		m = mat_from_oct(raw, len);
	} else {
		EVP_PKEY *pk = NULL;

		if (pkey_from_private_der(raw, len, &pk) == 0)
			m = mat_from_pkey(pk);
	}
	secret_wipe_free(raw, len);
	if (m == NULL)
		return NULL;
	/* Absent in stores written before the vault flavour: HSM. */
	m->software = json_object_get_boolean(json_object_object_get(o, "software"));
	v = ver_new(m, 0);
	if (v == NULL)
		return NULL;
	memcpy(v->id, id, KEY_VERSION_LEN + 1);
	v->ops = (unsigned)jint(o, "ops");
	v->enabled = json_object_get_boolean(json_object_object_get(o, "enabled"));
	v->nbf = jint(o, "nbf");
	v->exp = jint(o, "exp");
	v->created = jint(o, "created");
	v->updated = jint(o, "updated");
	if (json_object_object_get_ex(o, "tags", &tags) &&
	    ver_set_tags(v, tags) != 0) {
		ver_free(v);
		return NULL;
	}
	return v;
}

/* Rebuild an entry from entry_to_json() output; NULL when malformed. */
static struct key_entry *entry_from_json(struct json_object *o)
{
	const char *name = jmember_str(o, "name");
	struct json_object *vers, *pol, *acts;
	struct key_entry *e;

	if (name == NULL || !json_object_object_get_ex(o, "versions", &vers) ||
	    !json_object_is_type(vers, json_type_array) ||
	    json_object_array_length(vers) == 0)
		return NULL;
	e = entry_new(name);
	if (e == NULL)
		return NULL;
	e->seq = (uint64_t)jint(o, "seq");
	e->deleted = json_object_get_boolean(json_object_object_get(o, "deleted"));
	e->deleted_date = jint(o, "deletedDate");
	if (json_object_object_get_ex(o, "policy", &pol)) {
		const char *ex = jmember_str(pol, "expiryTime");

		e->pol.set = true;
		e->pol.created = jint(pol, "created");
		e->pol.updated = jint(pol, "updated");
		snprintf(e->pol.expiry, sizeof(e->pol.expiry), "%s", ex ? ex : "");
		if (json_object_object_get_ex(pol, "actions", &acts)) {
			for (size_t i = 0; i < json_object_array_length(acts) &&
			     i < POLICY_ACTIONS_MAX; i++) {
				struct json_object *a = json_object_array_get_idx(acts, i);
				const char *t = jmember_str(a, "trigger"), *d = jmember_str(a, "dur");

				snprintf(e->pol.actions[i].trigger,
					 sizeof(e->pol.actions[i].trigger), "%s", t ? t : "");
				snprintf(e->pol.actions[i].dur,
					 sizeof(e->pol.actions[i].dur), "%s", d ? d : "");
				e->pol.nactions++;
			}
		}
	}
	for (size_t i = 0; i < json_object_array_length(vers); i++) {
		struct key_ver *v = ver_from_json(json_object_array_get_idx(vers, i));

		if (v == NULL || entry_add_version(e, v) != 0) {
			ver_free(v);
			entry_free(e);
			return NULL;
		}
	}
	return e;
}

/* ---- files ---- */

/* Write len bytes to path via a temporary file and rename(), mode 0600. */
static int write_atomic(const char *path, const char *tmp, const void *buf,
			size_t len)
{
	const char *p = buf;
	int fd, err = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) != 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = -errno;
	if (err != 0)
		unlink(tmp);
	return err;
}

int store_persist(struct keystore *ks, struct key_entry *e)
{
	struct json_object *o;
	char *path = NULL, *tmp = NULL;
	const char *s;
	int err;

	if (ks->dir == NULL)
		return 0;
	o = entry_to_json(e);
	path = entry_path(ks, e->lname, "");
	tmp = entry_path(ks, e->lname, ".tmp");
	if (o == NULL || path == NULL || tmp == NULL) {
		err = -ENOMEM;
		goto out;
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	err = write_atomic(path, tmp, s, strlen(s));
	/* The serialized buffer belongs to o and holds private keys. */
	secret_wipe((char *)s, strlen(s));
out:
	put_secret_json(o);
	free(path);
	free(tmp);
	return err;
}

static int read_file(const char *path, char **out, size_t *out_len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || st.st_size > (64 << 20)) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*out_len = got;
	return 0;
}

static int load_dir(struct keystore *ks)
{
	char *kd;
	DIR *d;
	struct dirent *de;
	int err = 0;

	if (asprintf(&kd, "%s/keys", ks->dir) < 0)
		return -ENOMEM;
	if (mkdir(kd, 0700) != 0 && errno != EEXIST) {
		err = -errno;
		free(kd);
		return err;
	}
	d = opendir(kd);
	if (d == NULL) {
		err = -errno;
		free(kd);
		return err;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char *path, *buf;
		size_t len;
		struct json_object *o;
		struct key_entry *e;

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		if (asprintf(&path, "%s/%s", kd, de->d_name) < 0) {
			err = -ENOMEM;
			break;
		}
		err = read_file(path, &buf, &len);
		if (err != 0) {
			fprintf(stderr, "hsm-emulator: cannot read %s: %s\n",
				path, strerror(-err));
			free(path);
			break;
		}
		o = json_tokener_parse(buf);
		secret_wipe_free(buf, len);
		e = o != NULL ? entry_from_json(o) : NULL;
		put_secret_json(o);
		if (e == NULL) {
			fprintf(stderr, "hsm-emulator: %s is not a valid key file; "
				"move it away or delete it\n", path);
			free(path);
			err = -EINVAL;
			break;
		}
		free(path);
		if (store_find(ks, e->name) != NULL || insert_entry(ks, e, true) != 0) {
			entry_free(e);
			err = -EEXIST;
			break;
		}
	}
	closedir(d);
	free(kd);
	return err;
}

static int cmp_seq(const void *a, const void *b)
{
	const struct key_entry *x = *(struct key_entry *const *)a;
	const struct key_entry *y = *(struct key_entry *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int load_backup_key(struct keystore *ks)
{
	char *path, *tmp, *buf = NULL;
	size_t len = 0;
	int err;

	if (ks->dir == NULL)
		return random_bytes(ks->backup_key, sizeof(ks->backup_key));
	if (asprintf(&path, "%s/backup.key", ks->dir) < 0)
		return -ENOMEM;
	if (asprintf(&tmp, "%s/backup.key.tmp", ks->dir) < 0) {
		free(path);
		return -ENOMEM;
	}
	err = read_file(path, &buf, &len);
	if (err == 0 && len == sizeof(ks->backup_key)) {
		memcpy(ks->backup_key, buf, len);
	} else if (err == -ENOENT) {
		err = random_bytes(ks->backup_key, sizeof(ks->backup_key));
		if (err == 0)
			err = write_atomic(path, tmp, ks->backup_key,
					   sizeof(ks->backup_key));
	} else if (err == 0) {
		fprintf(stderr, "hsm-emulator: %s is not 64 bytes\n", path);
		err = -EINVAL;
	}
	if (buf != NULL)
		secret_wipe_free(buf, len);
	free(path);
	free(tmp);
	return err;
}

struct keystore *keystore_open(const char *dir)
{
	struct keystore *ks = calloc(1, sizeof(*ks));
	int err = 0;

	if (ks == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_rwlock_init(&ks->lock, NULL);
	ks->nbuckets = 1024;
	ks->next_seq = 1;
	ks->buckets = calloc(ks->nbuckets, sizeof(*ks->buckets));
	if (ks->buckets == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	if (dir != NULL) {
		ks->dir = strdup(dir);
		if (ks->dir == NULL) {
			err = -ENOMEM;
			goto fail;
		}
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			err = -errno;
			goto fail;
		}
		err = load_dir(ks);
		if (err != 0)
			goto fail;
		if (ks->norder > 1)
			qsort(ks->order, ks->norder, sizeof(*ks->order), cmp_seq);
	}
	err = load_backup_key(ks);
	if (err != 0)
		goto fail;
	return ks;
fail:
	keystore_close(ks);
	errno = -err;
	return NULL;
}

void keystore_close(struct keystore *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->norder; i++)
		entry_free(ks->order[i]);
	free(ks->order);
	free(ks->buckets);
	free(ks->dir);
	secret_wipe(ks->backup_key, sizeof(ks->backup_key));
	pthread_rwlock_destroy(&ks->lock);
	free(ks);
}

/* ---- backup blobs ---- */

static struct json_object *parse_secret_json(const struct secret *s)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (tok == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, (const char *)secret_bytes(s),
				  (int)secret_len(s));
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

char *store_backup(struct keystore *ks, const struct key_entry *e)
{
	struct json_object *o = entry_to_json(e);
	const char *plain;
	char *blob;

	if (o == NULL)
		return NULL;
	plain = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE);
	blob = backup_blob_seal(ks->backup_key, plain, strlen(plain));
	secret_wipe((char *)plain, strlen(plain));
	put_secret_json(o);
	return blob;
}

struct key_entry *store_restore_parse(struct keystore *ks, const char *blob,
				      size_t len)
{
	struct secret *plain = backup_blob_open(ks->backup_key, blob, len);
	struct key_entry *e = NULL;
	struct json_object *o = NULL;

	if (plain == NULL)
		return NULL;
	o = parse_secret_json(plain);
	if (o != NULL)
		e = entry_from_json(o);
	put_secret_json(o);
	secret_free(plain);
	return e;
}
