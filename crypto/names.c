/*
 * names.c - key name and version rules (see names.h).
 *
 * Spelled out with character ranges rather than <ctype.h>, whose classes
 * follow the locale.
 */
#include "names.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool key_name_valid(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len == 0 || len > KEY_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!is_digit(s[i]) && !is_letter(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool key_version_valid(const char *s, size_t len)
{
	size_t i;

	if (s == NULL || len != KEY_VERSION_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}
