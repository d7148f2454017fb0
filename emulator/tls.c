/*
 * tls.c - the emulator's own CA and server certificate (OpenSSL's X509
 * API: crypto/ has no certificate code, and only the emulator needs it).
 *
 * Files in DIR/tls/: ca.pem, ca.key, server.pem, server.key.  Keys are
 * created with mode 0600 and written atomically, so a crash never leaves a
 * half-written key that a restart would then refuse.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "secret.h"
#include "tls_i.h"

#define VALID_DAYS 3650

char *tls_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t n = 0, cap = 0, r;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > 16u * 1024 * 1024) {
				errno = EFBIG;
				goto fail;
			}
			nb = realloc(buf, cap);
			if (nb == NULL)
				goto fail;
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		errno = EIO;
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
fail:
	{
		int e = errno;
		if (buf != NULL)
			secret_wipe_free(buf, cap);
		fclose(f);
		errno = e;
	}
	return NULL;
}

int tls_write_file(const char *path, const void *data, size_t len, int mode)
{
	char tmp[4200];
	int fd, e;
	const char *p = data;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

/* The contents of a memory BIO as a malloc()ed string; frees b (a
 * secure-memory BIO is cleansed on free). */
static char *bio_string(BIO *b, bool written)
{
	char *data, *out = NULL;
	long n;

	if (written) {
		n = BIO_get_mem_data(b, &data);
		out = malloc((size_t)n + 1);
		if (out != NULL) {
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
		}
	}
	BIO_free(b);
	return out;
}

/* PEM of a private key (PKCS#8) into a malloc()ed string. */
static char *key_to_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_secmem());

	if (b == NULL)
		return NULL;
	return bio_string(b, PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0,
						      NULL, NULL) == 1);
}

static char *cert_to_pem(X509 *c)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (b == NULL)
		return NULL;
	return bio_string(b, PEM_write_bio_X509(b, c) == 1);
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A certificate for key, signed by issuer_key (self-signed when issuer is
 * NULL).  Returns NULL on failure. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
		       EVP_PKEY *issuer_key)
{
	X509 *c = X509_new();
	X509_NAME *name;
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	bool is_ca = issuer == NULL;

	if (c == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;	/* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) == NULL)
		goto fail;
	if (X509_set_version(c, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -86400) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(c), 86400L * VALID_DAYS) == NULL ||
	    X509_set_pubkey(c, key) != 1)
		goto fail;
	name = X509_get_subject_name(c);
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
				       (const unsigned char *)"hsm-emulator", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const unsigned char *)cn, -1, -1, 0) != 1)
		goto fail;
	if (X509_set_issuer_name(c, is_ca ? name : X509_get_subject_name(issuer)) != 1)
		goto fail;
	if (is_ca) {
		if (add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		    add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    add_ext(c, c, NID_subject_key_identifier, "hash") ||
		    add_ext(c, c, NID_authority_key_identifier, "keyid:always"))
			goto fail;
	} else {
		if (add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
		    add_ext(c, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
		    add_ext(c, issuer, NID_ext_key_usage, "serverAuth") ||
		    add_ext(c, issuer, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost") ||
		    add_ext(c, issuer, NID_subject_key_identifier, "hash") ||
		    add_ext(c, issuer, NID_authority_key_identifier, "keyid:always"))
			goto fail;
	}
	if (X509_sign(c, is_ca ? key : issuer_key, EVP_sha256()) <= 0)
		goto fail;
	BN_free(bn);
	return c;
fail:
	BN_free(bn);
	X509_free(c);
	return NULL;
}

static int write_pair(const char *dir, const char *base, EVP_PKEY *k, X509 *c)
{
	char path[4096];
	char *kp = key_to_pem(k), *cp = cert_to_pem(c);
	int rc = -1;

	if (kp == NULL || cp == NULL) {
		errno = ENOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.key", dir, base);
	if (tls_write_file(path, kp, strlen(kp), 0600) != 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%s.pem", dir, base);
	if (tls_write_file(path, cp, strlen(cp), 0644) != 0)
		goto out;
	rc = 0;
out:
	if (kp != NULL)
		secret_wipe_free(kp, strlen(kp));
	free(cp);
	return rc;
}

static int create_all(const char *tdir, char *err, size_t errlen)
{
	EVP_PKEY *cak = NULL, *sk = NULL;
	X509 *ca = NULL, *sc = NULL;
	int rc = -1;

	cak = EVP_EC_gen("P-256");
	sk = EVP_EC_gen("P-256");
	if (cak == NULL || sk == NULL) {
		snprintf(err, errlen, "cannot generate TLS keys with OpenSSL");
		goto out;
	}
	ca = make_cert(cak, "hsm-emulator local CA", NULL, NULL);
	sc = ca ? make_cert(sk, "localhost", ca, cak) : NULL;
	if (sc == NULL) {
		snprintf(err, errlen, "cannot create the TLS certificates with OpenSSL");
		goto out;
	}
	/* Server first: ca.pem is what restarts look for last. */
	if (write_pair(tdir, "server", sk, sc) != 0 ||
	    write_pair(tdir, "ca", cak, ca) != 0) {
		snprintf(err, errlen, "cannot write the TLS files in %s: %s",
			 tdir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	X509_free(ca);
	X509_free(sc);
	return rc;
}

int tls_setup(const char *dir, char **key_pem, char **cert_pem,
	      char *err, size_t errlen)
{
	char tdir[4096], path[4200];
	size_t klen;

	*key_pem = NULL;
	*cert_pem = NULL;
	snprintf(tdir, sizeof(tdir), "%s/tls", dir);
	if (mkdir(tdir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", tdir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/ca.pem", tdir);
	if (access(path, F_OK) != 0 && create_all(tdir, err, errlen) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/server.key", tdir);
	*key_pem = tls_read_file(path, &klen);
	if (*key_pem == NULL) {
		snprintf(err, errlen, "cannot read %s: %s (delete %s to start afresh)",
			 path, strerror(errno), tdir);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/server.pem", tdir);
	*cert_pem = tls_read_file(path, NULL);
	if (*cert_pem == NULL) {
		snprintf(err, errlen, "cannot read %s: %s (delete %s to start afresh)",
			 path, strerror(errno), tdir);
		secret_wipe_free(*key_pem, klen);
		*key_pem = NULL;
		return -1;
	}
	return 0;
}
