/* sort: sort lines bytewise, as GNU sort does in the C locale.
 *
 * Flags: -r reverse, -n numeric, -u keep the first of each run of equal
 * lines (equal numbers under -n). A number is leading blanks, an optional
 * '-', digits and a decimal fraction. Lines without a number count as zero,
 * and equal numbers fall back to a bytewise comparison.
 */
#include <ctype.h>
#include "_common.c"

struct line {
  const char *text;
  size_t len;
  size_t index;
};

static int reverse, numeric, unique;

/* Compare the leading numbers of two strings without converting them, so
 * that long digit strings compare exactly. */
static int compare_numbers(const char *a, const char *b) {
  while (*a == ' ' || *a == '\t') a++;
  while (*b == ' ' || *b == '\t') b++;
  int neg_a = *a == '-' && (isdigit((unsigned char)a[1]) || a[1] == '.');
  int neg_b = *b == '-' && (isdigit((unsigned char)b[1]) || b[1] == '.');
  a += neg_a;
  b += neg_b;
  while (*a == '0') a++;
  while (*b == '0') b++;
  size_t int_a = 0, int_b = 0;
  while (isdigit((unsigned char)a[int_a])) int_a++;
  while (isdigit((unsigned char)b[int_b])) int_b++;
  int mag;
  if (int_a != int_b) {
    mag = int_a < int_b ? -1 : 1;
  } else {
    mag = memcmp(a, b, int_a);
    mag = (mag > 0) - (mag < 0);
    const char *fa = a + int_a, *fb = b + int_b;
    fa += *fa == '.';
    fb += *fb == '.';
    while (mag == 0 && (isdigit((unsigned char)*fa) || isdigit((unsigned char)*fb))) {
      char da = isdigit((unsigned char)*fa) ? *fa++ : '0';
      char db = isdigit((unsigned char)*fb) ? *fb++ : '0';
      mag = (da > db) - (da < db);
    }
  }
  if (mag == 0) return 0;
  if (neg_a && neg_b) return -mag;
  if (neg_a) return -1;
  if (neg_b) return 1;
  return mag;
}

static int compare_bytes(const struct line *a, const struct line *b) {
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->text, b->text, n);
  if (c != 0) return c;
  return (a->len > b->len) - (a->len < b->len);
}

/* The key comparison; under -u, lines that compare equal here are dups. */
static int compare_keys(const struct line *a, const struct line *b) {
  if (!numeric) return compare_bytes(a, b);
  int c = compare_numbers(a->text, b->text);
  if (c != 0 || unique) return c;
  return compare_bytes(a, b);
}

static int compare(const void *pa, const void *pb) {
  const struct line *a = pa, *b = pb;
  int c = compare_keys(a, b);
  if (reverse) c = -c;
  if (c != 0) return c;
  /* Keep input order among equal lines, so -u keeps the first one. */
  return (a->index > b->index) - (a->index < b->index);
}

static int read_input(FILE *in, char ***chunks, size_t *nchunks) {
  size_t len = 0;
  char *data = tool_read_all(in, &len);
  if (data == NULL) return -1;
  char **grown = realloc(*chunks, (*nchunks + 1) * sizeof *grown);
  if (grown == NULL) return -1;
  grown[(*nchunks)++] = data;
  *chunks = grown;
  return 0;
}

int main(int argc, char **argv) {
  int i = 1;
  char **chunks = NULL;
  size_t nchunks = 0;
  tool_init("sort");
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    for (const char *p = argv[i] + 1; *p != '\0'; p++) {
      if (*p == 'r') reverse = 1;
      else if (*p == 'n') numeric = 1;
      else if (*p == 'u') unique = 1;
      else { fprintf(stderr, "sort: invalid option -- '%c'\n", *p); return 2; }
    }
  }
  if (i == argc && read_input(stdin, &chunks, &nchunks) != 0) { tool_warn_errno("-"); return 2; }
  for (; i < argc; i++) {
    FILE *in = tool_open(argv[i]);
    if (in == NULL || read_input(in, &chunks, &nchunks) != 0) {
      fprintf(stderr, "sort: cannot read: %s: %s\n", argv[i], strerror(errno));
      return 2;
    }
    tool_close(in);
  }

  /* Split every input into lines; a last line without newline still counts. */
  size_t count = 0, cap = 1024;
  struct line *lines = malloc(cap * sizeof *lines);
  if (lines == NULL) return 2;
  for (size_t c = 0; c < nchunks; c++) {
    char *p = chunks[c];
    while (*p != '\0') {
      char *end = strchr(p, '\n');
      size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
      if (count == cap) {
        cap *= 2;
        lines = realloc(lines, cap * sizeof *lines);
        if (lines == NULL) return 2;
      }
      p[len] = '\0';
      lines[count] = (struct line){p, len, count};
      count++;
      p += len + (end != NULL);
    }
  }

  qsort(lines, count, sizeof *lines, compare);
  for (size_t k = 0; k < count; k++) {
    if (unique && k > 0 && compare_keys(&lines[k - 1], &lines[k]) == 0) continue;
    fwrite(lines[k].text, 1, lines[k].len, stdout);
    putchar('\n');
  }
  return fflush(stdout) == 0 ? 0 : 2;
}
