"""Count Redis commands per ACL category in fakeredis's commands.json.

Each entry of that file is Redis's COMMAND INFO reply for one command; the
seventh field lists its ACL categories such as "@read" or "@slow".
"""

import json
import sys
from collections import Counter


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        commands = json.load(handle)
    categories = Counter()
    for info in commands.values():
        categories.update(info[6])
    print(f"commands {len(commands)}")
    for category, count in sorted(categories.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{category} {count}")


if __name__ == "__main__":
    main(sys.argv[1])
