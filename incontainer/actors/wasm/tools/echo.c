/* echo: write the arguments separated by spaces (GNU flags -n, -e, -E). */
#include "_common.c"

static void put_escaped(const char *s, int *stop) {
  for (; *s != '\0'; s++) {
    if (*s != '\\' || s[1] == '\0') {
      putchar(*s);
      continue;
    }
    s++;
    switch (*s) {
      case 'n': putchar('\n'); break;
      case 't': putchar('\t'); break;
      case 'r': putchar('\r'); break;
      case 'a': putchar('\a'); break;
      case 'b': putchar('\b'); break;
      case 'f': putchar('\f'); break;
      case 'v': putchar('\v'); break;
      case 'e': putchar(27); break;
      case '\\': putchar('\\'); break;
      case 'c': *stop = 1; return;
      case '0': {
        int value = 0, digits = 0;
        while (digits < 3 && s[1] >= '0' && s[1] <= '7') {
          value = value * 8 + (*++s - '0');
          digits++;
        }
        putchar(value);
        break;
      }
      default: putchar('\\'); putchar(*s); break;
    }
  }
}

/* GNU echo treats an argument as options only if every letter is n, e or E. */
static int is_option(const char *arg) {
  if (arg[0] != '-' || arg[1] == '\0') {
    return 0;
  }
  for (const char *p = arg + 1; *p != '\0'; p++) {
    if (*p != 'n' && *p != 'e' && *p != 'E') {
      return 0;
    }
  }
  return 1;
}

int main(int argc, char **argv) {
  int newline = 1, escapes = 0, stop = 0, i = 1;
  tool_init("echo");
  for (; i < argc && is_option(argv[i]); i++) {
    for (const char *p = argv[i] + 1; *p != '\0'; p++) {
      if (*p == 'n') newline = 0;
      else if (*p == 'e') escapes = 1;
      else escapes = 0;
    }
  }
  for (int first = i; i < argc && !stop; i++) {
    if (i > first) putchar(' ');
    if (escapes) put_escaped(argv[i], &stop);
    else fputs(argv[i], stdout);
  }
  if (newline && !stop) putchar('\n');
  return fflush(stdout) == 0 ? 0 : 1;
}
