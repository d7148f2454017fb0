/* codec.c - see codec.h.h (being written) */
#include "codec.h"
