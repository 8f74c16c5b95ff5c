/* pty.h — the emulated serial devices' pseudo-terminal (sscard-pn532,
 * sscard-idreader). */
#ifndef SSCARD_SIM_PTY_H
#define SSCARD_SIM_PTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A raw pty: the master fd (or -1), its slave's path in name, and a slave
 * fd kept open in *slave (the master reads EIO while no one has it open). */
int sim_pty_open(char *name, size_t cap, int *slave);
/* Point the symlink link at name, atomically (a stable name across
 * restarts: "the device vanished and came back"). 0 or -1 (errno). */
int sim_pty_link(const char *name, const char *link);
/* What both emulators do at start: SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 to
 * handler, the pty, the link (when not NULL), the slave's path on stdout.
 * The master fd, or -1 after saying why on stderr as prog. */
/* What the host wrote, read into in (*len bytes held, cap at most); whole
 * frames go to frame() until it wants more bytes; a buffer full of junk
 * starts over. Call when the master is readable. */
void sim_pty_take(int master, uint8_t *in, size_t *len, size_t cap, bool (*frame)(void));
/* All of b to the host (a full pty buffer is waited out); gives up on an
 * error, as a UART would lose the bytes. */
void sim_pty_put(int master, const uint8_t *b, size_t n);
int sim_pty_start(const char *prog, const char *link, void (*handler)(int), int *slave);
/* The test's commands on fd (readable now), each whole line to each()
 * (buf holds cap bytes, *len of a line begun); false once fd is closed. */
bool sim_take_lines(int fd, char *buf, size_t cap, size_t *len, void (*each)(char *line));

#endif
