/* control.c — Unix socket server for sscardctl, libsscard and technicians. */
#include "daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/json.h"
#include "daemon/log.h"
#include "daemon/request.h"

struct client {
	struct client *next, *prev;
	struct control *ctl;
	int fd;
	sd_event_source *src;
	char in[CONTROL_LINE_MAX];
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
	bool subscribed;   /* "events": a stream from now on */
	bool waiting;      /* a read is under way: hold further lines */
	bool eof;          /* peer finished sending: close once answered */
	bool dead;
	bool in_lines;     /* inside process_lines: callbacks must not settle */
	bool admin;        /* root or in the admin group (SO_PEERCRED/SO_PEERGROUPS) */
	bool trace;        /* a trace subscriber: gets APDU lines too */
	uint64_t last_active;
	struct ucred cred;
};

struct control {
	sd_event *ev;
	int fd;
	char path[108];
	sd_event_source *src;
	struct readers *readers;
	const struct control_ops *ops;
	gid_t admin_gid;
	bool have_admin_gid;
	unsigned idle_s;
	sd_event_source *sweep;
	struct client *clients;
	unsigned n_clients;
	unsigned n_trace;
};

static uint64_t now_usec(struct control *c)
{
	uint64_t t = 0;
	sd_event_now(c->ev, CLOCK_MONOTONIC, &t);
	return t;
}

static void client_close(struct client *cl)
{
	struct control *c = cl->ctl;
	char sink[4096];
	readers_forget(c->readers, cl);
	if (c->ops && c->ops->forget)
		c->ops->forget(cl);
	if (cl->trace && --c->n_trace == 0)
		readers_set_trace(c->readers, false);
	sd_event_source_disable_unref(cl->src);
	/* Unread input would turn close() into a reset that can destroy our
	 * last answer before the peer reads it: drain (bounded), then close. */
	shutdown(cl->fd, SHUT_WR);
	for (int i = 0; i < 16 && recv(cl->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
		;
	close(cl->fd);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	c->n_clients--;
	free(cl->out);
	free(cl);
}

static void update_events(struct client *cl)
{
	uint32_t ev = cl->out_len ? EPOLLOUT : 0;
	if (!cl->eof && !cl->waiting && !cl->subscribed)
		ev |= EPOLLIN;
	if (cl->subscribed && !cl->eof)
		ev |= EPOLLIN; /* only to notice the peer going away */
	sd_event_source_set_io_events(cl->src, ev);
}

/* Write what we can; mark dead on errors. */
static void flush(struct client *cl)
{
	while (cl->out_len) {
		ssize_t n = send(cl->fd, cl->out, cl->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			cl->dead = true;
			return;
		}
		memmove(cl->out, cl->out + n, cl->out_len - (size_t)n);
		cl->out_len -= (size_t)n;
	}
}

static void send_json(struct client *cl, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n;
	if (!s) {
		s = strdup("{\"ok\":false,\"error\":\"out_of_memory\",\"message\":\"The terminal ran out of memory.\"}");
		if (!s) {
			cl->dead = true;
			return;
		}
	}
	n = strlen(s);
	if (cl->out_len + n + 1 > CONTROL_BACKLOG_MAX) {
		/* A reader that does not read is dropped, never waited for. */
		log_msg(LOG_NOTICE, "dropping control client pid %d: %zu bytes unread", (int)cl->cred.pid,
			cl->out_len);
		cl->dead = true;
		free(s);
		return;
	}
	if (cl->out_len + n + 1 > cl->out_cap) {
		size_t cap = (cl->out_len + n + 1) * 2;
		char *o = realloc(cl->out, cap);
		if (!o) {
			cl->dead = true;
			free(s);
			return;
		}
		cl->out = o;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, s, n);
	cl->out[cl->out_len + n] = '\n';
	cl->out_len += n + 1;
	free(s);
	flush(cl);
}

static void process_lines(struct client *cl);

/* Finish a round: close dead or finished clients, else re-arm. */
static void settle(struct client *cl)
{
	if (!cl->dead && !cl->waiting && !cl->subscribed)
		process_lines(cl);
	if (cl->dead || (cl->eof && !cl->waiting && !cl->out_len && (cl->subscribed || !cl->in_len))) {
		client_close(cl);
		return;
	}
	update_events(cl);
}

static void on_read_reply(void *cookie, json_t *reply)
{
	struct client *cl = cookie;
	cl->waiting = false;
	send_json(cl, reply);
	if (!cl->in_lines)
		settle(cl); /* an answer given at once is settled by process_lines' caller */
}

/* The idcard verb's answer to one who is not an administrator: a member
 * of group sscard learns that a card lies there, not whose it is. */
static void on_idcard_reply_masked(void *cookie, json_t *reply)
{
	json_t *m = json_masked_copy(reply);
	if (m && json_is_true(json_object_get(m, "ok")))
		json_object_set_new(m, "masked", json_true());
	on_read_reply(cookie, m ? m : reply);
	json_decref(m);
}

static void trace_off_all(struct control *c)
{
	json_t *e = json_pack("{s:s}", "event", "trace_off");
	for (struct client *cl = c->clients; cl; cl = cl->next) {
		if (!cl->trace)
			continue;
		send_json(cl, e);
		cl->eof = true; /* the stream ends here: close once flushed */
	}
	json_decref(e);
}

static void handle(struct client *cl, char *line)
{
	struct control *c = cl->ctl;
	struct request rq;
	char err[512];
	json_t *j = NULL;

	if (request_parse(line, &rq, err, sizeof err) < 0) {
		if (!*err)
			return; /* an empty line */
		j = json_error(SS_E_INVALID, err);
		goto out;
	}
	if (request_is_admin(rq.verb) && !cl->admin) {
		log_msg(LOG_NOTICE, "control: '%s' refused to uid %d pid %d (not an administrator)",
			request_verb_name(rq.verb), (int)cl->cred.uid, (int)cl->cred.pid);
		j = json_error(SS_E_NOT_ALLOWED, NULL);
		goto out;
	}
	if (request_is_admin(rq.verb))
		/* a request's card id and fields are personal: its type only */
		log_msg(LOG_NOTICE, "control: '%s%s%.*s' by uid %d pid %d", request_verb_name(rq.verb),
			*rq.arg ? " " : "",
			rq.verb == REQ_REQUEST ? (int)strcspn(rq.arg, " \t") : (int)sizeof rq.arg,
			rq.arg, (int)cl->cred.uid, (int)cl->cred.pid);
	switch (rq.verb) {
	case REQ_STATUS:
		j = readers_status_json(c->readers);
		json_object_set_new(j, "clients", json_integer(c->n_clients));
		json_object_set_new(j, "trace", json_boolean(c->n_trace > 0));
		json_object_set_new(j, "log_level", json_string(log_level_name(log_get_level())));
		if (c->ops && c->ops->status)
			c->ops->status(j);
		break;
	case REQ_READERS:
		j = readers_list_json(c->readers);
		break;
	case REQ_READ:
		cl->waiting = true;
		readers_read(c->readers, *rq.arg ? rq.arg : NULL, cl, on_read_reply);
		return;
	case REQ_READ_STEP1:
	case REQ_READ_STEP2:
		cl->waiting = true;
		readers_read_step(c->readers, *rq.arg ? rq.arg : NULL, rq.challenge,
				  rq.verb == REQ_READ_STEP2 ? rq.cryptogram : NULL, cl, on_read_reply);
		return;
	case REQ_PINPAD_VERIFY:
	case REQ_PINPAD_CHANGE:
		cl->waiting = true;
		readers_pinpad(c->readers, *rq.arg ? rq.arg : NULL,
			       rq.verb == REQ_PINPAD_VERIFY ? READERS_PIN_VERIFY : READERS_PIN_CHANGE, cl,
			       on_read_reply);
		return;
	case REQ_PIN_UNBLOCK:
	case REQ_PIN_RELOAD:
		cl->waiting = true;
		readers_pinkey(c->readers, *rq.arg ? rq.arg : NULL, rq.verb == REQ_PIN_RELOAD ? rq.pin : NULL,
			       *rq.proof ? rq.proof : NULL, cl, on_read_reply);
		explicit_bzero(rq.pin, sizeof rq.pin);
		return;
	case REQ_PINKEY_UNBLOCK:
	case REQ_PINKEY_RELOAD:
		/* counter software: the terminal's own PSAM (or HSM), no proof here:
		 * the clerk has seen the holder's ID; every one is logged with who */
		log_msg(LOG_NOTICE, "PIN %s asked by uid %u", rq.verb == REQ_PINKEY_RELOAD ? "reload" : "unblock",
			(unsigned)cl->cred.uid);
		cl->waiting = true;
		readers_pinkey(c->readers, *rq.arg ? rq.arg : NULL, rq.verb == REQ_PINKEY_RELOAD ? rq.pin : NULL,
			       NULL, cl, on_read_reply);
		explicit_bzero(rq.pin, sizeof rq.pin);
		return;
	case REQ_PINKEY_STEP1_UNBLOCK:
	case REQ_PINKEY_STEP1_RELOAD:
	case REQ_PINKEY_STEP2:
		if (rq.verb == REQ_PINKEY_STEP2)
			log_msg(LOG_NOTICE, "PIN unblock/reload (counter's encryptor) asked by uid %u",
				(unsigned)cl->cred.uid);
		cl->waiting = true;
		readers_pinkey_step(c->readers, *rq.arg ? rq.arg : NULL,
				    rq.verb == REQ_PINKEY_STEP1_RELOAD ? rq.pin : NULL, rq.challenge,
				    rq.verb == REQ_PINKEY_STEP2 ? rq.mac : NULL, cl, on_read_reply);
		explicit_bzero(rq.pin, sizeof rq.pin);
		return;
	case REQ_EVENTS:
	case REQ_TRACE_ON: {
		int sz = CONTROL_SNDBUF;
		setsockopt(cl->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
		cl->subscribed = true;
		if (rq.verb == REQ_TRACE_ON) {
			cl->trace = true;
			if (c->n_trace++ == 0)
				readers_set_trace(c->readers, true);
			j = json_pack("{s:b,s:s,s:s}", "ok", 1, "trace", "on", "note",
				      "PIN data and personal data are redacted; the trace ends when this connection closes or on 'trace off'");
		} else
			j = json_pack("{s:b,s:s}", "ok", 1, "events", "subscribed");
		break;
	}
	case REQ_TRACE_OFF: {
		unsigned n = c->n_trace;
		trace_off_all(c);
		j = json_pack("{s:b,s:s,s:i}", "ok", 1, "trace", "off", "stopped", (int)n);
		break;
	}
	case REQ_RELOAD:
		j = c->ops && c->ops->reload ? c->ops->reload() : json_error(SS_E_INTERNAL, NULL);
		break;
	case REQ_READER_RESET:
		j = readers_reset(c->readers, rq.arg);
		break;
	case REQ_LOG_LEVEL:
		log_set_level(rq.level);
		j = json_pack("{s:b,s:s}", "ok", 1, "log_level", log_level_name(rq.level));
		break;
	case REQ_LIST_INFO:
	case REQ_LIST_LOOKUP:
		j = c->ops && c->ops->list ? c->ops->list(&rq) : json_error(SS_E_INTERNAL, NULL);
		break;
	case REQ_LIST_SYNC:
		if (!c->ops || !c->ops->list_sync) {
			j = json_error(SS_E_INTERNAL, NULL);
			break;
		}
		cl->waiting = true;
		c->ops->list_sync(cl, on_read_reply);
		return;
	case REQ_IDCARD:
		if (!c->ops || !c->ops->idcard) {
			j = json_error(SS_E_INTERNAL, NULL);
			break;
		}
		cl->waiting = true;
		c->ops->idcard(cl, cl->admin ? on_read_reply : on_idcard_reply_masked);
		return;
	case REQ_REQUEST:
	case REQ_OUTBOX:
	case REQ_OUTBOX_RETRY:
		j = c->ops && c->ops->outbox ? c->ops->outbox(&rq) : json_error(SS_E_INTERNAL, NULL);
		break;
	case REQ_HELP:
	case REQ__COUNT:
		j = json_pack("{s:b,s:s}", "ok", 1, "verbs", request_help());
		break;
	}
out:
	send_json(cl, j);
	json_decref(j);
}

static void reply_error(struct client *cl, const char *msg)
{
	json_t *j = json_error(SS_E_INVALID, msg);
	send_json(cl, j);
	json_decref(j);
}

static void process_lines(struct client *cl)
{
	cl->in_lines = true;
	while (!cl->dead && !cl->waiting && !cl->subscribed) {
		char *nl = memchr(cl->in, '\n', cl->in_len);
		char line[CONTROL_LINE_MAX + 1];
		size_t len, used;
		if (nl)
			used = (len = (size_t)(nl - cl->in)) + 1;
		else if (cl->in_len == sizeof cl->in) {
			reply_error(cl, "The request line is too long.");
			cl->in_len = 0;
			cl->eof = true; /* answer, then hang up */
			break;
		} else if (cl->eof && cl->in_len)
			used = len = cl->in_len; /* last line without a newline */
		else
			break;
		memcpy(line, cl->in, len);
		line[len] = 0;
		memmove(cl->in, cl->in + used, cl->in_len - used);
		cl->in_len -= used;
		if (len && line[len - 1] == '\r')
			line[--len] = 0;
		bool bad = false;
		for (size_t i = 0; i < len; i++)
			bad |= (unsigned char)line[i] < 0x20 && line[i] != '\t';
		if (bad)
			reply_error(cl, "The request holds control characters.");
		else
			handle(cl, line);
	}
	cl->in_lines = false;
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct client *cl = arg;
	if (revents & EPOLLIN) {
		if (cl->subscribed) {
			char sink[256];
			ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				cl->dead = true;
		} else {
			ssize_t n = recv(fd, cl->in + cl->in_len, sizeof cl->in - cl->in_len, MSG_DONTWAIT);
			if (n == 0)
				cl->eof = true;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				cl->dead = true;
			else if (n > 0) {
				cl->in_len += (size_t)n;
				cl->last_active = now_usec(cl->ctl);
			}
		}
	}
	if (revents & (EPOLLERR | EPOLLHUP))
		cl->dead = true; /* both directions closed: nobody to answer */
	if (revents & EPOLLOUT)
		flush(cl);
	settle(cl);
	return 0;
}

/* Root, or the admin group as primary or supplementary group of the peer. */
static bool is_admin(struct control *c, int fd, const struct ucred *cr)
{
	gid_t groups[256];
	socklen_t len = sizeof groups;
	if (cr->uid == 0)
		return true;
	if (!c->have_admin_gid)
		return false;
	if (cr->gid == c->admin_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof groups[0]; i++)
		if (groups[i] == c->admin_gid)
			return true;
	return false;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct control *c = arg;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	socklen_t sl = sizeof(struct ucred);
	if (cfd < 0)
		return 0;
	if (c->n_clients >= CONTROL_CLIENTS_MAX) {
		static const char busy[] = "{\"ok\":false,\"error\":\"busy\",\"message\":\"Too many connections; try again in a moment.\"}\n";
		if (send(cfd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_msg(LOG_DEBUG, "control: refused client gone");
		close(cfd);
		return 0;
	}
	struct client *cl = calloc(1, sizeof *cl);
	if (!cl) {
		close(cfd);
		return 0;
	}
	cl->ctl = c;
	cl->fd = cfd;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cl->cred, &sl) < 0)
		cl->cred.uid = (uid_t)-1, cl->cred.gid = (gid_t)-1; /* unknown: no rights */
	cl->admin = is_admin(c, cfd, &cl->cred);
	cl->last_active = now_usec(c);
	if (sd_event_add_io(c->ev, &cl->src, cfd, EPOLLIN, on_client, cl) < 0) {
		close(cfd);
		free(cl);
		return 0;
	}
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	c->n_clients++;
	log_msg(LOG_DEBUG, "control client uid %d pid %d", (int)cl->cred.uid, (int)cl->cred.pid);
	return 0;
}

int control_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[sizeof sa.sun_path];
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket path %s is too long", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket; not touching it", path);
			close(fd);
			return -1;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(probe);
			close(fd);
			snprintf(err, errlen, "another sscardd is already listening on %s", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path); /* stale, left by a crash */
	}
	/* Bind and listen under a temporary name, then rename: a client that
	 * sees the path can connect (no "connection refused" between bind and
	 * listen). A path too long for the suffix is bound in place. */
	struct sockaddr_un tmp = sa;
	int n = snprintf(tmp.sun_path, sizeof tmp.sun_path, "%s.%ld", path, (long)getpid());
	bool renamed = n > 0 && (size_t)n < sizeof tmp.sun_path;
	if (!renamed)
		tmp = sa;
	else
		unlink(tmp.sun_path); /* left by a crash of a process with our pid */
	if (bind(fd, (struct sockaddr *)&tmp, sizeof tmp) < 0 || chmod(tmp.sun_path, 0660) < 0 ||
	    listen(fd, 32) < 0 || (renamed && rename(tmp.sun_path, path) < 0)) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (renamed)
			unlink(tmp.sun_path);
		close(fd);
		return -1;
	}
	return fd;
}

void control_configure(struct control *c, const char *admin_group, unsigned idle_s)
{
	struct group *g = getgrnam(admin_group);
	c->have_admin_gid = g != NULL;
	c->admin_gid = g ? g->gr_gid : (gid_t)-1;
	if (!g)
		log_msg(LOG_INFO, "admin group '%s' does not exist: only root may use admin commands",
			admin_group);
	c->idle_s = idle_s;
}

/* Every few seconds: close clients that hold a connection without asking. */
static int on_sweep(sd_event_source *s, uint64_t usec, void *arg)
{
	struct control *c = arg;
	uint64_t limit = (uint64_t)c->idle_s * 1000000, now = now_usec(c);
	for (struct client *cl = c->clients, *n; cl; cl = n) {
		n = cl->next;
		/* last_active may be later than this timer's due time */
		if (cl->subscribed || cl->waiting || cl->eof || now < cl->last_active + limit)
			continue;
		log_msg(LOG_DEBUG, "control: closing idle client pid %d", (int)cl->cred.pid);
		json_t *e = json_error(SS_E_IDLE, NULL);
		send_json(cl, e);
		json_decref(e);
		cl->eof = true;
		cl->in_len = 0;
		settle(cl);
	}
	sd_event_source_set_time(s, now + 1000000);
	sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

int control_attach(sd_event *ev, int fd, const char *path, struct readers *r,
		   const struct control_ops *ops, const char *admin_group, unsigned idle_s,
		   struct control **out)
{
	struct control *c = calloc(1, sizeof *c);
	int rv;
	if (!c)
		return -ENOMEM;
	c->ev = ev;
	c->fd = fd;
	c->readers = r;
	c->ops = ops;
	snprintf(c->path, sizeof c->path, "%s", path);
	control_configure(c, admin_group, idle_s);
	rv = sd_event_add_io(ev, &c->src, fd, EPOLLIN, on_accept, c);
	if (rv >= 0)
		rv = sd_event_add_time_relative(ev, &c->sweep, CLOCK_MONOTONIC, 1000000, 100000, on_sweep, c);
	if (rv >= 0)
		rv = sd_event_source_set_enabled(c->sweep, SD_EVENT_ON);
	if (rv < 0) {
		sd_event_source_disable_unref(c->src);
		free(c);
		return rv;
	}
	*out = c;
	return 0;
}

void control_close(struct control *c)
{
	if (!c)
		return;
	while (c->clients)
		client_close(c->clients);
	sd_event_source_disable_unref(c->src);
	sd_event_source_disable_unref(c->sweep);
	close(c->fd);
	unlink(c->path);
	free(c);
}

void control_broadcast(void *arg, json_t *event)
{
	struct control *c = arg;
	if (!c)
		return;
	const char *kind = json_string_value(json_object_get(event, "event"));
	bool is_apdu = kind && !strcmp(kind, "apdu");
	/* a read's holder data goes in full to administrators only; the group
	 * sees that a card was read, masked as the logs show it */
	bool personal = kind && !strcmp(kind, "card_read");
	json_t *masked = NULL;
	for (struct client *cl = c->clients, *n; cl; cl = n) {
		n = cl->next;
		if (!cl->subscribed || (is_apdu && !cl->trace))
			continue;
		if (personal && !cl->admin && !masked && !(masked = json_masked_copy(event)))
			continue; /* out of memory: nothing rather than everything */
		send_json(cl, personal && !cl->admin ? masked : event);
		settle(cl);
	}
	json_decref(masked);
}
