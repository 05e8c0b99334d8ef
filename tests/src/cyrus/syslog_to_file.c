/* Test harness only (tests/src/cyrus.rs): Cyrus IMAP logs through syslog(3) alone, and the
 * test machines run no syslog daemon (there is no /dev/log). Preloaded into Cyrus' master,
 * and so into every service it starts, this replaces openlog/syslog/vsyslog (and glibc's
 * fortified __syslog_chk/__vsyslog_chk) with appends of one line per message to the file
 * named by $ANVERT_SYSLOG_FILE, so a failing test can print the server's log. It must never
 * change errno (for %m) nor block: one O_APPEND write per line, messages cut at 4 KiB. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static char ident_buf[64] = "";

void openlog(const char *ident, int option, int facility) {
  (void)option;
  (void)facility;
  if (ident) {
    strncpy(ident_buf, ident, sizeof ident_buf - 1);
  }
}

void closelog(void) {}

int setlogmask(int mask) {
  (void)mask;
  return LOG_UPTO(LOG_DEBUG);
}

void vsyslog(int pri, const char *fmt, va_list ap) {
  int saved = errno;
  const char *path = getenv("ANVERT_SYSLOG_FILE");
  if (!path) {
    return;
  }
  char msg[4096];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int n = snprintf(msg, sizeof msg, "%lld.%03ld %s[%d] <%d> ", (long long)now.tv_sec,
                   now.tv_nsec / 1000000, ident_buf, (int)getpid(), pri & 7);
  if (n < 0 || n >= (int)sizeof msg) {
    errno = saved;
    return;
  }
  errno = saved; /* for %m */
  if (vsnprintf(msg + n, sizeof msg - (size_t)n - 1, fmt, ap) < 0) {
    errno = saved;
    return;
  }
  size_t len = strlen(msg);
  msg[len++] = '\n';
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ssize_t written = write(fd, msg, len);
    (void)written;
    close(fd);
  }
  errno = saved;
}

void syslog(int pri, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsyslog(pri, fmt, ap);
  va_end(ap);
}

void __syslog_chk(int pri, int flag, const char *fmt, ...) {
  (void)flag;
  va_list ap;
  va_start(ap, fmt);
  vsyslog(pri, fmt, ap);
  va_end(ap);
}

void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap) {
  (void)flag;
  vsyslog(pri, fmt, ap);
}
