/* uniq: collapse adjacent equal lines (GNU flags -c, -d, -u). */
#include "_common.c"

static int show_count, only_dups, only_unique;
static FILE *out;

static void emit(const char *line, long long n) {
  if (only_dups && n < 2) return;
  if (only_unique && n > 1) return;
  if (show_count) fprintf(out, "%7lld ", n);
  fputs(line, out);
}

int main(int argc, char **argv) {
  int i = 1;
  tool_init("uniq");
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    for (const char *p = argv[i] + 1; *p != '\0'; p++) {
      if (*p == 'c') show_count = 1;
      else if (*p == 'd') only_dups = 1;
      else if (*p == 'u') only_unique = 1;
      else { fprintf(stderr, "uniq: invalid option -- '%c'\n", *p); return 1; }
    }
  }
  FILE *in = stdin;
  out = stdout;
  if (i < argc && (in = tool_open(argv[i])) == NULL) { tool_warn_errno(argv[i]); return 1; }
  if (i + 1 < argc && (out = fopen(argv[i + 1], "wb")) == NULL) { tool_warn_errno(argv[i + 1]); return 1; }

  char *prev = NULL, *line = NULL;
  size_t prev_cap = 0, cap = 0;
  long long n = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, in)) >= 0) {
    /* A last line without newline compares equal to the same text with one. */
    if (len > 0 && line[len - 1] != '\n') {
      if ((size_t)len + 2 > cap) line = realloc(line, cap = (size_t)len + 2);
      line[len] = '\n';
      line[len + 1] = '\0';
    }
    if (prev != NULL && strcmp(prev, line) == 0) { n++; continue; }
    if (prev != NULL) emit(prev, n);
    char *swap = prev; size_t swap_cap = prev_cap;
    prev = line; prev_cap = cap;
    line = swap; cap = swap_cap;
    n = 1;
  }
  if (prev != NULL) emit(prev, n);
  if (ferror(in)) { tool_warn_errno(i < argc ? argv[i] : "-"); return 1; }
  return fflush(out) == 0 ? 0 : 1;
}
