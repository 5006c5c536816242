/* sleep: pause for the given number of seconds (fractions allowed). */
#include <time.h>
#include "_common.c"

int main(int argc, char **argv) {
  double total = 0;
  tool_init("sleep");
  if (argc < 2) {
    fprintf(stderr, "sleep: missing operand\n");
    return 1;
  }
  for (int i = 1; i < argc; i++) {
    char *end = NULL;
    double value = strtod(argv[i], &end);
    if (end == argv[i] || *end != '\0' || value < 0) {
      fprintf(stderr, "sleep: invalid time interval '%s'\n", argv[i]);
      return 1;
    }
    total += value;
  }
  struct timespec ts = {(time_t)total, (long)((total - (double)(time_t)total) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return 0;
}
