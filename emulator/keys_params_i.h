/*
 * keys_params_i.h - request parameters of the key side: JSON bodies to
 * typed parameters.  On a bad parameter each parser fills resp with the
 * service's 400 answer.
 */
#ifndef HSMFS_EMU_KEYS_PARAMS_I_H
#define HSMFS_EMU_KEYS_PARAMS_I_H

#include <json-c/json.h>

#include "emu.h"

/* Parse the request body as a JSON object; on failure fills resp (400)
 * and returns NULL.  Caller puts the object. */
struct json_object *keys_parse_body(const struct emu_request *req,
				    struct emu_response *resp);

#endif
