/* sscardd — the card terminal daemon: one sd-event loop owns all state;
 * blocking PC/SC work runs in worker threads (readers.c). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "readers.h"

#ifndef SSCARD_VERSION
#define SSCARD_VERSION "0.1.0"
#endif

static struct {
	struct config cfg;
	const char *config_file;
	struct control *control;
	struct readers *readers;
	uint64_t started;
} d;

static void usage(FILE *f)
{
	fprintf(f, "usage: sscardd [-c FILE] [-f] [--check-config] [-V]\n"
		   "  -c, --config FILE   configuration (default " CFG_DEFAULT_FILE ")\n"
		   "  -f, --foreground    stay in the foreground, log to stderr\n"
		   "      --check-config  validate the configuration and exit (0 ok, 78 bad)\n"
		   "  -V, --version       print the version\n");
}

static void emit(void *arg, json_t *event)
{
	control_broadcast(d.control, event);
}

static void add_status(json_t *st)
{
	json_object_set_new(st, "version", json_string(SSCARD_VERSION));
	json_object_set_new(st, "pid", json_integer(getpid()));
	json_object_set_new(st, "config", json_string(d.config_file));
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	json_object_set_new(st, "uptime_s",
			    json_integer((json_int_t)((uint64_t)ts.tv_sec - d.started)));
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	log_msg(LOG_INFO, "signal %u: stopping", si->ssi_signo);
	sd_notify(0, "STOPPING=1");
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	char err[512];
	struct config next;
	/* Validate only: applying a new configuration at run time comes with
	 * the reload work; a bad file must never replace a good one. */
	if (config_load(&next, d.config_file, false, err, sizeof err) < 0)
		log_msg(LOG_ERR, "SIGHUP: configuration not valid, keeping the running one: %s", err);
	else
		log_msg(LOG_NOTICE, "SIGHUP: configuration is valid; restart sscardd to apply it");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"config", 1, 0, 'c'},       {"foreground", 0, 0, 'f'},
					   {"check-config", 0, 0, 'C'}, {"version", 0, 0, 'V'},
					   {"help", 0, 0, 'h'},         {0, 0, 0, 0}};
	bool foreground = false, check = false, explicit_file = false;
	char err[512];
	sd_event *ev = NULL;
	sigset_t ss;
	int c, fd, rv;

	d.config_file = CFG_DEFAULT_FILE;
	while ((c = getopt_long(argc, argv, "c:fVh", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_file = optarg;
			explicit_file = true;
			break;
		case 'f': foreground = true; break;
		case 'C': check = true; break;
		case 'V': printf("sscardd %s\n", SSCARD_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config_load(&d.cfg, d.config_file, explicit_file, err, sizeof err) < 0) {
		fprintf(stderr, "sscardd: %s\n", err);
		return CFG_EX_CONFIG;
	}
	if (check) {
		printf("%s: configuration is valid\n", d.config_file);
		return 0;
	}
	/* Under systemd (Type=notify) or with -f: stay in the foreground. */
	bool daemonize = !foreground && !getenv("NOTIFY_SOCKET");
	log_init(d.cfg.log_level, daemonize);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);

	fd = control_listen(d.cfg.socket, err, sizeof err);
	if (fd < 0) {
		fprintf(stderr, "sscardd: %s\n", err);
		return 1;
	}
	if (daemonize && daemon(0, 0) < 0) {
		fprintf(stderr, "sscardd: cannot go to the background: %s\n", strerror(errno));
		return 1;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	d.started = (uint64_t)ts.tv_sec;

	if ((rv = sd_event_default(&ev)) < 0 ||
	    (rv = sd_event_add_signal(ev, NULL, SIGTERM, on_term, NULL)) < 0 ||
	    (rv = sd_event_add_signal(ev, NULL, SIGINT, on_term, NULL)) < 0 ||
	    (rv = sd_event_add_signal(ev, NULL, SIGHUP, on_hup, NULL)) < 0 ||
	    (rv = readers_start(ev, &d.cfg, emit, NULL, &d.readers)) < 0 ||
	    (rv = control_attach(ev, fd, d.cfg.socket, d.readers, add_status, &d.control)) < 0) {
		log_msg(LOG_ERR, "cannot start: %s", strerror(-rv));
		readers_stop(d.readers);
		close(fd);
		unlink(d.cfg.socket);
		sd_event_unref(ev);
		return 1;
	}
	log_msg(LOG_INFO, "sscardd %s listening on %s", SSCARD_VERSION, d.cfg.socket);
	sd_notifyf(0, "READY=1\nSTATUS=listening on %s", d.cfg.socket);
	rv = sd_event_loop(ev);
	control_close(d.control); /* first: it tells readers to forget its clients */
	readers_stop(d.readers);
	sd_event_unref(ev);
	log_msg(LOG_INFO, "stopped");
	return rv < 0 ? 1 : 0;
}
