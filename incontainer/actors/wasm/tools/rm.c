/* rm: remove files (-f ignores missing ones; directories are not removed). */
#include "_common.c"

int main(int argc, char **argv) {
  int status = 0, force = 0, i = 1;
  tool_init("rm");
  if (i < argc && strcmp(argv[i], "-f") == 0) {
    force = 1;
    i++;
  }
  if (i == argc && !force) {
    fprintf(stderr, "rm: missing operand\n");
    return 1;
  }
  for (; i < argc; i++) {
    if (unlink(argv[i]) != 0 && !(force && errno == ENOENT)) {
      fprintf(stderr, "rm: cannot remove '%s': %s\n", argv[i], strerror(errno));
      status = 1;
    }
  }
  return status;
}
