#!/usr/bin/env python3
"""Checks the layering rules of docs/ARCHITECTURE.md on the source tree.

  check_layering.py ROOT          exit 1 listing every file:line that includes across a
                                  forbidden arrow, and every CMake target that links one
  check_layering.py --self-test   builds a small tree with one violation of each kind and
                                  checks that each is reported (so the check can fail)

The rules, one table: MODULES gives each part the parts it may depend on; only the parts
in LIBTORCH include LibTorch; the parts in CUDA_FREE never see CUDA (no CUDA header, no
__host__/__device__ qualifier, no __CUDACC__). Tests, benchmarks and fuzzers are outside
the rules (they may reach into what they test).
"""
import os
import re
import sys
import tempfile

# part -> the parts its sources may include and its CMake targets may link (besides itself)
MODULES = {
    "core": [],
    "data": ["core", "kernels"],
    "kernels": ["core"],
    "transform": ["core", "data", "kernels"],
    "feed": ["core", "data", "kernels"],
    "eval": ["core", "data", "kernels"],
    "registry": ["core"],
    "sweep": ["core", "data", "eval"],
    "pipeline": ["core", "data", "eval", "registry"],
    "trainer": ["core", "data", "kernels", "transform", "feed", "eval", "registry"],
    "trainer/cli": ["core", "data", "kernels", "transform", "feed", "eval", "registry", "sweep",
                    "pipeline", "trainer"],
}
LIBTORCH = {"trainer"}
CUDA_FREE = {"core", "data", "transform", "registry", "sweep", "pipeline"}
# CMake target -> part
TARGETS = {
    "kiln_core": "core",
    "kiln_data": "data",
    "kiln_kernels": "kernels",
    "kiln_transform": "transform",
    "kiln_feed": "feed",
    "kiln_eval": "eval",
    "kiln_registry": "registry",
    "kiln_sweep": "sweep",
    "kiln_pipeline": "pipeline",
    "kiln_trainer": "trainer",
    "kiln_trainer_base": "trainer",
    "kiln_cli": "trainer/cli",
    "kiln_torch": "trainer/cli",
    "kiln": "trainer/cli",
}
SOURCE_SUFFIXES = (".h", ".cpp", ".cu", ".cuh", ".in")
PROJECT_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SYSTEM_INCLUDE = re.compile(r"^\s*#\s*include\s+<([^>]+)>")
LIBTORCH_HEADER = re.compile(r"^(torch|ATen|c10|caffe2)/")
CUDA_HEADER = re.compile(r"^(cuda|cuda_runtime|cuda_runtime_api|cuda_fp16|cuda_bf16|thrust/|cub/|"
                         r"cooperative_groups|nccl|cudnn|cublas|curand|nvtx)")
CUDA_WORD = re.compile(r"\b(__host__|__device__|__global__|__CUDACC__)\b")


def part_of(path):
    """The part a repository-relative path belongs to, or None (tests, docs, scripts)."""
    for part in sorted(MODULES, key=len, reverse=True):
        if path.startswith(part + "/"):
            return part
    return None


def part_of_include(name):
    """The part an include such as "data/loader.h" names, or None."""
    if name.startswith("trainer/sweep/"):
        return "trainer"  # an old path: sweep/ is its own part now
    return part_of(name)


def strip_comments(line, in_block):
    """The line without // and /* */ comments; whether a block comment is still open."""
    out = ""
    i = 0
    while i < len(line):
        if in_block:
            end = line.find("*/", i)
            if end < 0:
                return out, True
            i = end + 2
            in_block = False
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_block = True
            i += 2
        else:
            out += line[i]
            i += 1
    return out, in_block


def check_sources(root):
    problems = []
    for directory, _, files in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        if rel_dir.split(os.sep)[0] in ("build", "tests", ".git", "docs", "scripts", ".venv"):
            continue
        for name in sorted(files):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            rel = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
            part = part_of(rel)
            if part is None:
                continue
            allowed = set(MODULES[part]) | {part}
            in_block = False
            with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
                for number, raw in enumerate(f, 1):
                    where = f"{rel}:{number}"
                    match = PROJECT_INCLUDE.match(raw)
                    if match:
                        target = part_of_include(match.group(1))
                        if target is not None and target not in allowed:
                            problems.append(f"{where}: {part}/ includes \"{match.group(1)}\": "
                                            f"{part}/ may depend on {sorted(allowed - {part}) or 'nothing'}")
                    match = SYSTEM_INCLUDE.match(raw)
                    if match and LIBTORCH_HEADER.match(match.group(1)) and part not in LIBTORCH:
                        problems.append(f"{where}: {part}/ includes LibTorch <{match.group(1)}>: "
                                        "only trainer/ may")
                    if match and CUDA_HEADER.match(match.group(1)) and part in CUDA_FREE:
                        problems.append(f"{where}: {part}/ includes CUDA <{match.group(1)}>: "
                                        f"{part}/ knows nothing of CUDA")
                    code, in_block = strip_comments(raw, in_block)
                    word = CUDA_WORD.search(code)
                    if word and part in CUDA_FREE:
                        problems.append(f"{where}: {part}/ uses {word.group(1)}: "
                                        f"{part}/ knows nothing of CUDA")
    return problems


def cmake_calls(text, command):
    """(line, argument words) of each call of `command` in a CMake file."""
    for match in re.finditer(r"\b" + command + r"\s*\(", text):
        depth, i = 1, match.end()
        while i < len(text) and depth > 0:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        body = re.sub(r"#[^\n]*", "", text[match.end():i - 1])
        yield text.count("\n", 0, match.start()) + 1, body.split()


def check_cmake(root):
    problems = []
    for directory, _, files in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        if rel_dir.split(os.sep)[0] in ("build", ".git", ".venv"):
            continue
        if "CMakeLists.txt" not in files:
            continue
        rel = os.path.normpath(os.path.join(rel_dir, "CMakeLists.txt")).replace(os.sep, "/")
        with open(os.path.join(directory, "CMakeLists.txt"), encoding="utf-8") as f:
            text = f.read()
        links = []  # (line, target, its dependencies)
        for line, words in cmake_calls(text, "kiln_add_library"):
            if words and "DEPS" in words:
                links.append((line, words[0], words[words.index("DEPS") + 1:]))
        for line, words in cmake_calls(text, "target_link_libraries"):
            if words:
                links.append((line, words[0], words[1:]))
        for line, target, deps in links:
            part = TARGETS.get(target)
            if part is None:
                continue
            allowed = set(MODULES[part]) | {part}
            for dep in deps:
                dep_part = TARGETS.get(dep)
                if dep_part is not None and dep_part not in allowed:
                    problems.append(f"{rel}:{line}: {target} links {dep}: {part}/ may depend on "
                                    f"{sorted(allowed - {part}) or 'nothing'}")
                if "TORCH" in dep.upper() and part not in LIBTORCH:
                    problems.append(f"{rel}:{line}: {target} links LibTorch ({dep}): only "
                                    "trainer/ may")
    return problems


def check(root):
    return check_sources(root) + check_cmake(root)


def self_test():
    """One violation of each kind in a scratch tree; each must be reported."""
    cases = {
        "kernels/a.h": '#include "data/loader.h"\n',                    # kernels -> data
        "data/b.cpp": "#include <torch/torch.h>\n",                       # LibTorch outside trainer
        "data/c.h": "#include <cuda_runtime.h>\n",                        # CUDA in data
        "core/d.h": "__host__ __device__ inline int f() { return 1; }\n",  # CUDA qualifier in core
        "eval/e.cpp": '#include "trainer/fit.h"\n',                     # eval -> trainer
        "feed/CMakeLists.txt": "kiln_add_library(kiln_feed SOURCES f.cpp DEPS kiln_core kiln_eval)\n",
        "eval/CMakeLists.txt": "kiln_add_library(kiln_eval SOURCES g.cpp DEPS kiln_core)\n"
                               "target_link_libraries(kiln_eval PUBLIC ${TORCH_LIBRARIES})\n",
    }
    fine = {
        "transform/ok.h": '#include "kernels/transform.h"\n#include "data/dataset.h"\n'
                          "// __device__ in a comment is fine\n",
        "trainer/ok.cpp": '#include <torch/torch.h>\n#include "feed/feed.h"\n',
    }
    with tempfile.TemporaryDirectory() as root:
        for path, text in {**cases, **fine}.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        problems = check(root)
    failed = False
    for path in cases:
        found = [p for p in problems if p.startswith(path + ":")]
        if not found:
            print(f"self-test: the violation in {path} was not reported")
            failed = True
    for path in fine:
        found = [p for p in problems if p.startswith(path + ":")]
        if found:
            print(f"self-test: {path} is fine but was reported: {found}")
            failed = True
    if "eval/CMakeLists.txt" in cases and sum("LibTorch" in p for p in problems) < 2:
        print("self-test: LibTorch outside trainer/ was not reported in both files")
        failed = True
    print("self-test:", "FAILED" if failed else f"ok ({len(problems)} violations found as planted)")
    return 1 if failed else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        print(__doc__)
        return 64
    problems = check(argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering violation(s); the rules are in docs/ARCHITECTURE.md")
        return 1
    print("layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
