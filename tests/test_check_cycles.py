"""scripts/check-cycles on tiny made-up trees: it passes an acyclic one and
fails a cycle made by includes, a cycle made only by calls (seen by nm in
the objects), and an edge against DESIGN.md §1's direction."""
import json
import os
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = os.path.join(TOP, "scripts", "check-cycles")


def tree(tmp_path, files, commands=False):
    """Write files {"dir/name": text} under tmp_path/src, compile every .c
    into tmp_path/build/DIR/libDIR.a.p/NAME.c.o as meson would, and (with
    commands) write the build's compile_commands.json.  Returns (src, build)."""
    src, build = tmp_path / "src", tmp_path / "build"
    cmds = []
    for rel, text in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for rel in files:
        if not rel.endswith(".c"):
            continue
        d, name = rel.split("/")
        out = build / d / f"lib{d}.a.p" / f"{name}.o"
        out.parent.mkdir(parents=True, exist_ok=True)
        incs = [f"-I{src / o}" for o in sorted({r.split('/')[0] for r in files})]
        subprocess.run(["cc", "-c", *incs, str(src / rel), "-o", str(out)], check=True)
        cmds.append({"directory": str(build), "file": str(src / rel),
                     "output": os.path.relpath(out, build), "command": "cc"})
    if commands:
        # a test program recompiling a source must not count
        t = build / "tests" / "t.p" / f"x_{os.path.basename(cmds[0]['file'])}.o"
        t.parent.mkdir(parents=True)
        t.write_bytes((build / cmds[0]["output"]).read_bytes())
        cmds.append(dict(cmds[0], output=os.path.relpath(t, build)))
        (build / "compile_commands.json").write_text(json.dumps(cmds))
    return src, build


def check(src, build, dirs="emulator,crypto"):
    r = subprocess.run(["/usr/bin/python3", CHECK, "--build", str(build), "--dirs", dirs,
                        str(src)], capture_output=True, text=True)
    assert r.stdout.startswith("1..") and "Traceback" not in r.stderr, r.stdout + r.stderr
    return r


# emulator/: a -> b -> c, a -> c, everyone -> crypto/util; no cycle.
ACYCLIC = {
    "crypto/util.h": "int util(int);\n",
    "crypto/util.c": '#include "util.h"\nint util(int x) { return x + 1; }\n',
    "emulator/c.h": "int c_fn(int);\n",
    "emulator/c.c": '#include "c.h"\n#include "util.h"\nint c_fn(int x) { return util(x); }\n',
    "emulator/b_i.h": '#include "c.h"\nint b_fn(int);\n',
    "emulator/b.c": '#include "b_i.h"\nint b_fn(int x) { return c_fn(x) * 2; }\n',
    "emulator/shared.h": "struct shared { int x; };\n",
    "emulator/a.c": '#include "b_i.h"\n#include "c.h"\n#include "shared.h"\n'
                    "int a_fn(int);\nint a_fn(int x) { return b_fn(x) + c_fn(x); }\n",
}


@pytest.mark.parametrize("commands", [False, True])
def test_acyclic_tree_passes(tmp_path, commands):
    src, build = tree(tmp_path, ACYCLIC, commands)
    r = check(src, build)
    assert r.returncode == 0, r.stdout
    assert "not ok" not in r.stdout
    assert "ok 1 - 4 objects of emulator/, crypto/ read" in r.stdout


def verdict(tmp_path, changes, commands=False):
    """Run the check on ACYCLIC with some files changed: (exit status, TAP)."""
    src, build = tree(tmp_path, {**ACYCLIC, **changes}, commands)
    r = check(src, build)
    return r.returncode, r.stdout


def test_cycle_through_includes(tmp_path):
    # c's header now needs a type from a's header: c -> a -> b -> c
    rc, out = verdict(tmp_path, {
        "emulator/a.h": "#pragma once\nstruct a_thing { int n; };\n",
        "emulator/c.h": '#pragma once\n#include "a.h"\nint c_fn(int);\n'})
    assert rc == 1 and "not ok 2 - emulator/: 2 cycles" in out, out
    assert "# cycle in emulator/: a -> b -> c -> a" in out
    assert "# cycle in emulator/: a -> c -> a" in out
    assert 'emulator/c -> emulator/a: emulator/c.h:2 includes "a.h"' in out
    assert "ok 3 - crypto/: no cycles" in out


def test_cycle_only_through_calls(tmp_path):
    # c calls back into a without including anything of a's
    rc, out = verdict(tmp_path, {
        "emulator/c.c": '#include "c.h"\n#include "util.h"\nint a_fn(int);\n'
                        "int c_fn(int x) { return x > 9 ? a_fn(x - 9) : util(x); }\n"},
        commands=True)
    assert rc == 1 and "# cycle in emulator/: a -> c -> a" in out, out
    assert "emulator/c -> emulator/a: c.c.o uses a_fn" in out
    # and without the objects the includes alone do not show it
    r = subprocess.run(["/usr/bin/python3", CHECK, "--dirs", "emulator,crypto",
                        str(tmp_path / "src")], capture_output=True, text=True)
    assert r.returncode == 0 and "# SKIP" in r.stdout, r.stdout


def test_edge_against_the_layering(tmp_path):
    rc, out = verdict(tmp_path, {
        "crypto/util.c": '#include "util.h"\n#include "c.h"\n'
                         "int util(int x) { return x ? c_fn(x - 1) : 0; }\n"})
    assert rc == 1 and "not ok 4 - edges between directories" in out, out
    assert 'crypto/util -> emulator/c: crypto/util.c:2 includes "c.h"' in out
    assert "crypto/util -> emulator/c: util.c.o uses c_fn" in out
    # the cycle it closes spans two directories
    assert "# cycle in several directories:" in out


def test_unbuilt_tree_fails(tmp_path):
    src, build = tree(tmp_path, ACYCLIC)
    for o in (build / "emulator").rglob("*.o"):
        o.unlink()
    r = check(src, build)
    assert r.returncode == 1
    assert "not ok 1 -" in r.stdout and "no objects for emulator/" in r.stdout
