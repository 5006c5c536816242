/* tail: print the last lines (-n N, -n +N, default 10) or bytes (-c N). */
#include "_common.c"

static long long limit = 10;
static int by_bytes, from_start;

static int tail(FILE *in) {
  size_t len = 0, start = 0;
  char *data = tool_read_all(in, &len);
  if (data == NULL) return -1;
  if (by_bytes) {
    if (from_start) start = limit > 0 ? (size_t)(limit - 1) : 0;
    else start = (size_t)limit >= len ? 0 : len - (size_t)limit;
  } else if (from_start) {
    long long line = 1;
    while (start < len && line < limit) {
      if (data[start++] == '\n') line++;
    }
  } else {
    long long newlines = 0;
    start = len;
    /* A final line without a newline still counts as a line. */
    if (start > 0 && data[start - 1] == '\n') start--;
    while (start > 0) {
      if (data[start - 1] == '\n' && ++newlines == limit) break;
      start--;
    }
    if (limit == 0) start = len;
  }
  if (start > len) start = len;
  fwrite(data + start, 1, len - start, stdout);
  free(data);
  return 0;
}

int main(int argc, char **argv) {
  int status = 0, i = 1;
  tool_init("tail");
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    char flag = argv[i][1];
    if (flag != 'n' && flag != 'c') {
      fprintf(stderr, "tail: invalid option -- '%c'\n", flag);
      return 1;
    }
    const char *value = argv[i][2] != '\0' ? argv[i] + 2 : (i + 1 < argc ? argv[++i] : NULL);
    by_bytes = flag == 'c';
    from_start = value != NULL && value[0] == '+';
    limit = tool_parse_count(from_start ? value + 1 : value);
    if (limit < 0) {
      fprintf(stderr, "tail: invalid number of %s: '%s'\n", by_bytes ? "bytes" : "lines",
              value == NULL ? "" : value);
      return 1;
    }
  }
  int nfiles = argc - i;
  if (nfiles == 0) return tail(stdin) == 0 ? 0 : 1;
  for (int first = i; i < argc; i++) {
    FILE *in = tool_open(argv[i]);
    if (in == NULL) {
      fprintf(stderr, "tail: cannot open '%s' for reading: %s\n", argv[i], strerror(errno));
      status = 1;
      continue;
    }
    if (nfiles > 1) printf("%s==> %s <==\n", i > first ? "\n" : "", strcmp(argv[i], "-") == 0 ? "standard input" : argv[i]);
    if (tail(in) != 0) { tool_warn_errno(argv[i]); status = 1; }
    tool_close(in);
  }
  return fflush(stdout) == 0 ? status : 1;
}
