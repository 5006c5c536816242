"""Summarise Debian's release table (distro-info-data's debian.csv).

Prints, per release with both dates known, the days from release to end of
life, then the longest-supported release and the mean support in days.
"""

import csv
import sys
from datetime import date


def main(path: str) -> None:
    spans = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("release") and row.get("eol"):
                days = (
                    date.fromisoformat(row["eol"]) - date.fromisoformat(row["release"])
                ).days
                spans.append((row["version"], row["codename"], days))
    for version, codename, days in spans:
        print(f"{version} {codename} {days}")
    longest = max(spans, key=lambda span: span[2])
    print(f"longest {longest[1]} {longest[2]}")
    print(f"mean {sum(s[2] for s in spans) / len(spans):.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
