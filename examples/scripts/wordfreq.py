"""Print the most common words of a text file as "count word" lines."""

import re
import sys
from collections import Counter

TOP = 10


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        words = re.findall(r"[a-z']+", handle.read().lower())
    total = len(words)
    print(f"words {total}")
    for word, count in Counter(words).most_common(TOP):
        print(f"{count} {word}")


if __name__ == "__main__":
    main(sys.argv[1])
