/* SPDX-License-Identifier: MIT */
/* An installed extension's origin: the port it keeps under `dext serve` and the id of
 * this install, kept in DATA/extensions/NAME/origin.json (so `dext rm` removes them
 * with the record). The page checks the install id at start and wipes storage that
 * an earlier install, or another extension that had the same port, left behind.
 * Blocking calls: start-up only. */
#pragma once

#define DEXT_INSTALL_ID_LEN 32

/* Reads the saved port (0 when none) and install id ("" when none) of @name, whose
 * record directory is @ext_dir. Never fails: a missing or broken file reads as
 * nothing saved. @ret_id has room for DEXT_INSTALL_ID_LEN + 1 bytes. */
void dext_origin_load(const char *ext_dir, int *ret_port, char *ret_id);
/* Saves them (atomically). Returns 0 or a negative errno. */
int dext_origin_save(const char *ext_dir, int port, const char *id);
/* A new random install id into @ret (DEXT_INSTALL_ID_LEN + 1 bytes); -EIO without
 * randomness. */
int dext_origin_new_id(char *ret);
