/*
 * seal.c - see seal.h and docs/seal-format.md.
 *
 * Every chunk goes through chunk_seal() / chunk_open(), which build the
 * STREAM nonce and pass the whole header as associated data to sym.c's
 * AES-GCM; the rest is buffering and size arithmetic.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "seal.h"
#include "sym.h"

#define NONCE_LEN (SEAL_PREFIX_LEN + 4 + 1)

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* prefix || be32(i) || last: the nonce of chunk i. */
static void chunk_nonce(const struct seal_header *h, uint64_t i, bool last,
			uint8_t nonce[NONCE_LEN])
{
	memcpy(nonce, h->prefix, SEAL_PREFIX_LEN);
	nonce[7] = (uint8_t)(i >> 24);
	nonce[8] = (uint8_t)(i >> 16);
	nonce[9] = (uint8_t)(i >> 8);
	nonce[10] = (uint8_t)i;
	nonce[11] = last ? 1 : 0;
}

/* Seal len bytes as chunk i into out (len + SEAL_TAG_LEN bytes),
 * directly: no temporary. */
static int chunk_seal(const struct seal_header *h, const uint8_t *key,
		      uint64_t i, bool last, const uint8_t *in, size_t len,
		      uint8_t *out)
{
	uint8_t nonce[NONCE_LEN];

	if (i >= SEAL_CHUNKS_MAX)
		return -EFBIG;
	chunk_nonce(h, i, last, nonce);
	return aes_gcm_encrypt_into(key, SEAL_KEY_LEN, nonce, h->raw,
				    h->raw_len, in, len, out, out + len);
}

/* Open chunk i (len bytes, tag included) into out (len - SEAL_TAG_LEN
 * bytes), wiped when it does not authenticate. */
static int chunk_open_into(const struct seal_header *h, const uint8_t *key,
			   uint64_t i, bool last, const uint8_t *in,
			   size_t len, uint8_t *out)
{
	uint8_t nonce[NONCE_LEN];

	if (len < SEAL_TAG_LEN || i >= SEAL_CHUNKS_MAX)
		return -EBADMSG;
	chunk_nonce(h, i, last, nonce);
	return aes_gcm_decrypt_into(key, SEAL_KEY_LEN, nonce, h->raw,
				    h->raw_len, in, len - SEAL_TAG_LEN,
				    in + len - SEAL_TAG_LEN, out);
}

/* Open chunk i (len bytes, tag included) into a new secret. */
static int chunk_open(const struct seal_header *h, const uint8_t *key,
		      uint64_t i, bool last, const uint8_t *in, size_t len,
		      struct secret **out)
{
	struct secret *pt;
	int rc;

	if (len < SEAL_TAG_LEN)
		return -EBADMSG;
	if ((pt = secret_new(NULL, len - SEAL_TAG_LEN)) == NULL)
		return -ENOMEM;
	rc = chunk_open_into(h, key, i, last, in, len, secret_bytes(pt));
	if (rc < 0) {
		secret_free(pt);
		return rc;
	}
	*out = pt;
	return 0;
}

/* The key id must name a version: ".../keys/NAME/VERSION", printable. */
static bool kid_valid(const char *kid, size_t len)
{
	const char *name, *slash;
	size_t i;

	if (len == 0 || len > SEAL_KID_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (kid[i] < 0x21 || kid[i] > 0x7e)
			return false;
	name = strstr(kid, "/keys/");
	if (name == NULL)
		return false;
	name += strlen("/keys/");
	slash = strchr(name, '/');
	return slash != NULL && slash != name && slash[1] != '\0' &&
	       strchr(slash + 1, '/') == NULL;
}

static void header_encode(struct seal_header *h)
{
	uint8_t *p = h->raw;

	memcpy(p, SEAL_MAGIC, SEAL_MAGIC_LEN);
	p[8] = SEAL_VERSION;
	p[9] = h->wrap;
	p[10] = h->chunk_shift;
	p[11] = 0;
	put_be16(p + 12, h->kid_len);
	memcpy(p + 14, h->kid, h->kid_len);
	p += 14 + h->kid_len;
	put_be16(p, h->wrapped_len);
	memcpy(p + 2, h->wrapped, h->wrapped_len);
	memcpy(p + 2 + h->wrapped_len, h->prefix, SEAL_PREFIX_LEN);
	h->raw_len = SEAL_FIXED_LEN + h->kid_len + h->wrapped_len;
}

int seal_header_init(struct seal_header *h, enum seal_wrap wrap,
		     unsigned chunk_shift, const char *kid,
		     const uint8_t *wrapped, size_t wrapped_len,
		     const uint8_t prefix[SEAL_PREFIX_LEN])
{
	size_t kid_len = kid ? strlen(kid) : 0;
	int rc;

	if (wrap < SEAL_WRAP_RSA_OAEP_256 || wrap > SEAL_WRAP_A256KW ||
	    chunk_shift < SEAL_SHIFT_MIN || chunk_shift > SEAL_SHIFT_MAX ||
	    !kid_valid(kid ? kid : "", kid_len) || wrapped == NULL ||
	    wrapped_len == 0 || wrapped_len > SEAL_WRAPPED_MAX)
		return -EINVAL;
	memset(h, 0, sizeof(*h));
	h->wrap = (uint8_t)wrap;
	h->chunk_shift = (uint8_t)chunk_shift;
	h->kid_len = kid_len;
	memcpy(h->kid, kid, kid_len);
	h->wrapped_len = wrapped_len;
	memcpy(h->wrapped, wrapped, wrapped_len);
	if (prefix != NULL)
		memcpy(h->prefix, prefix, SEAL_PREFIX_LEN);
	else if ((rc = random_bytes(h->prefix, SEAL_PREFIX_LEN)) < 0)
		return rc;
	header_encode(h);
	return 0;
}

/* The fixed fields up to the key id's length: -EAGAIN, -EBADMSG or 0. */
static int parse_fixed(const uint8_t *in, size_t len, struct seal_header *h)
{
	size_t n = len < SEAL_MAGIC_LEN ? len : SEAL_MAGIC_LEN;

	if (memcmp(in, SEAL_MAGIC, n) != 0)
		return -EBADMSG;
	if (len < 12)
		return -EAGAIN;
	if (in[8] != SEAL_VERSION || in[9] < SEAL_WRAP_RSA_OAEP_256 ||
	    in[9] > SEAL_WRAP_A256KW || in[10] < SEAL_SHIFT_MIN ||
	    in[10] > SEAL_SHIFT_MAX || in[11] != 0)
		return -EBADMSG;
	if (len < 14)
		return -EAGAIN;
	h->wrap = in[9];
	h->chunk_shift = in[10];
	h->kid_len = get_be16(in + 12);
	if (h->kid_len == 0 || h->kid_len > SEAL_KID_MAX)
		return -EBADMSG;
	return 0;
}

int seal_header_parse(const uint8_t *in, size_t len, struct seal_header *h)
{
	const uint8_t *p;
	int rc;

	memset(h, 0, offsetof(struct seal_header, raw));
	h->raw_len = 0;
	if ((rc = parse_fixed(in, len, h)) < 0)
		return rc;
	if (len < 16 + h->kid_len)
		return -EAGAIN;
	memcpy(h->kid, in + 14, h->kid_len);
	h->kid[h->kid_len] = '\0';
	if (!kid_valid(h->kid, h->kid_len))
		return -EBADMSG;
	p = in + 14 + h->kid_len;
	h->wrapped_len = get_be16(p);
	if (h->wrapped_len == 0 || h->wrapped_len > SEAL_WRAPPED_MAX)
		return -EBADMSG;
	if (len < SEAL_FIXED_LEN + h->kid_len + h->wrapped_len)
		return -EAGAIN;
	memcpy(h->wrapped, p + 2, h->wrapped_len);
	memcpy(h->prefix, p + 2 + h->wrapped_len, SEAL_PREFIX_LEN);
	h->raw_len = SEAL_FIXED_LEN + h->kid_len + h->wrapped_len;
	memcpy(h->raw, in, h->raw_len);
	return 0;
}

uint64_t seal_chunk_size(const struct seal_header *h)
{
	return (uint64_t)1 << h->chunk_shift;
}

int seal_sealed_size(const struct seal_header *h, uint64_t plain,
		     uint64_t *sealed)
{
	uint64_t c = seal_chunk_size(h);
	uint64_t n = plain == 0 ? 1 : (plain - 1) / c + 1;

	if (n > SEAL_CHUNKS_MAX)
		return -EFBIG;
	*sealed = h->raw_len + plain + n * SEAL_TAG_LEN;
	return 0;
}

int seal_plain_size(const struct seal_header *h, uint64_t sealed,
		    uint64_t *plain, uint64_t *nchunks)
{
	uint64_t unit = seal_chunk_size(h) + SEAL_TAG_LEN;
	uint64_t body, n, r;

	if (sealed < h->raw_len + SEAL_TAG_LEN)
		return -EBADMSG;
	body = sealed - h->raw_len;
	n = body / unit;
	r = body % unit;
	if (r > SEAL_TAG_LEN || (r == SEAL_TAG_LEN && n == 0))
		n++;
	else if (r != 0)
		return -EBADMSG;	/* a last chunk of tag only, not alone */
	if (n > SEAL_CHUNKS_MAX)
		return -EBADMSG;
	*plain = body - n * SEAL_TAG_LEN;
	if (nchunks != NULL)
		*nchunks = n;
	return 0;
}

int seal_chunk_span(const struct seal_header *h, uint64_t sealed, uint64_t i,
		    uint64_t *off, size_t *len, uint64_t *plain_off)
{
	uint64_t unit = seal_chunk_size(h) + SEAL_TAG_LEN;
	uint64_t plain, n;
	int rc;

	if ((rc = seal_plain_size(h, sealed, &plain, &n)) < 0)
		return rc;
	if (i >= n)
		return -EINVAL;
	*off = h->raw_len + i * unit;
	*len = (size_t)(i == n - 1 ? sealed - *off : unit);
	if (plain_off != NULL)
		*plain_off = i * seal_chunk_size(h);
	return 0;
}

/* Chunk i of a blob of sealed bytes is len bytes long; whether it is the
 * last. */
static int chunk_check(const struct seal_header *h, uint64_t sealed,
		       uint64_t i, size_t len, bool *last)
{
	uint64_t off, n, plain;
	size_t want;
	int rc;

	if ((rc = seal_plain_size(h, sealed, &plain, &n)) < 0)
		return rc;
	if ((rc = seal_chunk_span(h, sealed, i, &off, &want, NULL)) < 0)
		return rc;
	if (len != want)
		return -EBADMSG;
	*last = i == n - 1;
	return 0;
}

int seal_chunk_open(const struct seal_header *h,
		    const uint8_t key[SEAL_KEY_LEN], uint64_t sealed,
		    uint64_t i, const uint8_t *in, size_t len,
		    struct secret **out)
{
	bool last;
	int rc;

	if ((rc = chunk_check(h, sealed, i, len, &last)) < 0)
		return rc;
	return chunk_open(h, key, i, last, in, len, out);
}

int seal_chunk_open_into(const struct seal_header *h,
			 const uint8_t key[SEAL_KEY_LEN], uint64_t sealed,
			 uint64_t i, const uint8_t *in, size_t len,
			 uint8_t *out)
{
	bool last;
	int rc;

	if ((rc = chunk_check(h, sealed, i, len, &last)) < 0)
		return rc;
	return chunk_open_into(h, key, i, last, in, len, out);
}

struct sealer {
	struct seal_header h;
	uint8_t key[SEAL_KEY_LEN];
	struct secret *buf;		/* the chunk being filled */
	size_t fill;
	uint64_t counter;
	bool header_sent, failed;
};

int sealer_new(const struct seal_header *h, const uint8_t key[SEAL_KEY_LEN],
	       struct sealer **out)
{
	struct sealer *s;

	if (h->raw_len == 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->buf = secret_new(NULL, (size_t)seal_chunk_size(h));
	if (s->buf == NULL) {
		free(s);
		return -ENOMEM;
	}
	s->h = *h;
	memcpy(s->key, key, SEAL_KEY_LEN);
	*out = s;
	return 0;
}

void sealer_free(struct sealer *s)
{
	if (s == NULL)
		return;
	secret_free(s->buf);
	secret_wipe_free(s, sizeof(*s));
}

/* A buffer for the header (if still due) and nchunks chunks of up to
 * plain bytes in all; the header is copied in and *pos set past it. */
static int sealer_outbuf(struct sealer *s, size_t plain, size_t nchunks,
			 uint8_t **buf, size_t *pos)
{
	size_t hdr = s->header_sent ? 0 : s->h.raw_len;
	size_t cap = hdr + plain + nchunks * SEAL_TAG_LEN;

	*buf = NULL;
	*pos = 0;
	if (cap == 0)
		return 0;
	*buf = malloc(cap);
	if (*buf == NULL)
		return -ENOMEM;
	memcpy(*buf, s->h.raw, hdr);
	*pos = hdr;
	return 0;
}

int sealer_update(struct sealer *s, const uint8_t *in, size_t len,
		  uint8_t **out, size_t *out_len)
{
	size_t c = (size_t)seal_chunk_size(&s->h), total = s->fill + len;
	size_t nemit = total == 0 ? 0 : (total - 1) / c, pos, take;
	uint8_t *buf;
	int rc;

	if (s->failed)
		return -EINVAL;
	if ((rc = sealer_outbuf(s, nemit * c, nemit, &buf, &pos)) < 0)
		return rc;
	while (len > 0) {
		/* A whole chunk with a byte beyond it, nothing buffered:
		 * sealed straight from the input, no copy. */
		if (s->fill == 0 && len > c) {
			rc = chunk_seal(&s->h, s->key, s->counter, false, in,
					c, buf + pos);
			if (rc < 0)
				goto free_buf;
			s->counter++;
			pos += c + SEAL_TAG_LEN;
			in += c;
			len -= c;
			continue;
		}
		if (s->fill == c) {
			rc = chunk_seal(&s->h, s->key, s->counter, false,
					secret_bytes(s->buf), c, buf + pos);
			if (rc < 0)
				goto free_buf;
			s->counter++;
			pos += c + SEAL_TAG_LEN;
			s->fill = 0;
		}
		take = c - s->fill < len ? c - s->fill : len;
		memcpy(secret_bytes(s->buf) + s->fill, in, take);
		s->fill += take;
		in += take;
		len -= take;
	}
	s->header_sent = true;
	*out = buf;
	*out_len = pos;
	return 0;
free_buf:
	s->failed = true;	/* a chunk lost: the stream cannot go on */
	free(buf);
	return rc;
}

int sealer_finish(struct sealer *s, uint8_t **out, size_t *out_len)
{
	uint8_t *buf;
	size_t pos;
	int rc;

	if (s->failed)
		return -EINVAL;
	if ((rc = sealer_outbuf(s, s->fill, 1, &buf, &pos)) < 0)
		return rc;
	rc = chunk_seal(&s->h, s->key, s->counter, true, secret_bytes(s->buf),
			s->fill, buf + pos);
	s->failed = true;	/* nothing may follow the last chunk */
	if (rc < 0) {
		free(buf);
		return rc;
	}
	secret_wipe(secret_bytes(s->buf), s->fill);
	*out = buf;
	*out_len = pos + s->fill + SEAL_TAG_LEN;
	return 0;
}

struct unsealer {
	seal_key_fn get_key;
	void *arg;
	struct seal_header h;
	bool have_header, failed;
	size_t hfill;			/* header bytes in h.raw so far */
	uint8_t key[SEAL_KEY_LEN];
	uint8_t *cbuf;			/* one sealed chunk, ciphertext */
	size_t cfill, unit;
	uint64_t counter;
};

int unsealer_new(seal_key_fn get_key, void *arg, struct unsealer **out)
{
	struct unsealer *u = calloc(1, sizeof(*u));

	if (u == NULL)
		return -ENOMEM;
	u->get_key = get_key;
	u->arg = arg;
	*out = u;
	return 0;
}

void unsealer_free(struct unsealer *u)
{
	if (u == NULL)
		return;
	free(u->cbuf);
	secret_wipe_free(u, sizeof(*u));
}

const struct seal_header *unsealer_header(const struct unsealer *u)
{
	return u->have_header ? &u->h : NULL;
}

/* Take header bytes from *in; once complete, ask for the key.  Returns
 * 0 (header complete or input exhausted) or -errno. */
static int unsealer_take_header(struct unsealer *u, const uint8_t **in,
				size_t *len)
{
	uint8_t raw[SEAL_HEADER_MAX];
	size_t take = SEAL_HEADER_MAX - u->hfill;
	int rc;

	take = take < *len ? take : *len;
	memcpy(raw, u->h.raw, u->hfill);
	memcpy(raw + u->hfill, *in, take);
	rc = seal_header_parse(raw, u->hfill + take, &u->h);
	if (rc == -EAGAIN) {
		memcpy(u->h.raw, raw, u->hfill + take);
		u->hfill += take;
		*in += take;
		*len -= take;
		return 0;
	}
	if (rc < 0)
		return rc;
	take = u->h.raw_len - u->hfill;
	*in += take;
	*len -= take;
	u->have_header = true;
	u->unit = (size_t)seal_chunk_size(&u->h) + SEAL_TAG_LEN;
	u->cbuf = malloc(u->unit);
	if (u->cbuf == NULL)
		return -ENOMEM;
	return u->get_key(u->arg, &u->h, u->key);
}

/* Open the buffered chunk and append its plaintext to out at *pos. */
static int unsealer_open(struct unsealer *u, bool last, uint8_t *out,
			 size_t *pos)
{
	int rc;

	rc = chunk_open_into(&u->h, u->key, u->counter, last, u->cbuf,
			     u->cfill, out + *pos);
	if (rc < 0)
		return rc;
	*pos += u->cfill - SEAL_TAG_LEN;
	u->counter++;
	u->cfill = 0;
	return 0;
}

/* Chunks of body bytes from in; plaintext released in *out. */
static int unsealer_body(struct unsealer *u, const uint8_t *in, size_t len,
			 struct secret **out)
{
	size_t total = u->cfill + len, c = u->unit - SEAL_TAG_LEN;
	size_t nopen = total == 0 ? 0 : (total - 1) / u->unit, pos = 0, take;
	struct secret *pt = NULL;
	int rc;

	if (nopen > 0 && (pt = secret_new(NULL, nopen * c)) == NULL)
		return -ENOMEM;
	while (len > 0) {
		if (u->cfill == u->unit &&
		    (rc = unsealer_open(u, false, secret_bytes(pt), &pos)) < 0)
			goto free_pt;
		take = u->unit - u->cfill < len ? u->unit - u->cfill : len;
		memcpy(u->cbuf + u->cfill, in, take);
		u->cfill += take;
		in += take;
		len -= take;
	}
	*out = pt;
	return 0;
free_pt:
	secret_free(pt);	/* wipes this call's verified chunks too */
	return rc;
}

int unsealer_update(struct unsealer *u, const uint8_t *in, size_t len,
		    struct secret **out)
{
	int rc = 0;

	*out = NULL;
	if (u->failed)
		return -EBADMSG;
	if (!u->have_header)
		rc = unsealer_take_header(u, &in, &len);
	if (rc == 0 && u->have_header)
		rc = unsealer_body(u, in, len, out);
	if (rc < 0)
		u->failed = true;
	return rc;
}

int unsealer_finish(struct unsealer *u, struct secret **out)
{
	struct secret *pt;
	size_t pos = 0;
	int rc;

	*out = NULL;
	if (u->failed || !u->have_header || u->cfill < SEAL_TAG_LEN ||
	    (u->counter > 0 && u->cfill == SEAL_TAG_LEN)) {
		u->failed = true;
		return -EBADMSG;
	}
	pt = secret_new(NULL, u->cfill - SEAL_TAG_LEN);
	if (pt == NULL)
		return -ENOMEM;
	rc = unsealer_open(u, true, secret_bytes(pt), &pos);
	u->failed = true;	/* nothing may follow the last chunk */
	if (rc < 0) {
		secret_free(pt);
		return rc;
	}
	*out = pt;
	return 0;
}
