#!/usr/bin/env python3
"""Fails when a folder of relayscope includes a header it may not use.

Every #include of every .cc/.h under the root is mapped to the component
(folder) of the including file and of the included header; an edge that
tools/layers.txt does not allow is reported as file:line with the edge.
The include path (-I root) lets any target include any header, so this
check is what keeps "a lower layer never includes a higher one" true.

  tools/check_layering.py                  # the repository this file is in
  tools/check_layering.py --root DIR --layers FILE

Exit status: 0 clean, 1 forbidden edges, 2 a broken layers file.
"""

import argparse
import os
import re
import sys

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
TEST_FILE_RE = re.compile(r"_test\.(cc|h)$")
SOURCE_SUFFIXES = (".cc", ".h")
# Build trees, VCS data and fuzz corpora are not source.
SKIP_DIRS = {"build", ".git", "corpus"}
GENERATED_PROTO_PREFIX = "relayscope/v1/"


class LayersError(Exception):
    pass


class Layers:
    """The parsed layers file: components, allowed edges, exceptions."""

    def __init__(self, path):
        self.path = path
        self.uses = {}  # component -> set of components it names, or {"*"}
        self.trees = set()  # components that also hold their subfolders
        self.test_support = set()
        self.exceptions = {}  # (file, component) -> line number in layers file
        self._parse()
        self._closure = {}

    def _parse(self):
        with open(self.path, encoding="utf-8") as f:
            lines = f.readlines()
        for number, raw in enumerate(lines, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            where = f"{self.path}:{number}"
            if line.startswith("exception "):
                match = re.fullmatch(r"exception\s+(\S+)\s*->\s*(\S+)", line)
                if not match:
                    raise LayersError(f"{where}: expected 'exception <file> -> <component>'")
                if "#" not in raw:
                    raise LayersError(f"{where}: an exception needs a '# reason'")
                self.exceptions[(match.group(1), match.group(2))] = number
                continue
            name, sep, rest = line.partition(":")
            name = name.strip()
            if not sep or not name:
                raise LayersError(f"{where}: expected '<component>: <component> ...'")
            targets = set(rest.split())
            if name == "test_support":
                self.test_support |= targets
                continue
            if name.endswith("/..."):
                name = name[: -len("/...")]
                self.trees.add(name)
            if name in self.uses:
                raise LayersError(f"{where}: component {name} listed twice")
            self.uses[name] = targets
        for name, targets in list(self.uses.items()) + [("test_support", self.test_support)]:
            for target in targets:
                if target != "*" and target not in self.uses:
                    raise LayersError(f"{self.path}: {name} names unknown component {target}")
        for (_, component), number in self.exceptions.items():
            if component not in self.uses:
                raise LayersError(f"{self.path}:{number}: unknown component {component}")

    def component_of(self, folder):
        """The component of a folder: itself if listed, else the longest
        listed tree ("name/...") above it, else None."""
        if folder in self.uses:
            return folder
        best = None
        for name in self.trees:
            if folder.startswith(name + "/"):
                if best is None or len(name) > len(best):
                    best = name
        return best

    def allowed(self, component):
        """Every component `component` may include from (transitively)."""
        if component in self._closure:
            return self._closure[component]
        result = {component}
        stack = [component]
        while stack:
            current = stack.pop()
            for target in self.uses[current]:
                if target == "*":
                    result = set(self.uses) | {"*"}
                    stack = []
                    break
                if target not in result:
                    result.add(target)
                    stack.append(target)
        self._closure[component] = result
        return result

    def allowed_for_test(self, component):
        # The support folders themselves, not what they may use: a test
        # reaches the rest of the tree only through its own layer.
        return self.allowed(component) | self.test_support


def source_files(root):
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.relpath(os.path.join(directory, name), root)


def resolve(include, including_file, files):
    """The repository path of an included header, or None if external."""
    if include.startswith(GENERATED_PROTO_PREFIX):
        return "proto/" + include
    if include in files:
        return include
    local = os.path.normpath(os.path.join(os.path.dirname(including_file), include))
    if local in files:
        return local
    return None


def check(root, layers):
    """Returns the list of violation messages for the tree at root."""
    files = set(source_files(root))
    problems = []
    used_exceptions = set()
    for path in sorted(files):
        folder = os.path.dirname(path)
        component = layers.component_of(folder)
        if component is None:
            problems.append(f"{path}: folder {folder or '.'} is not a component of "
                            f"{layers.path}; give it its place in the layering")
            continue
        is_test = bool(TEST_FILE_RE.search(path))
        allowed = layers.allowed_for_test(component) if is_test else layers.allowed(component)
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        for number, line in enumerate(lines, 1):
            match = INCLUDE_RE.match(line)
            if not match:
                continue
            header = resolve(match.group(1), path, files)
            if header is None:
                continue
            target = layers.component_of(os.path.dirname(header))
            if target is None:
                problems.append(f"{path}:{number}: includes {match.group(1)}, whose folder "
                                f"is not a component of {layers.path}")
                continue
            if "*" in allowed or target in allowed:
                continue
            if (path, target) in layers.exceptions:
                used_exceptions.add((path, target))
                continue
            kind = "test of " if is_test else ""
            problems.append(
                f"{path}:{number}: forbidden edge {component} -> {target}: "
                f"a {kind}{component} may not include {match.group(1)} "
                f"(it may use: {', '.join(sorted(allowed - {'*'}))})")
    for edge, number in sorted(layers.exceptions.items()):
        if edge not in used_exceptions:
            problems.append(f"{layers.path}:{number}: exception {edge[0]} -> {edge[1]} "
                            f"is no longer needed; remove it")
    return problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.dirname(here))
    parser.add_argument("--layers", default=os.path.join(here, "layers.txt"))
    args = parser.parse_args()
    try:
        layers = Layers(args.layers)
    except (LayersError, OSError) as error:
        print(f"layering: {error}", file=sys.stderr)
        return 2
    problems = check(args.root, layers)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"layering: {len(problems)} problem(s); the layering is {args.layers}",
              file=sys.stderr)
        return 1
    print(f"layering: ok ({len(set(source_files(args.root)))} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
