/*
 * vectors.h - published JOSE key and signature examples, as base64url.
 *
 * RFC 7515 (JWS) Appendix A.2 (RS256), A.3 (ES256), A.4 (ES512) and
 * RFC 7517 (JWK) Appendix A.1 / A.2.  Copied from the RFC text; the RFCs
 * wrap long values over several lines, joined here.
 */
#ifndef HSMFS_TESTS_CRYPTO_VECTORS_H
#define HSMFS_TESTS_CRYPTO_VECTORS_H

#include "codec.h"
#include "pkey.h"

/* The JWS payload shared by A.2 - A.3. */
#define RFC7515_PAYLOAD \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt" \
	"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

/* A.2: RS256 */
#define A2_HEADER "eyJhbGciOiJSUzI1NiJ9"
#define A2_N \
	"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp" \
	"-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwO" \
	"WvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYU" \
	"sLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9" \
	"kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk" \
	"2PAcDTW9gb54h4FRWyuXpoQ"
#define A2_E "AQAB"
#define A2_D \
	"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_G" \
	"Q5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKV" \
	"RUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9J" \
	"YanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoF" \
	"aFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjn" \
	"czT0QU91p1DhOVRuOopznQ"
#define A2_P \
	"4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBds" \
	"s1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ" \
	"5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc"
#define A2_Q \
	"uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHA" \
	"jLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLt" \
	"XlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc"
#define A2_DP \
	"BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE" \
	"2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_" \
	"YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0"
#define A2_DQ \
	"h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDo" \
	"RwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGN" \
	"pmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU"
#define A2_QI \
	"IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0Em" \
	"pScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1c" \
	"q9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U"
#define A2_SIG \
	"cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7" \
	"AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX" \
	"4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7" \
	"K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPq" \
	"vhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVr" \
	"Bp0igcN_IoypGlUPQGe77Rw"

/* A.3: ES256 */
#define A3_HEADER "eyJhbGciOiJFUzI1NiJ9"
#define A3_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A3_D "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
#define A3_SIG \
	"DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA" \
	"pmWQxfKTUJqPP3-Kg6NU1Q"

/* A.4: ES512 over the payload "Payload" */
#define A4_HEADER "eyJhbGciOiJFUzUxMiJ9"
#define A4_PAYLOAD "UGF5bG9hZA"
#define A4_X \
	"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_" \
	"NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk"
#define A4_Y \
	"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDl" \
	"y79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"
#define A4_D \
	"AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPA" \
	"xerEzgdRhajnu0ferB0d53vM9mE15j2C"
#define A4_SIG \
	"AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq" \
	"wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp" \
	"EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn"

/* RFC 7517 A.1 (public) and A.2 (the EC key's d). */
#define K7517_EC_X "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
#define K7517_EC_Y "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
#define K7517_EC_D "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"
#define K7517_RSA_N \
	"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"

/* RFC 7520 §3.3 RSA key (p and q; the rest follows) and the §4.1 RS256
 * signature over the §4 payload. */
#define R7520_P \
	"3Slxg_DwTXJcb6095RoXygQCAZ5RnAvZlno1yhHtnUex_fp7AZ_9nR" \
	"aO7HX_-SFfGQeutao2TDjDAWU4Vupk8rw9JR0AzZ0N2fvuIAmr_WCsmG" \
	"peNqQnev1T7IyEsnh8UMt-n5CafhkikzhEsrmndH6LxOrvRJlsPp6Zv8" "bUq0k"
#define R7520_Q \
	"uKE2dh-cTf6ERF4k4e_jy78GfPYUIaUyoSSJuBzp3Cubk3OCqs6grT" \
	"8bR_cu0Dm1MZwWmtdqDyI95HrUeq3MP15vMMON8lHTeZu2lmKvwqW7an" \
	"V5UzhM1iZ7z4yMkuUwFWoBvyY898EXvRD-hdqRxHlSqAZ192zB3pVFJ0" "s7pFc"
#define R7520_PAYLOAD \
	"SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH" \
	"lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk" \
	"b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm" \
	"UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"
#define R7520_41_HEADER \
	"eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX" \
	"hhbXBsZSJ9"
#define R7520_41_SIG \
	"MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK" \
	"ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J" \
	"IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w" \
	"W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP" \
	"xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f" \
	"cIe8u9ipH84ogoree7vjbU5y18kDquDg"

/* Decode a base64url vector into a struct bytes; exit 99 if it is bad. */
__attribute__((unused))
static struct bytes b64u(const char *s)
{
	struct bytes b = { 0 };

	if (b64url_decode(s, strlen(s), &b.p, &b.len) != 0) {
		printf("Bail out! bad base64url vector %.20s\n", s);
		exit(99);
	}
	return b;
}

/* The RFC 7515 A.2 key with every private member. */
__attribute__((unused))
static struct rsa_private a2_private(void)
{
	struct rsa_private k = {
		b64u(A2_N), b64u(A2_E), b64u(A2_D), b64u(A2_P), b64u(A2_Q),
		b64u(A2_DP), b64u(A2_DQ), b64u(A2_QI),
	};

	return k;
}

__attribute__((unused))
static void rsa_private_free(struct rsa_private *k)
{
	bytes_free(&k->n);
	bytes_free(&k->e);
	bytes_free(&k->d);
	bytes_free(&k->p);
	bytes_free(&k->q);
	bytes_free(&k->dp);
	bytes_free(&k->dq);
	bytes_free(&k->qi);
}

#endif
