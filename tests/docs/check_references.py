"""Every reference from the repository's files to a document or source file
points inside the repository.

  python3 check_references.py SOURCE_DIR

A clone has nothing but its own files, so a comment or a page that sends the
reader to a file that is not there (a design document kept elsewhere, a file
since moved) is a dead end. Checked in every tracked text file:
  - paths rooted at a top-level folder of the repository (`engine/...`,
    `docs/...`, `deploy/...`, ...) that end in a file name with an
    extension, as code comments and prose cite them: the file must exist
    (a `<placeholder>` or `*` in the path skips it, as do paths under
    build/ and node_modules/);
  - Markdown links `[text](target)` to a relative path: the target must
    exist, and a `#fragment` must be one of its headings (GitHub's anchors);
  - a section cited as `FILE.md, "Section"`: FILE must have that heading;
  - the names of documents that live outside the repository (DESIGN.md,
    STYLE.md, TOOLCHAIN.md, PRIOR-ART.md, DEVELOPERS.md): never cited.
Prints each problem as FILE:LINE: message, then `N passed, M failed`.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
OUTSIDE_DOCS = re.compile(r"\b(DESIGN|STYLE|TOOLCHAIN|PRIOR-ART|DEVELOPERS)\.md\b")
TEXT_EXT = {".md", ".h", ".cc", ".py", ".sh", ".yaml", ".yml", ".txt", ".proto", ".cmake",
            ".mjs", ".js", ".tpl", ".service", ".conf", ".in", ""}
SKIP_PREFIXES = ("tests/tools/package-lock.json", "tests/fuzz/corpus/")


def tracked_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True,
                         check=True).stdout
    for path in out.splitlines():
        if path.startswith(SKIP_PREFIXES):
            continue
        _, ext = os.path.splitext(path)
        if ext in TEXT_EXT or os.path.basename(path) in ("CMakeLists.txt", "run"):
            yield path


def top_level_dirs():
    return sorted(d for d in os.listdir(ROOT)
                  if os.path.isdir(os.path.join(ROOT, d)) and not d.startswith(".")
                  and d not in ("build",) and not d.startswith("build-"))


def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    result = set()
    in_code = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            if not in_code and line.startswith("#"):
                result.add(slug(line.lstrip("#")))
    return result


def main():
    dirs = top_level_dirs()
    rooted = re.compile(r"(?<![\w./-])((?:%s)/[\w./-]*[\w-]\.[A-Za-z]{1,5})\b" % "|".join(
        re.escape(d) for d in dirs))
    md_link = re.compile(r"\]\(([^)\s]+)\)")
    section = re.compile(r"([\w./-]+\.md), \"([^\"]+)\"")
    problems = []
    checked = 0
    for path in tracked_files():
        full = os.path.join(ROOT, path)
        try:
            with open(full, errors="replace") as f:
                lines = f.read().splitlines()
        except (IsADirectoryError, FileNotFoundError):
            continue
        for n, line in enumerate(lines, 1):
            if OUTSIDE_DOCS.search(line) and path != "tests/docs/check_references.py":
                problems.append(f"{path}:{n}: cites {OUTSIDE_DOCS.search(line).group(0)}, "
                                "which is not in the repository")
            for m in rooted.finditer(line):
                ref = m.group(1).rstrip(".")
                if "<" in ref or "*" in ref or ref.startswith(("build/", "tests/tools/node_modules")):
                    continue
                checked += 1
                # A header CMake generates from a template (version.h.in).
                if not (os.path.exists(os.path.join(ROOT, ref)) or
                        os.path.exists(os.path.join(ROOT, ref + ".in"))):
                    problems.append(f"{path}:{n}: {ref} does not exist")
            for m in section.finditer(line):
                doc = os.path.join(ROOT, m.group(1))
                if OUTSIDE_DOCS.search(m.group(1)) or not os.path.exists(doc):
                    continue  # reported above
                checked += 1
                # Cited by its heading, or by the heading's first words.
                wanted = slug(m.group(2))
                if not any(a == wanted or a.startswith(wanted + "-") for a in anchors(doc)):
                    problems.append(f"{path}:{n}: {m.group(1)} has no section "
                                    f"\"{m.group(2)}\"")
            if path.endswith(".md"):
                for m in md_link.finditer(line):
                    target = m.group(1)
                    if re.match(r"^[a-z]+:", target) or target.startswith("<"):
                        continue
                    checked += 1
                    file_part, _, fragment = target.partition("#")
                    resolved = (os.path.normpath(os.path.join(os.path.dirname(full), file_part))
                                if file_part else full)
                    if not os.path.exists(resolved):
                        problems.append(f"{path}:{n}: link to {target}: no such file")
                    elif fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
                        problems.append(f"{path}:{n}: link to {target}: no heading "
                                        f"#{fragment} in {os.path.relpath(resolved, ROOT)}")
    for p in problems:
        print(p)
    print(f"{checked} references checked")
    print(f"{checked - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
