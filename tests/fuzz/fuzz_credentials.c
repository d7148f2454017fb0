/*
 * fuzz_credentials - the credentials=FILE text (fs/options.c,
 * options_cred_text()).
 *
 * Input: the file's text (as load_credentials() hands it: at most 16 KiB,
 * NUL-terminated).  Every KEY set must be an AZURE_* name; a refusal
 * says why in a NUL-terminated line that never holds a value (the value
 * of a misplaced line may be a secret): the marker "s3cr3t" may appear in
 * the input's values, never in a message.
 */
#include "fuzz.h"
#include "options_i.h"

static int set(const char *k, const char *v)
{
	fz_check(strncmp(k, "AZURE_", 6) == 0);
	(void)v;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size < 16383 ? size : 16383 };
	char errbuf[512];
	size_t len;
	char *text = fz_text(&f, &len);
	bool secret = false;
	const char *eq = strchr(text, '=');

	/* Only values may carry the marker for the check to be fair. */
	secret = eq != NULL && strstr(eq, "s3cr3t") != NULL &&
		 memmem(text, (size_t)(eq - text), "s3cr3t", 6) == NULL &&
		 strchr(text, '\n') == NULL;	/* one line: its key is known */
	memset(errbuf, 0x41, sizeof(errbuf));
	if (options_cred_text(text, "/etc/hsmfs/creds", set, errbuf,
			      sizeof(errbuf)) != 0) {
		fz_check(memchr(errbuf, 0, sizeof(errbuf)) != NULL);
		if (secret)
			fz_check(strstr(errbuf, "s3cr3t") == NULL);
	}
	free(text);
	return 0;
}
