/* Helpers linked into every builtin tool (not a tool itself). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *tool_name = "tool";

/* Enter the directory named by PWD so that relative paths resolve inside the
 * guest workspace; the sandbox sets PWD=/workspace. */
void tool_init(const char *name) {
  const char *pwd = getenv("PWD");
  tool_name = name;
  if (pwd != NULL && pwd[0] == '/') {
    (void)chdir(pwd);
  }
}

void tool_warn_errno(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", tool_name, what, strerror(errno));
}

void tool_usage(const char *usage) {
  fprintf(stderr, "Usage: %s %s\n", tool_name, usage);
}

/* Open a named file for reading; "-" is standard input. */
FILE *tool_open(const char *path) {
  if (strcmp(path, "-") == 0) {
    return stdin;
  }
  return fopen(path, "rb");
}

void tool_close(FILE *f) {
  if (f != stdin) {
    fclose(f);
  }
}

/* Read a whole stream into a NUL-terminated heap buffer. */
char *tool_read_all(FILE *f, size_t *len) {
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  if (buf == NULL) {
    return NULL;
  }
  for (;;) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      break;
    }
    if (n == cap) {
      char *bigger = realloc(buf, cap * 2 + 1);
      if (bigger == NULL) {
        free(buf);
        return NULL;
      }
      buf = bigger;
      cap *= 2;
    }
  }
  if (ferror(f)) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Parse a non-negative count such as the N of "-n N"; -1 when invalid. */
long long tool_parse_count(const char *text) {
  char *end = NULL;
  long long value;
  if (text == NULL || *text == '\0') {
    return -1;
  }
  errno = 0;
  value = strtoll(text, &end, 10);
  if (errno != 0 || *end != '\0' || value < 0) {
    return -1;
  }
  return value;
}
