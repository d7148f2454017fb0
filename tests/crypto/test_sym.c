/*
 * test_sym.c - AES-GCM, AES-CBC (zero padding and PKCS#7), AES key wrap.
 *
 * Judges: the GCM specification's test cases (McGrew & Viega; NIST
 * SP 800-38D) with 96-bit IVs, NIST SP 800-38A F.2 CBC vectors, the
 * RFC 3394 §4 and RFC 5649 §6 key-wrap vectors, and OpenSSL's raw EVP CBC
 * for padding.
 */
#include <errno.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sym.h"
#include "queue_clean.h"

static const struct {
	const char *name, *key, *iv, *pt, *aad, *ct, *tag;
} gcm[] = {
	{ "case 1 (AES-128, empty)", "00000000000000000000000000000000",
	  "000000000000000000000000", "", "", "",
	  "58e2fccefa7e3061367f1d57a4e7455a" },
	{ "case 2 (AES-128, one block)", "00000000000000000000000000000000",
	  "000000000000000000000000", "00000000000000000000000000000000", "",
	  "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf" },
	{ "case 3 (AES-128, 64 bytes)", "feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255", "",
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
	  "4d5c2af327cd64a62cf35abd2ba6fab4" },
	{ "case 4 (AES-128, 60 bytes + AAD)", "feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	  "5bc94fbc3221a5db94fae95ae7121a47" },
	{ "case 10 (AES-192, 60 bytes + AAD)",
	  "feffe9928665731c6d6a8f9467308308feffe9928665731c",
	  "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
	  "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
	  "2519498e80f1478f37ba55bd6d27618c" },
	{ "case 13 (AES-256, empty)",
	  "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "", "",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "case 14 (AES-256, one block)",
	  "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "00000000000000000000000000000000", "",
	  "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "case 15 (AES-256, 64 bytes)",
	  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255", "",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ "case 16 (AES-256, 60 bytes + AAD)",
	  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static void test_gcm(void)
{
	size_t i;

	for (i = 0; i < sizeof(gcm) / sizeof(gcm[0]); i++) {
		size_t klen, ivlen, plen, alen, clen, tlen;
		uint8_t *key = unhex(gcm[i].key, &klen), *iv = unhex(gcm[i].iv, &ivlen);
		uint8_t *pt = unhex(gcm[i].pt, &plen), *aad = unhex(gcm[i].aad, &alen);
		uint8_t *ct = unhex(gcm[i].ct, &clen), *tag = unhex(gcm[i].tag, &tlen);
		uint8_t *out = NULL, mytag[GCM_TAG_LEN];
		const uint8_t *a = alen ? aad : NULL;
		struct secret *dec = NULL;

		is_int(aes_gcm_encrypt(key, klen, iv, a, alen, pt, plen, &out, mytag),
		       0, "GCM %s: encrypt", gcm[i].name);
		is_mem(out, plen, ct, clen, "GCM %s: ciphertext", gcm[i].name);
		is_mem(mytag, GCM_TAG_LEN, tag, tlen, "GCM %s: tag", gcm[i].name);
		free(out);
		is_int(aes_gcm_decrypt(key, klen, iv, a, alen, ct, clen, tag, &dec), 0,
		       "GCM %s: decrypt", gcm[i].name);
		is_mem(dec ? secret_bytes(dec) : NULL, dec ? secret_len(dec) : 0,
		       pt, plen, "GCM %s: plaintext", gcm[i].name);
		secret_free(dec);
		dec = NULL;

		tag[15] ^= 1;
		is_int(aes_gcm_decrypt(key, klen, iv, a, alen, ct, clen, tag, &dec),
		       -EBADMSG, "GCM %s: a tampered tag is -EBADMSG", gcm[i].name);
		tag[15] ^= 1;
		if (clen > 0) {
			ct[0] ^= 1;
			is_int(aes_gcm_decrypt(key, klen, iv, a, alen, ct, clen, tag, &dec),
			       -EBADMSG, "GCM %s: a tampered ciphertext is -EBADMSG",
			       gcm[i].name);
			ct[0] ^= 1;
			is_int(aes_gcm_decrypt(key, klen, iv, a, alen, ct, clen - 1, tag,
					       &dec), -EBADMSG,
			       "GCM %s: a truncated ciphertext is -EBADMSG", gcm[i].name);
		}
		if (alen > 0) {
			is_int(aes_gcm_decrypt(key, klen, iv, NULL, 0, ct, clen, tag, &dec),
			       -EBADMSG, "GCM %s: missing AAD is -EBADMSG", gcm[i].name);
		}
		iv[0] ^= 1;
		is_int(aes_gcm_decrypt(key, klen, iv, a, alen, ct, clen, tag, &dec),
		       -EBADMSG, "GCM %s: another IV is -EBADMSG", gcm[i].name);
		ok(dec == NULL, "GCM %s: no plaintext on failure", gcm[i].name);
		free(key);
		free(iv);
		free(pt);
		free(aad);
		free(ct);
		free(tag);
	}
	{
		uint8_t key[17] = { 0 }, iv[12] = { 0 }, tag[16], *out = NULL;
		struct secret *dec = NULL;

		is_int(aes_gcm_encrypt(key, 17, iv, NULL, 0, key, 16, &out, tag),
		       -EINVAL, "GCM: a 17-byte key is -EINVAL");
		is_int(aes_gcm_decrypt(key, 8, iv, NULL, 0, key, 16, tag, &dec),
		       -EINVAL, "GCM: an 8-byte key is -EINVAL");
		ok(out == NULL && dec == NULL, "GCM: nothing returned");
	}
	queue_clean("no OpenSSL errors left queued");
}

/* NIST SP 800-38A F.2.1 / F.2.3 / F.2.5 (and the PKCS#7 block for F.2.5). */
#define SP38A_IV "000102030405060708090a0b0c0d0e0f"
#define SP38A_PT "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51" \
		 "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
static const struct {
	const char *name, *key, *ct, *pad_block;
} cbc[] = {
	{ "F.2.1 AES-128", "2b7e151628aed2a6abf7158809cf4f3c",
	  "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
	  "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7", NULL },
	{ "F.2.3 AES-192", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
	  "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
	  "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd", NULL },
	{ "F.2.5 AES-256",
	  "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
	  "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
	  "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
	  "3f461796d6b0d6b2e0c2a72b4d80e644" },
};

/* Raw OpenSSL CBC without padding: the judge for our padding modes. */
static void raw_cbc(const uint8_t *key, size_t klen, const uint8_t *iv,
		    const uint8_t *in, size_t len, uint8_t *out)
{
	const EVP_CIPHER *c = klen == 16 ? EVP_aes_128_cbc() :
			      klen == 24 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n;

	EVP_EncryptInit_ex(ctx, c, NULL, key, iv);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	EVP_EncryptUpdate(ctx, out, &n, in, (int)len);
	EVP_CIPHER_CTX_free(ctx);
}

static void test_cbc(void)
{
	size_t i, ivlen, plen;
	uint8_t *iv = unhex(SP38A_IV, &ivlen), *pt = unhex(SP38A_PT, &plen);

	for (i = 0; i < 3; i++) {
		size_t klen, clen, olen = 0, len;
		uint8_t *key = unhex(cbc[i].key, &klen), *ct = unhex(cbc[i].ct, &clen);
		uint8_t *out = NULL, padded[64], judge[64];
		struct secret *dec = NULL;

		is_int(aes_cbc_encrypt(key, klen, iv, false, pt, plen, &out, &olen), 0,
		       "CBC %s: encrypt four blocks (no padding needed)", cbc[i].name);
		is_mem(out, olen, ct, clen, "CBC %s: ciphertext", cbc[i].name);
		free(out);
		is_int(aes_cbc_decrypt(key, klen, iv, false, ct, clen, &dec), 0,
		       "CBC %s: decrypt", cbc[i].name);
		is_mem(dec ? secret_bytes(dec) : NULL, dec ? secret_len(dec) : 0, pt,
		       plen, "CBC %s: plaintext", cbc[i].name);
		secret_free(dec);
		dec = NULL;

		/* PKCS#7 over 64 bytes adds a full block of 0x10. */
		out = NULL;
		is_int(aes_cbc_encrypt(key, klen, iv, true, pt, plen, &out, &olen), 0,
		       "CBCPAD %s: encrypt", cbc[i].name);
		memset(padded, 16, 16);
		raw_cbc(key, klen, ct + 48, padded, 16, judge);
		ok(out && olen == 80 && memcmp(out, ct, 64) == 0 &&
		   memcmp(out + 64, judge, 16) == 0,
		   "CBCPAD %s: the NIST blocks plus one block of 0x10s", cbc[i].name);
		if (cbc[i].pad_block) {
			size_t blen;
			uint8_t *pb = unhex(cbc[i].pad_block, &blen);

			ok(out && memcmp(out + 64, pb, 16) == 0,
			   "CBCPAD %s: the padding block is the published one",
			   cbc[i].name);
			free(pb);
		}
		is_int(aes_cbc_decrypt(key, klen, iv, true, out, olen, &dec), 0,
		       "CBCPAD %s: decrypt", cbc[i].name);
		is_mem(dec ? secret_bytes(dec) : NULL, dec ? secret_len(dec) : 0, pt,
		       plen, "CBCPAD %s: padding removed", cbc[i].name);
		secret_free(dec);
		dec = NULL;
		free(out);

		/* Odd lengths: 1..33 bytes in both modes against the judge. */
		for (len = 0; len <= 33; len++) {
			size_t zlen = (len + 15) / 16 * 16, plen7 = len / 16 * 16 + 16;
			bool good;

			memset(padded, 0, sizeof(padded));
			memcpy(padded, pt, len);
			raw_cbc(key, klen, iv, padded, zlen, judge);
			out = NULL;
			good = aes_cbc_encrypt(key, klen, iv, false, pt, len, &out, &olen) == 0 &&
			       olen == zlen && memcmp(out, judge, zlen) == 0 &&
			       aes_cbc_decrypt(key, klen, iv, false, out, olen, &dec) == 0 &&
			       secret_len(dec) == zlen &&
			       memcmp(secret_bytes(dec), padded, zlen) == 0;
			secret_free(dec);
			dec = NULL;
			free(out);
			memset(padded + len, (int)(plen7 - len), plen7 - len);
			raw_cbc(key, klen, iv, padded, plen7, judge);
			out = NULL;
			good = good &&
			       aes_cbc_encrypt(key, klen, iv, true, pt, len, &out, &olen) == 0 &&
			       olen == plen7 && memcmp(out, judge, plen7) == 0 &&
			       aes_cbc_decrypt(key, klen, iv, true, out, olen, &dec) == 0 &&
			       secret_len(dec) == len &&
			       memcmp(secret_bytes(dec), pt, len) == 0;
			secret_free(dec);
			dec = NULL;
			free(out);
			if (!good)
				break;
		}
		is_int(len, 34, "CBC %s: 0..33 bytes, zero padding and PKCS#7, match "
		       "raw EVP CBC and round-trip", cbc[i].name);

		/* A block that decrypts to ...00 has no valid PKCS#7 padding. */
		is_int(aes_cbc_decrypt(key, klen, iv, true, ct, 16, &dec), -EBADMSG,
		       "CBCPAD %s: bad padding is -EBADMSG", cbc[i].name);
		is_int(aes_cbc_decrypt(key, klen, iv, true, ct, 20, &dec), -EINVAL,
		       "CBCPAD %s: 20 bytes is -EINVAL", cbc[i].name);
		is_int(aes_cbc_decrypt(key, klen, iv, false, ct, 15, &dec), -EINVAL,
		       "CBC %s: 15 bytes is -EINVAL", cbc[i].name);
		is_int(aes_cbc_decrypt(key, klen, iv, true, ct, 0, &dec), -EINVAL,
		       "CBCPAD %s: empty input is -EINVAL", cbc[i].name);
		ok(dec == NULL, "CBC %s: no plaintext on failure", cbc[i].name);
		free(key);
		free(ct);
	}
	{
		uint8_t *out = NULL;
		size_t olen;

		is_int(aes_cbc_encrypt(pt, 20, iv, true, pt, 16, &out, &olen), -EINVAL,
		       "CBC: a 20-byte key is -EINVAL");
		ok(out == NULL, "CBC: nothing returned");
	}
	queue_clean("no OpenSSL errors left queued");
	free(iv);
	free(pt);
}

/* RFC 3394 §4.1 - 4.6. */
static const struct {
	const char *name, *kek, *data, *ct;
} kw[] = {
	{ "4.1 128 bits with a 128-bit KEK", "000102030405060708090A0B0C0D0E0F",
	  "00112233445566778899AABBCCDDEEFF",
	  "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5" },
	{ "4.2 128 bits with a 192-bit KEK",
	  "000102030405060708090A0B0C0D0E0F1011121314151617",
	  "00112233445566778899AABBCCDDEEFF",
	  "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D" },
	{ "4.3 128 bits with a 256-bit KEK",
	  "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
	  "00112233445566778899AABBCCDDEEFF",
	  "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7" },
	{ "4.4 192 bits with a 192-bit KEK",
	  "000102030405060708090A0B0C0D0E0F1011121314151617",
	  "00112233445566778899AABBCCDDEEFF0001020304050607",
	  "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2" },
	{ "4.5 192 bits with a 256-bit KEK",
	  "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
	  "00112233445566778899AABBCCDDEEFF0001020304050607",
	  "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1" },
	{ "4.6 256 bits with a 256-bit KEK",
	  "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
	  "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
	  "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43B"
	  "FB988B9B7A02DD21" },
};

static void test_kw(void)
{
	size_t i;

	for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
		size_t klen, dlen, clen, olen = 0;
		uint8_t *kek = unhex(kw[i].kek, &klen), *data = unhex(kw[i].data, &dlen);
		uint8_t *ct = unhex(kw[i].ct, &clen), *out = NULL;
		struct secret *dec = NULL;

		is_int(aes_kw_wrap(kek, klen, data, dlen, &out, &olen), 0,
		       "RFC 3394 %s: wrap", kw[i].name);
		is_mem(out, olen, ct, clen, "RFC 3394 %s: ciphertext", kw[i].name);
		free(out);
		is_int(aes_kw_unwrap(kek, klen, ct, clen, &dec), 0,
		       "RFC 3394 %s: unwrap", kw[i].name);
		is_mem(dec ? secret_bytes(dec) : NULL, dec ? secret_len(dec) : 0,
		       data, dlen, "RFC 3394 %s: key data", kw[i].name);
		secret_free(dec);
		dec = NULL;
		kek[0] ^= 1;
		is_int(aes_kw_unwrap(kek, klen, ct, clen, &dec), -EBADMSG,
		       "RFC 3394 %s: the wrong KEK is -EBADMSG", kw[i].name);
		kek[0] ^= 1;
		ct[clen - 1] ^= 1;
		is_int(aes_kw_unwrap(kek, klen, ct, clen, &dec), -EBADMSG,
		       "RFC 3394 %s: a tampered wrap is -EBADMSG", kw[i].name);
		ok(dec == NULL, "RFC 3394 %s: nothing returned", kw[i].name);
		free(kek);
		free(data);
		free(ct);
	}
	{
		uint8_t kek[32] = { 0 }, in[40] = { 0 }, *out = NULL;
		struct secret *dec = NULL;
		size_t olen;

		is_int(aes_kw_wrap(kek, 16, in, 8, &out, &olen), -EINVAL,
		       "KW: 8 bytes is too short to wrap");
		is_int(aes_kw_wrap(kek, 16, in, 20, &out, &olen), -EINVAL,
		       "KW: 20 bytes is not a multiple of 8");
		is_int(aes_kw_wrap(kek, 20, in, 16, &out, &olen), -EINVAL,
		       "KW: a 20-byte KEK is -EINVAL");
		is_int(aes_kw_unwrap(kek, 16, in, 16, &dec), -EINVAL,
		       "KW: 16 bytes is too short to unwrap");
		is_int(aes_kw_unwrap(kek, 16, in, 28, &dec), -EINVAL,
		       "KW: 28 bytes is not a multiple of 8");
		ok(out == NULL && dec == NULL, "KW: nothing returned");
	}
	queue_clean("no OpenSSL errors left queued");
}

/* RFC 5649 §6, both examples (192-bit KEK). */
static void test_kwp(void)
{
	static const struct {
		const char *name, *data, *ct;
	} v[] = {
		{ "20 octets", "c37b7e6492584340bed12207808941155068f738",
		  "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a" },
		{ "7 octets", "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f" },
	};
	size_t klen, i;
	uint8_t *kek = unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", &klen);

	for (i = 0; i < 2; i++) {
		size_t dlen, clen, olen = 0;
		uint8_t *data = unhex(v[i].data, &dlen), *ct = unhex(v[i].ct, &clen);
		uint8_t *out = NULL;
		struct secret *dec = NULL;

		is_int(aes_kwp_wrap(kek, klen, data, dlen, &out, &olen), 0,
		       "RFC 5649 %s: wrap", v[i].name);
		is_mem(out, olen, ct, clen, "RFC 5649 %s: ciphertext", v[i].name);
		free(out);
		is_int(aes_kwp_unwrap(kek, klen, ct, clen, &dec), 0,
		       "RFC 5649 %s: unwrap", v[i].name);
		is_mem(dec ? secret_bytes(dec) : NULL, dec ? secret_len(dec) : 0,
		       data, dlen, "RFC 5649 %s: key data", v[i].name);
		secret_free(dec);
		dec = NULL;
		ct[0] ^= 1;
		is_int(aes_kwp_unwrap(kek, klen, ct, clen, &dec), -EBADMSG,
		       "RFC 5649 %s: a tampered wrap is -EBADMSG", v[i].name);
		ok(dec == NULL, "RFC 5649 %s: nothing returned", v[i].name);
		free(data);
		free(ct);
	}
	{
		uint8_t *out = NULL;
		struct secret *dec = NULL;
		size_t olen;

		is_int(aes_kwp_wrap(kek, klen, kek, 0, &out, &olen), -EINVAL,
		       "KWP: empty input is -EINVAL");
		is_int(aes_kwp_unwrap(kek, klen, kek, 12, &dec), -EINVAL,
		       "KWP: 12 bytes is -EINVAL");
		ok(out == NULL && dec == NULL, "KWP: nothing returned");
	}
	queue_clean("no OpenSSL errors left queued");
	free(kek);
}

static void test_random(void)
{
	uint8_t a[32], b[32], zero[32] = { 0 };

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	is_int(random_bytes(a, sizeof(a)), 0, "random_bytes");
	random_bytes(b, sizeof(b));
	ok(memcmp(a, zero, 32) != 0 && memcmp(a, b, 32) != 0,
	   "two draws are non-zero and differ");
	is_int(random_bytes(a, 0), 0, "zero bytes is fine");
}

int main(void)
{
	test_gcm();
	test_cbc();
	test_kw();
	test_kwp();
	test_random();
	return done_testing();
}
