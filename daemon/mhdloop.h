/* mhdloop.h — a libmicrohttpd daemon (MHD_USE_EPOLL) run on the sd-event
 * loop: its epoll fd and its time-outs become loop sources, so handlers run
 * on the loop like everything else (no threads). Used by the kiosk's web
 * server and the metrics server. */
#ifndef SSCARD_MHDLOOP_H
#define SSCARD_MHDLOOP_H

#include <microhttpd.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

struct mhd_loop;

/* 0 or -1. */
int mhd_loop_attach(sd_event *ev, struct MHD_Daemon *d, struct mhd_loop **out);
/* A connection was resumed: let MHD look at it soon (from the loop). */
void mhd_loop_kick(struct mhd_loop *l);
/* Detach from the loop (the daemon itself is the caller's to stop). */
void mhd_loop_free(struct mhd_loop *l);
/* "ADDR:PORT" or "[V6]:PORT" → the socket address for MHD_OPTION_SOCK_ADDR,
 * its port, and MHD_USE_IPv6 added to *flags for a v6 one; -1 when it is
 * not an address (config.c has checked it already). */
int mhd_listen_addr(const char *listen, struct sockaddr_storage *ss, int *port, unsigned *flags);
/* MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's messages at debug level,
 * after the prefix cls (a string). */
void mhd_log(void *cls, const char *fmt, va_list ap);

#endif
