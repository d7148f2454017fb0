/* Unit tests: operation-file grammar, key model, algs text, errmap. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errmap.h"
#include "opname.h"
#include "tap.h"

static const struct keyshape ec256 = { KEY_EC, CRV_P256, 256, KOP_SIGN | KOP_VERIFY };
static const struct keyshape ec521 = { KEY_EC, CRV_P521, 521, KOP_SIGN | KOP_VERIFY };
static const struct keyshape rsa = { KEY_RSA, CRV_NONE, 2048,
	KOP_SIGN | KOP_VERIFY | KOP_ENCRYPT | KOP_DECRYPT | KOP_WRAP | KOP_UNWRAP };
static const struct keyshape rsa_sign_only = { KEY_RSA, CRV_NONE, 2048, KOP_SIGN };
static const struct keyshape aes192 = { KEY_OCT, CRV_NONE, 192,
	KOP_ENCRYPT | KOP_DECRYPT | KOP_WRAP | KOP_UNWRAP };

static int parse(const char *n, const struct keyshape *k, struct opname *on)
{
	memset(on, 0x55, sizeof(*on));
	return opname_parse(n, k, on);
}

int main(void)
{
	struct opname on;
	char *t;

	ok(parse("sign", &ec256, &on) == 0 && on.op == FOP_SIGN &&
	   strcmp(on.alg->name, "ES256") == 0 && on.enc == ENC_BINARY &&
	   !on.raw && !on.prehashed, "sign on P-256 defaults to ES256, DER, binary");
	ok(parse("sign.ES256.raw.b64url", &ec256, &on) == 0 && on.raw &&
	   on.enc == ENC_B64URL, "sign.ES256.raw.b64url");
	ok(parse("sign.b64url.raw.ES256", &ec256, &on) == 0 && on.raw &&
	   on.enc == ENC_B64URL && strcmp(on.alg->name, "ES256") == 0,
	   "modifiers in any order");
	ok(parse("sign.prehashed.hex", &ec256, &on) == 0 && on.prehashed &&
	   on.enc == ENC_HEX, "sign.prehashed.hex");
	ok(parse("verify", &ec521, &on) == 0 && strcmp(on.alg->name, "ES512") == 0,
	   "P-521 verifies with ES512");
	ok(parse("sign.ES384", &ec256, &on) == -ENOENT, "ES384 is not valid for P-256");
	ok(parse("sign.RS256", &ec256, &on) == -ENOENT, "RS256 is not valid for EC");
	ok(parse("encrypt", &ec256, &on) == -ENOENT, "EC keys have no encrypt");
	ok(parse("sign.b64.hex", &ec256, &on) == -ENOENT, "two encodings conflict");
	ok(parse("sign.raw.raw", &ec256, &on) == -ENOENT, "repeated modifier");
	ok(parse("sign.ES256.ES256", &ec256, &on) == -ENOENT, "repeated algorithm");
	ok(parse("sign..b64", &ec256, &on) == -ENOENT, "empty modifier");
	ok(parse("sign.", &ec256, &on) == -ENOENT, "trailing dot");
	ok(parse(".sign", &ec256, &on) == -ENOENT, "leading dot");
	ok(parse("sign.foo", &ec256, &on) == -ENOENT, "unknown modifier");
	ok(parse("Sign", &ec256, &on) == -ENOENT, "names are case-sensitive");
	ok(parse("sign.PS384", &rsa, &on) == 0 && on.alg->family == ALG_RSA_PSS,
	   "sign.PS384 on RSA");
	ok(parse("sign.raw", &rsa, &on) == -ENOENT, "raw needs ECDSA");
	ok(parse("decrypt.prehashed", &rsa, &on) == -ENOENT,
	   "prehashed only for sign/verify");
	ok(parse("decrypt", &rsa, &on) == 0 && strcmp(on.alg->name, "RSA-OAEP-256") == 0,
	   "RSA decrypt defaults to RSA-OAEP-256");
	ok(parse("wrap.RSA1_5.b64", &rsa, &on) == 0 && on.op == FOP_WRAP,
	   "wrap.RSA1_5.b64");
	ok(parse("encrypt.RS256", &rsa, &on) == -ENOENT, "signature alg for encrypt");
	ok(parse("verify", &rsa_sign_only, &on) == -ENOENT,
	   "key_ops without verify: no verify file");
	ok(parse("encrypt", &aes192, &on) == 0 && strcmp(on.alg->name, "A192GCM") == 0,
	   "oct 192 encrypts with A192GCM");
	ok(parse("wrap", &aes192, &on) == 0 && strcmp(on.alg->name, "A192KW") == 0,
	   "oct 192 wraps with A192KW");
	ok(parse("encrypt.A256GCM", &aes192, &on) == -ENOENT, "AES size must match");
	ok(parse("encrypt.A192KW", &aes192, &on) == -ENOENT, "KW is not for encrypt");
	ok(parse("encrypt.A192CBCPAD.hex", &aes192, &on) == 0, "A192CBCPAD.hex");
	ok(parse("sign", &aes192, &on) == -ENOENT, "oct keys do not sign");
	{
		char longname[300];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		ok(parse(longname, &rsa, &on) == -ENOENT, "overlong names");
	}
	/* seal/unseal: RSA and oct keys, the wrap fixed by the key */
	ok(parse("seal", &rsa, &on) == 0 && on.op == FOP_SEAL &&
	   strcmp(on.alg->name, "RSA-OAEP-256") == 0, "RSA seals with RSA-OAEP-256");
	ok(parse("unseal.b64", &aes192, &on) == 0 && on.op == FOP_UNSEAL &&
	   on.enc == ENC_B64 && strcmp(on.alg->name, "A192KW") == 0,
	   "oct 192 unseals with A192KW, b64");
	ok(parse("seal.RSA-OAEP", &rsa, &on) == -ENOENT &&
	   parse("seal.A128KW", &aes192, &on) == -ENOENT &&
	   parse("seal.CKM_AES_KEY_WRAP", &aes192, &on) == -ENOENT,
	   "seal takes no other wrap than the format's");
	ok(parse("seal", &ec256, &on) == -ENOENT &&
	   parse("unseal", &ec256, &on) == -ENOENT, "EC keys do not seal");
	ok(parse("seal.raw", &rsa, &on) == -ENOENT &&
	   parse("unseal.prehashed", &rsa, &on) == -ENOENT, "nor take raw/prehashed");
	ok(op_supported(&rsa, FOP_UNWRAP) && !op_supported(&ec256, FOP_WRAP) &&
	   !op_supported(&rsa_sign_only, FOP_DECRYPT), "op_supported");

	t = algs_text(&ec256);
	ok(t && strcmp(t, "sign: ES256 | raw b64 b64url hex prehashed\n"
			  "verify: ES256 | raw b64 b64url hex prehashed\n") == 0,
	   "algs text of a P-256 key");
	if (t)
		printf("#   %.*s\n", (int)strcspn(t, "\n"), t);
	free(t);
	t = algs_text(&rsa);
	ok(t && strncmp(t, "sign: RS256 ", 12) == 0 && strstr(t, "PS512") &&
	   strstr(t, "\nunwrap: RSA-OAEP-256 ") && !strstr(t, "raw"),
	   "algs text of an RSA key starts with the default");
	free(t);
	t = algs_text(&rsa_sign_only);
	ok(t && strchr(t, '\n') == t + strlen(t) - 1, "one line per supported op");
	free(t);

	/* errmap: the table of DESIGN.md 4.3, as negative errno */
	ok(hsm_status_err(HSM_OK) == 0, "OK -> 0");
	ok(hsm_status_err(HSM_E_NOT_FOUND) == -ENOENT, "404 -> ENOENT");
	ok(hsm_status_err(HSM_E_INVALID) == -EINVAL, "400 -> EINVAL");
	ok(hsm_status_err(HSM_E_UNSUPPORTED) == -EOPNOTSUPP, "unsupported -> EOPNOTSUPP");
	ok(hsm_status_err(HSM_E_KEY_EXPIRED) == -EKEYEXPIRED, "disabled/expired -> EKEYEXPIRED");
	ok(hsm_status_err(HSM_E_FORBIDDEN) == -EACCES &&
	   hsm_status_err(HSM_E_UNAUTHORIZED) == -EACCES, "403/401 -> EACCES");
	ok(hsm_status_err(HSM_E_THROTTLED) == -EAGAIN &&
	   hsm_status_err(HSM_E_SERVER) == -EAGAIN, "429/5xx -> EAGAIN");
	ok(hsm_status_err(HSM_E_TIMEOUT) == -ETIMEDOUT, "deadline -> ETIMEDOUT");
	ok(hsm_status_err(HSM_E_UNREACHABLE) == -EHOSTUNREACH, "unreachable -> EHOSTUNREACH");
	ok(hsm_status_err(HSM_E_CANCELLED) == -EINTR, "cancelled -> EINTR");
	ok(hsm_status_err(HSM_E_IO) == -EIO && hsm_status_err((enum hsm_status)999) == -EIO,
	   "unclassified -> EIO");
	ok(input_err(-EMSGSIZE) == -EMSGSIZE &&
	   input_err(-EKEYREJECTED) == -EKEYREJECTED &&
	   input_err(-EBADMSG) == -EBADMSG &&
	   input_err(-EINVAL) == -EINVAL, "input errors keep their errno");
	ok(input_err(-ENOTTY) == -EIO && input_err(5) == -EIO,
	   "odd input errors -> EIO");
	return done_testing();
}
