/* cat: concatenate files (or standard input) to standard output. */
#include "_common.c"

static int copy(FILE *in) {
  static char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
    if (fwrite(buf, 1, n, stdout) != n) return -1;
  }
  return ferror(in) ? -1 : 0;
}

int main(int argc, char **argv) {
  int status = 0, files = 0;
  tool_init("cat");
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) continue;
    files++;
    FILE *in = tool_open(argv[i]);
    if (in == NULL || copy(in) != 0) {
      tool_warn_errno(argv[i]);
      status = 1;
    }
    if (in != NULL) tool_close(in);
  }
  if (files == 0 && copy(stdin) != 0) {
    tool_warn_errno("-");
    status = 1;
  }
  return fflush(stdout) == 0 ? status : 1;
}
