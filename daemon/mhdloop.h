/* mhdloop.h — a libmicrohttpd daemon (MHD_USE_EPOLL) run on the sd-event
 * loop: its epoll fd and its time-outs become loop sources, so handlers run
 * on the loop like everything else (no threads). Used by the kiosk's web
 * server and the metrics server. */
#ifndef SSCARD_MHDLOOP_H
#define SSCARD_MHDLOOP_H

#include <microhttpd.h>
#include <systemd/sd-event.h>

struct mhd_loop;

/* 0 or -1. */
int mhd_loop_attach(sd_event *ev, struct MHD_Daemon *d, struct mhd_loop **out);
/* A connection was resumed: let MHD look at it soon (from the loop). */
void mhd_loop_kick(struct mhd_loop *l);
/* Detach from the loop (the daemon itself is the caller's to stop). */
void mhd_loop_free(struct mhd_loop *l);

#endif
