/* head: print the first lines (-n N, default 10) or bytes (-c N) of files. */
#include "_common.c"

static long long limit = 10;
static int by_bytes;

static int head(FILE *in) {
  int ch;
  long long seen = 0;
  while (seen < limit && (ch = getc(in)) != EOF) {
    putchar(ch);
    if (by_bytes || ch == '\n') seen++;
  }
  return ferror(in) ? -1 : 0;
}

int main(int argc, char **argv) {
  int status = 0, i = 1;
  tool_init("head");
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    char flag = argv[i][1];
    if ((flag != 'n' && flag != 'c')) {
      fprintf(stderr, "head: invalid option -- '%c'\n", flag);
      return 1;
    }
    const char *value = argv[i][2] != '\0' ? argv[i] + 2 : (i + 1 < argc ? argv[++i] : NULL);
    limit = tool_parse_count(value);
    by_bytes = flag == 'c';
    if (limit < 0) {
      fprintf(stderr, "head: invalid number of %s: '%s'\n", by_bytes ? "bytes" : "lines",
              value == NULL ? "" : value);
      return 1;
    }
  }
  int nfiles = argc - i;
  if (nfiles == 0) return head(stdin) == 0 ? 0 : 1;
  for (int first = i; i < argc; i++) {
    FILE *in = tool_open(argv[i]);
    if (in == NULL) {
      fprintf(stderr, "head: cannot open '%s' for reading: %s\n", argv[i], strerror(errno));
      status = 1;
      continue;
    }
    if (nfiles > 1) printf("%s==> %s <==\n", i > first ? "\n" : "", strcmp(argv[i], "-") == 0 ? "standard input" : argv[i]);
    if (head(in) != 0) { tool_warn_errno(argv[i]); status = 1; }
    tool_close(in);
  }
  return fflush(stdout) == 0 ? status : 1;
}
