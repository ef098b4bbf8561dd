#!/usr/bin/env python3
"""Static checks of the Dockerfiles (no Docker engine or hadolint here; Python standard library only).

For each docker/Dockerfile*: every image is pinned to a tag (no implicit or :latest), every
`COPY --from=` names an earlier stage, every plain `COPY` source exists in the repository (the build
context), the last stage has an exec-form ENTRYPOINT whose script is copied in and executable, and the
final stage does not run as root.
Run: python3 docker/lint.py   (exit 1 with one line per problem)
"""
import glob
import json
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def instructions(path):
    """(line number, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf, start = [], "", 0
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if not buf:
                start = n
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            word, _, rest = buf.strip().partition(" ")
            out.append((start, word.upper(), rest.strip()))
            buf = ""
    return out


def lint(path):
    problems, stages, user, entry, copied = [], [], None, None, {}
    name = os.path.relpath(path, REPO)
    for n, op, args in instructions(path):
        where = "%s:%d" % (name, n)
        if op == "FROM":
            parts = args.split()
            image = parts[0]
            if ":" not in image.split("/")[-1] or image.endswith(":latest"):
                problems.append("%s: image not pinned to a tag: %s" % (where, image))
            stages.append(parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None)
            user, entry, copied = None, None, {}
        elif op == "COPY":
            parts = args.split()
            flags = [p for p in parts if p.startswith("--")]
            paths = [p for p in parts if not p.startswith("--")]
            sources, dest = paths[:-1], paths[-1]
            stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if stage is not None:
                if stage not in stages[:-1] and ":" not in stage:
                    problems.append("%s: COPY --from=%s names no earlier stage" % (where, stage))
            else:
                for s in sources:
                    if not glob.glob(os.path.join(REPO, s)):
                        problems.append("%s: COPY source not in the build context: %s" % (where, s))
                    copied[dest] = s
        elif op == "USER":
            user = args.split(":")[0]
        elif op == "ENTRYPOINT":
            entry = (n, args)
    if entry is None:
        problems.append("%s: the final stage has no ENTRYPOINT" % name)
    else:
        n, args = entry
        try:
            command = json.loads(args)
        except ValueError:
            problems.append("%s:%d: ENTRYPOINT is not in exec (JSON array) form: %s" % (name, n, args))
        else:
            script = copied.get(command[0])
            if script is None:
                problems.append("%s:%d: ENTRYPOINT %s is not copied into the final stage" % (name, n, command[0]))
            elif not os.access(os.path.join(REPO, script), os.X_OK):
                problems.append("%s:%d: ENTRYPOINT script is not executable: %s" % (name, n, script))
    if user in (None, "root", "0"):
        problems.append("%s: the final stage runs as root (add USER)" % name)
    return problems


def main():
    files = sorted(glob.glob(os.path.join(REPO, "docker", "Dockerfile*")))
    if not files:
        print("docker lint: no Dockerfiles found", file=sys.stderr)
        return 1
    problems = [p for f in files for p in lint(f)]
    for p in problems:
        print("docker lint: " + p, file=sys.stderr)
    print("docker lint: %d Dockerfile(s), %d problem(s)" % (len(files), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
