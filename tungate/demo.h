/*
 * `tungate demo`: runs the three-namespace demo (scripts/demo.sh). The script and the e2e
 * library it sources are installed under DATADIR/tungate/demo; in a build tree the source
 * tree's copy is used. Never returns on success (exec); returns 1 with a message otherwise.
 */
#ifndef TG_DEMO_H
#define TG_DEMO_H

int tg_demo_exec(const char *libexec_dir);

#endif
