/* fresh.c — the loss list's age without trusting the wall clock alone
 * (see fresh.h). */
#include "daemon/losslist/fresh.h"

#include <pthread.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	bool good;
	int64_t published;   /* the signed time the good sync confirmed */
	int64_t lag;         /* reference at that sync − published */
	double boot_at;      /* CLOCK_BOOTTIME of that sync */
	bool have_offset;
	int64_t offset;      /* server Date − wall clock */
	double offset_at;    /* CLOCK_BOOTTIME of that measurement */
} st;

static double boottime(void)
{
	struct timespec t;
	clock_gettime(CLOCK_BOOTTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The later of the wall clock and what the central's Date says now. */
static int64_t reference_now(void)
{
	int64_t wall = (int64_t)time(NULL);
	return st.have_offset && st.offset > 0 ? wall + st.offset : wall;
}

void fresh_note_server_date(int64_t server_date)
{
	if (server_date <= 0)
		return;
	pthread_mutex_lock(&mu);
	st.have_offset = true;
	st.offset = server_date - (int64_t)time(NULL);
	st.offset_at = boottime();
	pthread_mutex_unlock(&mu);
}

void fresh_note_good_sync(int64_t published, int64_t server_date)
{
	if (published <= 0)
		return;
	fresh_note_server_date(server_date);
	pthread_mutex_lock(&mu);
	int64_t ref = reference_now();
	st.good = true;
	st.published = published;
	st.lag = ref - published;
	st.boot_at = boottime();
	pthread_mutex_unlock(&mu);
}

void fresh_eval(const struct loss_info *i, unsigned stale_after, struct loss_fresh *f)
{
	*f = (struct loss_fresh){.stale = true, .basis = "none"};
	pthread_mutex_lock(&mu);
	f->clock_wrong = st.have_offset && (st.offset > FRESH_SKEW_S || st.offset < -FRESH_SKEW_S);
	if (i->version && i->published) {
		int64_t age;
		if (st.good && st.published == i->published) {
			age = st.lag + (int64_t)(boottime() - st.boot_at);
			f->basis = "sync";
		} else {
			age = reference_now() - i->published;
			f->basis = "clock";
		}
		if (age < -FRESH_SKEW_S) {
			f->clock_wrong = true; /* signed in our future: our clock is behind */
		} else {
			f->known = true;
			f->age_s = age < 0 ? 0 : age;
			f->stale = f->age_s > (int64_t)stale_after;
		}
	}
	pthread_mutex_unlock(&mu);
}

bool fresh_clock_offset(int64_t *offset_s, int64_t *measured_s_ago)
{
	pthread_mutex_lock(&mu);
	bool have = st.have_offset;
	*offset_s = st.offset;
	*measured_s_ago = have ? (int64_t)(boottime() - st.offset_at) : 0;
	pthread_mutex_unlock(&mu);
	return have;
}

const char *fresh_message(const struct loss_info *i, const struct loss_fresh *f)
{
	if (!i->version)
		return "No loss list has been received yet.";
	if (!f->known)
		return "This terminal's clock is wrong (it is behind the loss list's signature): the list's age "
		       "cannot be told, so it is treated as out of date. Set the clock (NTP).";
	if (f->stale && f->clock_wrong)
		return "The loss list is treated as out of date: this terminal's clock is wrong (the central's "
		       "time differs by more than 5 minutes). Set the clock (NTP).";
	if (f->stale)
		return "The loss list is out of date: a recent loss may not be in it.";
	return "The loss list is up to date.";
}
