/* ls: list directory entries one per line, sorted bytewise (-a, -1).
 *
 * Operands are listed in argument order; GNU ls prints file operands before
 * directories. */
#include <dirent.h>
#include <sys/stat.h>
#include "_common.c"

static int show_all;

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(const char *path) {
  DIR *dir = opendir(path);
  if (dir == NULL) return -1;
  size_t count = 0, cap = 64;
  char **names = malloc(cap * sizeof *names);
  struct dirent *entry;
  while (names != NULL && (entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.' && !show_all) continue;
    if (count == cap) names = realloc(names, (cap *= 2) * sizeof *names);
    if (names != NULL) names[count++] = strdup(entry->d_name);
  }
  closedir(dir);
  if (names == NULL) return -1;
  qsort(names, count, sizeof *names, compare_names);
  for (size_t i = 0; i < count; i++) {
    puts(names[i]);
    free(names[i]);
  }
  free(names);
  return 0;
}

int main(int argc, char **argv) {
  int status = 0, i = 1;
  tool_init("ls");
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    for (const char *p = argv[i] + 1; *p != '\0'; p++) {
      if (*p == 'a') show_all = 1;
      else if (*p != '1') { fprintf(stderr, "ls: invalid option -- '%c'\n", *p); return 2; }
    }
  }
  if (i == argc) return list_dir(".") == 0 ? 0 : 2;
  int nargs = argc - i;
  for (int first = i; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "ls: cannot access '%s': %s\n", argv[i], strerror(errno));
      status = 2;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) { puts(argv[i]); continue; }
    if (nargs > 1) printf("%s%s:\n", i > first ? "\n" : "", argv[i]);
    if (list_dir(argv[i]) != 0) {
      fprintf(stderr, "ls: cannot open directory '%s': %s\n", argv[i], strerror(errno));
      status = 2;
    }
  }
  return fflush(stdout) == 0 ? status : 2;
}
