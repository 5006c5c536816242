/* grep: print lines matching a pattern.
 *
 * Flags: -F fixed string, -E extended regex (default basic regex), -i, -v,
 * -c, -n, -q. Exit status 0 when a line matched, 1 when none did, 2 on error.
 */
#include <ctype.h>
#include <regex.h>
#include "_common.c"

static int fixed, extended, ignore_case, invert, count_only, number, quiet;
static regex_t regex;
static char *needle;

static void lower(char *s) {
  for (; *s != '\0'; s++) *s = (char)tolower((unsigned char)*s);
}

static int matches(char *line) {
  if (!fixed) return regexec(&regex, line, 0, NULL, 0) == 0;
  if (!ignore_case) return strstr(line, needle) != NULL;
  char *copy = strdup(line);
  if (copy == NULL) return 0;
  lower(copy);
  int found = strstr(copy, needle) != NULL;
  free(copy);
  return found;
}

/* Scan one input; return the number of selected lines or -1 on read error. */
static long long scan(FILE *in, const char *prefix) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long long selected = 0, lineno = 0;
  while ((len = getline(&line, &cap, in)) >= 0) {
    lineno++;
    int has_newline = len > 0 && line[len - 1] == '\n';
    if (has_newline) line[len - 1] = '\0';
    if (matches(line) == invert) continue;
    selected++;
    if (quiet) break;
    if (count_only) continue;
    if (prefix != NULL) printf("%s:", prefix);
    if (number) printf("%lld:", lineno);
    puts(line);
  }
  free(line);
  return ferror(in) ? -1 : selected;
}

static int parse_flags(int argc, char **argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    if (strcmp(argv[i], "--") == 0) return i + 1;
    for (const char *p = argv[i] + 1; *p != '\0'; p++) {
      switch (*p) {
        case 'F': fixed = 1; break;
        case 'E': extended = 1; break;
        case 'G': extended = 0; break;
        case 'i': ignore_case = 1; break;
        case 'v': invert = 1; break;
        case 'c': count_only = 1; break;
        case 'n': number = 1; break;
        case 'q': quiet = 1; break;
        default:
          fprintf(stderr, "grep: invalid option -- '%c'\n", *p);
          return -1;
      }
    }
  }
  return i;
}

static int compile(const char *pattern) {
  if (fixed) {
    needle = strdup(pattern);
    if (needle != NULL && ignore_case) lower(needle);
    return needle == NULL ? -1 : 0;
  }
  int flags = REG_NOSUB | (extended ? REG_EXTENDED : 0) | (ignore_case ? REG_ICASE : 0);
  int rc = regcomp(&regex, pattern, flags);
  if (rc != 0) {
    char message[256];
    regerror(rc, &regex, message, sizeof message);
    fprintf(stderr, "grep: %s\n", message);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  int i, error = 0;
  long long total = 0;
  tool_init("grep");
  i = parse_flags(argc, argv);
  if (i < 0) return 2;
  if (i >= argc) {
    tool_usage("[-FEivcnq] PATTERN [FILE]...");
    return 2;
  }
  if (compile(argv[i++]) != 0) return 2;
  int nfiles = argc - i;
  if (nfiles == 0) {
    total = scan(stdin, NULL);
    if (total < 0) { tool_warn_errno("(standard input)"); return 2; }
    if (count_only && !quiet) printf("%lld\n", total);
    return total > 0 ? 0 : 1;
  }
  for (; i < argc; i++) {
    FILE *in = tool_open(argv[i]);
    const char *label = strcmp(argv[i], "-") == 0 ? "(standard input)" : argv[i];
    if (in == NULL) { tool_warn_errno(argv[i]); error = 1; continue; }
    long long selected = scan(in, nfiles > 1 && !count_only ? label : NULL);
    tool_close(in);
    if (selected < 0) { tool_warn_errno(argv[i]); error = 1; continue; }
    if (count_only && !quiet) {
      if (nfiles > 1) printf("%s:", label);
      printf("%lld\n", selected);
    }
    total += selected;
    if (quiet && total > 0) return 0;
  }
  if (error && !(quiet && total > 0)) return 2;
  return total > 0 ? 0 : 1;
}
