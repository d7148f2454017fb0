/* see hsm_client.h (being written) */
#include "hsm_client.h"
