/* peer.h — the local user behind a loopback TCP connection. */
#ifndef SSCARD_WEB_PEER_H
#define SSCARD_WEB_PEER_H

#include <sys/socket.h>
#include <sys/types.h>

/* The uid owning the socket at client (connected to server, both on this
 * machine); 0 and *uid set, or -errno (-ESRCH: no such socket here). */
int peer_uid(const struct sockaddr *client, const struct sockaddr *server, uid_t *uid);

#endif
