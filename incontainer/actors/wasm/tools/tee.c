/* tee: copy standard input to standard output and to files (-a appends). */
#include "_common.c"

int main(int argc, char **argv) {
  static char buf[65536];
  const char *mode = "wb";
  int status = 0, first = 1, nfiles = 0;
  FILE **outs = calloc((size_t)argc, sizeof *outs);
  const char **names = calloc((size_t)argc, sizeof *names);
  tool_init("tee");
  if (outs == NULL || names == NULL) return 1;
  if (first < argc && strcmp(argv[first], "-a") == 0) {
    mode = "ab";
    first++;
  }
  for (int i = first; i < argc; i++) {
    FILE *f = fopen(argv[i], mode);
    if (f == NULL) {
      tool_warn_errno(argv[i]);
      status = 1;
      continue;
    }
    names[nfiles] = argv[i];
    outs[nfiles++] = f;
  }
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
    fwrite(buf, 1, n, stdout);
    for (int j = 0; j < nfiles; j++) {
      if (fwrite(buf, 1, n, outs[j]) != n) {
        tool_warn_errno(names[j]);
        status = 1;
      }
    }
  }
  for (int j = 0; j < nfiles; j++) {
    if (fclose(outs[j]) != 0) status = 1;
  }
  return fflush(stdout) == 0 ? status : 1;
}
