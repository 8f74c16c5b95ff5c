/* pty.h — the emulated serial devices' pseudo-terminal (sscard-pn532,
 * sscard-idreader). */
#ifndef SSCARD_SIM_PTY_H
#define SSCARD_SIM_PTY_H

#include <stddef.h>

/* A raw pty: the master fd (or -1), its slave's path in name, and a slave
 * fd kept open in *slave (the master reads EIO while no one has it open). */
int sim_pty_open(char *name, size_t cap, int *slave);
/* Point the symlink link at name, atomically (a stable name across
 * restarts: "the device vanished and came back"). 0 or -1 (errno). */
int sim_pty_link(const char *name, const char *link);

#endif
