/* secret.c - see secret.h.h (being written) */
#include "secret.h"
