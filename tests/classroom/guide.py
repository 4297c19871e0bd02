"""Writes docs/classroom.md's teacher's guide as one shell script: every `sh` block, in order and as
written, except those the guide marks "not run by the test" (for each of those, a line that says
it was skipped). Used by tests/classroom/run.sh and scripts/bench-classroom.sh.

    python3 tests/classroom/guide.py docs/classroom.md guide.sh
"""
import shlex
import sys

lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
out, run, skipped = [], 0, 0
i = 0
while i < len(lines):
    if lines[i].strip() != "```sh":
        i += 1
        continue
    end = lines.index("```", i + 1)
    block = lines[i + 1:end]
    before = "\n".join(lines[max(0, i - 4):i])
    comment = before.rfind("<!--")
    if comment >= 0 and "not run by the test" in before[comment:] and before.rstrip().endswith("-->"):
        skipped += 1
        out.append("echo " + shlex.quote(f"[guide] skipped, as the guide marks it: {block[0][:60]}"))
    else:
        run += 1
        out.append("echo " + shlex.quote(f"[guide] block {run}: {block[0][:60]}"))
        out.extend(block)
    i = end + 1
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(out) + "\n")
print(f"classroom: the guide has {run} blocks to run and {skipped} marked not run")
