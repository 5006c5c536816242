/* wc: count lines, words and bytes (GNU flags -l, -w, -c, -m). */
#include <ctype.h>
#include <sys/stat.h>
#include "_common.c"

struct counts {
  unsigned long long lines, words, bytes;
};

static int count(FILE *in, struct counts *c) {
  static unsigned char buf[65536];
  int in_word = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
    c->bytes += n;
    for (size_t i = 0; i < n; i++) {
      if (buf[i] == '\n') c->lines++;
      if (isspace(buf[i])) {
        in_word = 0;
      } else if (!in_word) {
        in_word = 1;
        c->words++;
      }
    }
  }
  return ferror(in) ? -1 : 0;
}

static int show_lines, show_words, show_bytes, width;

static void print(const struct counts *c, const char *name) {
  const char *sep = "";
  if (show_lines) { printf("%*llu", width, c->lines); sep = " "; }
  if (show_words) { printf("%s%*llu", sep, width, c->words); sep = " "; }
  if (show_bytes) { printf("%s%*llu", sep, width, c->bytes); }
  if (name != NULL) printf(" %s", name);
  putchar('\n');
}

/* Field width as GNU wc computes it: digits of the summed size of regular
 * files, at least 7 when any input is not a regular file, 1 when only one
 * count of one input is printed. */
static int field_width(int argc, char **argv, int first, int nfiles) {
  unsigned long long total = 0;
  int digits = 1, minimum = 1;
  if (show_lines + show_words + show_bytes == 1 && nfiles <= 1) return 1;
  if (nfiles == 0) return 7;
  for (int i = first; i < argc; i++) {
    struct stat st;
    if (strcmp(argv[i], "-") == 0 || stat(argv[i], &st) != 0) {
      minimum = 7;
    } else if (S_ISREG(st.st_mode)) {
      total += (unsigned long long)st.st_size;
    } else {
      minimum = 7;
    }
  }
  for (; total >= 10; total /= 10) digits++;
  return digits < minimum ? minimum : digits;
}

int main(int argc, char **argv) {
  struct counts sum = {0, 0, 0};
  int status = 0, i = 1;
  tool_init("wc");
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    for (const char *p = argv[i] + 1; *p != '\0'; p++) {
      if (*p == 'l') show_lines = 1;
      else if (*p == 'w') show_words = 1;
      else if (*p == 'c' || *p == 'm') show_bytes = 1;
      else {
        fprintf(stderr, "wc: invalid option -- '%c'\n", *p);
        return 1;
      }
    }
  }
  if (!show_lines && !show_words && !show_bytes) show_lines = show_words = show_bytes = 1;
  int nfiles = argc - i;
  width = field_width(argc, argv, i, nfiles);
  if (nfiles == 0) {
    struct counts c = {0, 0, 0};
    if (count(stdin, &c) != 0) { tool_warn_errno("-"); return 1; }
    print(&c, NULL);
    return 0;
  }
  for (; i < argc; i++) {
    struct counts c = {0, 0, 0};
    FILE *in = tool_open(argv[i]);
    if (in == NULL || count(in, &c) != 0) {
      tool_warn_errno(argv[i]);
      status = 1;
      if (in != NULL) tool_close(in);
      continue;
    }
    tool_close(in);
    print(&c, argv[i]);
    sum.lines += c.lines;
    sum.words += c.words;
    sum.bytes += c.bytes;
  }
  if (nfiles > 1) print(&sum, "total");
  return fflush(stdout) == 0 ? status : 1;
}
