/* realtimers.c — preloaded before libfaketime in the clock tests
 * (test_clock.py): timerfd_settime and timerfd_gettime straight to the
 * kernel. libfaketime moves every absolute timerfd by the faked offset, a
 * CLOCK_MONOTONIC one too (it does not know the timer's clock), so
 * sd-event's monotonic timers would fire months late, or be refused as
 * negative. The daemon's wall clock stays faked; only its timers are real,
 * as they are on a terminal whose clock is wrong. */
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

int timerfd_settime(int fd, int flags, const struct itimerspec *new_value, struct itimerspec *old_value)
{
	return (int)syscall(SYS_timerfd_settime, fd, flags, new_value, old_value);
}

int timerfd_gettime(int fd, struct itimerspec *curr_value)
{
	return (int)syscall(SYS_timerfd_gettime, fd, curr_value);
}
