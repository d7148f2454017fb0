/*
 * identities.c - the identity table: defaults plus an --identities file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "identities_i.h"
#include "keys_json_i.h"
#include "secret.h"

#define DEFAULT_CLIENT "hsmfs-local"
#define DEFAULT_SECRET "local-secret"
#define DEFAULT_MI "hsmfs-mi"
#define DEFAULT_HEADER "local-identity-header"

struct identities {
	struct emu_identity *v;
	size_t n, cap;
	char *identity_header;
};

static int role_from_name(const char *name)
{
	static const char *const names[] = { "none", "reader", "user", "officer" };

	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* A stable object id: the first 16 bytes of SHA-256(client id), shaped
 * as a UUID, so that tokens for one identity always carry the same oid. */
static void derive_oid(const char *client_id, char out[37])
{
	uint8_t h[32];
	unsigned hl = 0;

	if (EVP_Digest(client_id, strlen(client_id), h, &hl, EVP_sha256(), NULL) != 1)
		memset(h, 0, sizeof(h));
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9],
		 h[10], h[11], h[12], h[13], h[14], h[15]);
}

static struct emu_identity *add(struct identities *ids, const char *client_id,
				bool managed, enum emu_role role)
{
	struct emu_identity *e;

	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 8;
		struct emu_identity *nv = realloc(ids->v, cap * sizeof(*nv));
		if (nv == NULL)
			return NULL;
		ids->v = nv;
		ids->cap = cap;
	}
	e = &ids->v[ids->n];
	memset(e, 0, sizeof(*e));
	e->client_id = strdup(client_id);
	if (e->client_id == NULL)
		return NULL;
	e->managed = managed;
	e->role = role;
	derive_oid(client_id, e->oid);
	ids->n++;
	return e;
}

void identities_free(struct identities *ids)
{
	if (ids == NULL)
		return;
	for (size_t i = 0; i < ids->n; i++) {
		struct emu_identity *e = &ids->v[i];
		free(e->client_id);
		if (e->secret != NULL)
			secret_wipe_free(e->secret, strlen(e->secret));
		free(e->federated_subject);
		EVP_PKEY_free(e->cert_key);
	}
	free(ids->v);
	free(ids->identity_header);
	free(ids);
}

static int load_cert(struct emu_identity *e, const char *path,
		     char *err, size_t errlen)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *c = NULL;
	unsigned n;
	int rc = -1;

	if (b == NULL) {
		snprintf(err, errlen, "client '%s': cannot read certificate %s: %s",
			 e->client_id, path, strerror(errno ? errno : ENOENT));
		goto out;
	}
	c = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (c == NULL) {
		snprintf(err, errlen, "client '%s': %s holds no PEM certificate",
			 e->client_id, path);
		goto out;
	}
	e->cert_key = X509_get_pubkey(c);
	if (e->cert_key == NULL || EVP_PKEY_base_id(e->cert_key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "client '%s': the certificate in %s must have an RSA key",
			 e->client_id, path);
		goto out;
	}
	if (X509_digest(c, EVP_sha1(), e->x5t, &n) != 1 ||
	    X509_digest(c, EVP_sha256(), e->x5t_s256, &n) != 1) {
		snprintf(err, errlen, "client '%s': cannot hash %s", e->client_id, path);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	X509_free(c);
	BIO_free(b);
	return rc;
}

static int role_member(json_object *o, const char *who, enum emu_role *role,
		       char *err, size_t errlen)
{
	const char *r = jmember_str(o, "role");
	int v;

	if (r == NULL) {
		*role = ROLE_OFFICER;
		return 0;
	}
	v = role_from_name(r);
	if (v < 0) {
		snprintf(err, errlen, "identity '%s': unknown role '%s' (use none, reader, user or officer)",
			 who, r);
		return -1;
	}
	*role = (enum emu_role)v;
	return 0;
}

/* The client_id and role of entry i of "clients" (managed: of
 * "managed_identities"), which must not be defined twice.  0, or -1 with
 * the reason in err. */
static int load_head(struct identities *ids, json_object *o, size_t i,
		     bool managed, const char *file, const char **id,
		     enum emu_role *role, char *err, size_t errlen)
{
	char sub[512];

	*id = jmember_str(o, "client_id");
	if (*id == NULL || **id == '\0') {
		snprintf(err, errlen, "%s: %s[%zu] needs a \"client_id\" string",
			 file, managed ? "managed_identities" : "clients", i);
		return -1;
	}
	if ((managed ? identities_managed(ids, *id) :
	     identities_client(ids, *id)) != NULL) {
		snprintf(err, errlen, "%s: %s '%s' is defined twice", file,
			 managed ? "managed identity" : "client", *id);
		return -1;
	}
	if (role_member(o, *id, role, sub, sizeof(sub)) != 0) {
		snprintf(err, errlen, "%s: %s", file, sub);
		return -1;
	}
	return 0;
}

/* Entry i of "clients" into ids.  0, or -1 with the reason in err. */
static int load_client(struct identities *ids, json_object *o, size_t i,
		       const char *file, char *err, size_t errlen)
{
	struct emu_identity *e;
	enum emu_role role;
	const char *id, *s;
	char sub[512];

	if (load_head(ids, o, i, false, file, &id, &role, err, errlen) != 0)
		return -1;
	e = add(ids, id, false, role);
	if (e == NULL)
		goto nomem;
	if ((s = jmember_str(o, "secret")) != NULL &&
	    (e->secret = strdup(s)) == NULL)
		goto nomem;
	if ((s = jmember_str(o, "federated_subject")) != NULL &&
	    (e->federated_subject = strdup(s)) == NULL)
		goto nomem;
	if ((s = jmember_str(o, "certificate")) != NULL &&
	    load_cert(e, s, sub, sizeof(sub)) != 0) {
		snprintf(err, errlen, "%s: %s", file, sub);
		return -1;
	}
	if (e->secret == NULL && e->federated_subject == NULL &&
	    e->cert_key == NULL) {
		snprintf(err, errlen, "%s: client '%s' needs \"secret\", \"certificate\" or \"federated_subject\"",
			 file, id);
		return -1;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory reading %s", file);
	return -1;
}

/* Entry i of "managed_identities" into ids. */
static int load_managed(struct identities *ids, json_object *o, size_t i,
			const char *file, char *err, size_t errlen)
{
	enum emu_role role;
	const char *id;

	if (load_head(ids, o, i, true, file, &id, &role, err, errlen) != 0)
		return -1;
	if (add(ids, id, true, role) == NULL) {
		snprintf(err, errlen, "out of memory reading %s", file);
		return -1;
	}
	return 0;
}

typedef int (*load_one_fn)(struct identities *, json_object *, size_t,
			   const char *, char *, size_t);

/* The array member name of root, each entry through load_one. */
static int load_array(struct identities *ids, json_object *root,
		      const char *name, load_one_fn load_one,
		      const char *file, char *err, size_t errlen)
{
	json_object *arr;

	if (!json_object_object_get_ex(root, name, &arr))
		return 0;
	if (!json_object_is_type(arr, json_type_array)) {
		snprintf(err, errlen, "%s: \"%s\" must be an array", file, name);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (load_one(ids, json_object_array_get_idx(arr, i), i, file,
			     err, errlen) != 0)
			return -1;
	return 0;
}

static int load_file(struct identities *ids, const char *file,
		     char *err, size_t errlen)
{
	json_object *root = json_object_from_file(file);
	const char *s;
	char *h;
	int rc = -1;

	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "cannot read identities file %s: %s", file,
			 root ? "not a JSON object" : json_util_get_last_err());
		err[strcspn(err, "\n")] = '\0';	/* json-c ends its text with one */
		goto out;
	}
	if (load_array(ids, root, "clients", load_client, file, err, errlen) != 0 ||
	    load_array(ids, root, "managed_identities", load_managed, file,
		       err, errlen) != 0)
		goto out;
	if ((s = jmember_str(root, "identity_header")) != NULL) {
		h = strdup(s);
		if (h == NULL) {
			snprintf(err, errlen, "out of memory reading %s", file);
			goto out;
		}
		free(ids->identity_header);
		ids->identity_header = h;
	}
	rc = 0;
out:
	json_object_put(root);
	return rc;
}

struct identities *identities_load(const char *file, char *err, size_t errlen)
{
	struct identities *ids = calloc(1, sizeof(*ids));
	struct emu_identity *e;

	if (ids == NULL)
		goto nomem;
	ids->identity_header = strdup(DEFAULT_HEADER);
	if (ids->identity_header == NULL)
		goto nomem;
	e = add(ids, DEFAULT_CLIENT, false, ROLE_OFFICER);
	if (e == NULL || (e->secret = strdup(DEFAULT_SECRET)) == NULL)
		goto nomem;
	if (add(ids, DEFAULT_MI, true, ROLE_OFFICER) == NULL)
		goto nomem;
	if (file != NULL && load_file(ids, file, err, errlen) != 0) {
		identities_free(ids);
		return NULL;
	}
	return ids;
nomem:
	snprintf(err, errlen, "out of memory");
	identities_free(ids);
	return NULL;
}

const struct emu_identity *identities_client(const struct identities *ids,
					     const char *client_id)
{
	for (size_t i = 0; i < ids->n; i++)
		if (!ids->v[i].managed && strcmp(ids->v[i].client_id, client_id) == 0)
			return &ids->v[i];
	return NULL;
}

const struct emu_identity *identities_managed(const struct identities *ids,
					      const char *client_id)
{
	if (client_id == NULL)
		client_id = DEFAULT_MI;
	for (size_t i = 0; i < ids->n; i++)
		if (ids->v[i].managed && strcmp(ids->v[i].client_id, client_id) == 0)
			return &ids->v[i];
	return NULL;
}

const char *identities_header(const struct identities *ids)
{
	return ids->identity_header;
}
