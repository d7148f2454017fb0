"""A system-call fuzzer for a mounted hsmfs (issue 11, DESIGN.md §7).

Several worker processes -- some root, some unprivileged uids -- make
random system calls on every kind of path of one mount: the root files,
keys/, key directories, versions, operation files with valid, random and
invalid modifiers, lifecycle files, deleted/, invalid names, names of 255
and 256+ bytes, paths over PATH_MAX.  Data written is random bytes or text
shaped like what the files expect.

The parent watches every call: a worker publishes the call it is making in
a shared page before making it, so a call that does not return within
call_timeout seconds is a hang of the daemon, reported with the call.  At
the end the daemon must still be alive and answering, and sign through both
semantics (one handle, two commands) must give signatures openssl accepts.

Used by tests/fs/test_sysfuzz.py (bounded run in the suite) and by
scripts/sysfuzz (long runs): `python3 tests/fs/sysfuzz.py SECONDS`.

Reproduce a run with its seed (HSMFS_SYSFUZZ_SEED): each worker draws from
random.Random("SEED-INDEX"); the interleaving of the workers still varies.
"""
import base64
import collections
import ctypes
import errno
import faulthandler
import fcntl
import json
import mmap
import os
import random
import re
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

import hsmtest  # noqa: E402

# Keys the final check signs with: the fuzzer never runs a destructive
# call (rmdir, ctl commands, rotation policies) on them.
PROTECTED = ["ec-p256", "ec-p256k", "ec-p384", "ec-p521", "rsa-2048",
             "rsa-3072", "rsa-4096", "aes-128", "aes-192", "aes-256"]
# Keys the fuzzer may create, change, delete, purge and recover.
POOL = ["fz-%d" % i for i in range(6)]
OPS = ["sign", "verify", "encrypt", "decrypt", "wrap", "unwrap", "seal",
       "unseal"]
MODIFIERS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
             "ES256K", "ES384", "ES512", "RSA1_5", "RSA-OAEP", "RSA-OAEP-256",
             "A128GCM", "A192GCM", "A256GCM", "A128KW", "A192KW", "A256KW",
             "A128CBC", "A256CBC", "A128CBCPAD", "A256CBCPAD", "b64",
             "b64url", "hex", "raw", "prehashed", "", "B64", "sha256", "..",
             "x" * 40, "ES256 ", "hex\n"]
KEY_FILES = ["public.pem", "public.der", "jwk.json", "meta.json", "info",
             "algs", "ctl", "rotation.json", "backup", "versions", "README",
             "error", "sign", ".", "..", ""]
ROOT_FILES = ["README", "keys", "deleted", "restore", "random", "ctl",
              "error", "status", "metrics", "sealed", "nonexistent", "."]
# (never "..": the mount's parent is a local directory)
UIDS = [(0, 0), (0, 0), (65534, 65534), (1001, 1001)]

OPEN_FLAGS = ["O_CREAT", "O_EXCL", "O_TRUNC", "O_APPEND", "O_DIRECT",
              "O_NONBLOCK", "O_PATH", "O_DIRECTORY", "O_NOFOLLOW",
              "O_TMPFILE", "O_SYNC", "O_DSYNC", "O_NOATIME", "O_CLOEXEC",
              "O_NOCTTY", "O_ASYNC"]
# The outcomes kept with the calls that had them: the daemon gone
# (ENOTCONN, ECONNABORTED), an errno a healthy daemon never answers a user
# with (EIO), a fault in a mapping, an exception of the fuzzer's own.
NOTABLE = ("EIO", "ENOTCONN", "ECONNABORTED", "EFAULT")
STABLE = {b"README", b"public.pem", b"public.der", b"jwk.json", b"meta.json",
          b"info", b"algs"}
SLOT = 8192
FD_POOL = 24

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                            ctypes.c_int64]


def _errname(e):
    return errno.errorcode.get(e, "E%d" % e)


class Slot:
    """The page where a worker says what call it is in (start time 0: none)."""

    def __init__(self):
        self.m = mmap.mmap(-1, SLOT)

    def begin(self, desc):
        b = desc.encode(errors="replace")[:SLOT - 32]
        self.m[24:24 + len(b)] = b
        self.m[16:24] = struct.pack("Q", len(b))
        self.m[0:8] = struct.pack("d", time.monotonic())

    def end(self):
        self.m[0:8] = struct.pack("d", 0.0)

    def read(self):
        t, = struct.unpack("d", self.m[0:8])
        n, = struct.unpack("Q", self.m[16:24])
        return t, self.m[24:24 + min(n, SLOT - 32)].decode(errors="replace")


# -- what the workers do -----------------------------------------------------

class Worker:
    def __init__(self, mnt, index, seed, uid, gid, deadline, scratch, slot):
        self.mnt = os.fsencode(mnt)
        self.index = index
        self.rng = random.Random("%s-%d" % (seed, index))
        self.uid, self.gid = uid, gid
        self.deadline = deadline
        self.t0 = time.monotonic()
        self.scratch = scratch
        self.slot = slot
        self.fds = []                   # [fd, relpath, flags]
        self.seen = collections.defaultdict(set)   # dir -> names listed
        self.blobs = []                 # backups read, for restore
        self.counts = collections.defaultdict(collections.Counter)
        self.samples = collections.defaultdict(list)
        self.creates = 0
        self.calls = 0
        self.first = {}                 # "call outcome" -> first call seen
        self.fatal = None
        self.local = None
        self.rd, self.wr = os.pipe2(os.O_NONBLOCK)

    # -- names and paths ---------------------------------------------------

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def bad_name(self):
        n = self._bad_name()
        return b"..." if n == b".." else n

    def _bad_name(self):
        r = self.rng.randrange(12)
        if r == 0:
            return b"x" * 255
        if r == 1:
            return b"y" * self.rng.choice([256, 300, 1000])
        if r == 2:
            return b"k" * 127
        if r == 3:
            return b"k" * 128
        if r == 4:
            return bytes(self.rng.randrange(1, 256) for _ in range(self.rng.randrange(1, 40))).replace(b"/", b"_").replace(b"\0", b"_")
        if r == 5:
            return self.choice([b"bad_name", b"has space", b"-", b"\xc3\xbcn\xc3\xafc", b"a.b", b"*", b"%s", b"\n"])
        if r == 6:
            return b"..."
        return self.choice([b"nope", b"missing-key", b"fz-99", b"0"])

    def key_name(self, destructive=False):
        r = self.rng.randrange(10)
        if r < 4 and not destructive:
            return self.choice(PROTECTED).encode()
        if r < 7:
            return self.choice(POOL).encode()
        if r < 8 and self.seen[b"deleted"]:
            return self.choice(sorted(self.seen[b"deleted"]))
        return self.bad_name()

    def op_name(self):
        op = self.choice(OPS + ["signs", "sig", "SIGN"]) if self.rng.random() < 0.9 else self.choice(OPS)
        mods = [self.choice(MODIFIERS) for _ in range(self.rng.choice([0, 0, 1, 1, 2, 3, 5]))]
        return ".".join([op] + mods).encode()

    def version(self, key):
        vs = sorted(self.seen[b"keys/" + key + b"/versions"])
        if vs and self.rng.random() < 0.7:
            return self.choice(vs)
        return self.choice([b"0" * 32, b"ffffffffffffffffffffffffffffffff", b"latest", b"x" * 256, b"."])

    def key_dir(self, destructive=False):
        key = self.key_name(destructive)
        if self.rng.random() < 0.25:
            return b"keys/" + key + b"/versions/" + self.version(key), key
        return b"keys/" + key, key

    def path(self, destructive=False):
        """A path relative to the mount, of any kind."""
        r = self.rng.randrange(100)
        if r < 8:
            return self.choice(ROOT_FILES).encode()
        if r < 12:
            # the sealed view: a few names, so files get created,
            # rewritten, read, renamed and removed
            return b"sealed/" + self.choice([b"s0", b"s1", b"s2", b"d", b"d/s3", b"d/e/s4"])
        if r < 17:
            return self.choice([b"keys", b"deleted", b""])
        if r < 52:
            d, _ = self.key_dir(destructive)
            return d + b"/" + self.op_name()
        if r < 72:
            d, _ = self.key_dir(destructive)
            return d + b"/" + self.choice(KEY_FILES).encode()
        if r < 80:
            d, _ = self.key_dir(destructive)
            return d
        if r < 86:
            name = self.key_name(destructive)
            return b"deleted/" + name + self.choice([b"", b"/info", b"/meta.json", b"/sign", b"/x"])
        if r < 90:
            return self.choice(ROOT_FILES).encode() + b"/" + self.bad_name()
        if r < 93:
            # over PATH_MAX
            return b"keys/" + b"/".join([b"a" * 200] * self.rng.randrange(20, 26))
        if r < 96:
            d, _ = self.key_dir(destructive)
            return d + b"/" + self.bad_name()
        return self.choice([b"keys/ec-p256/sign/x", b"random/x", b"keys//ec-p256///sign", b"./keys/../keys/rsa-2048/./sign", b"keys/rsa-2048/versions"])

    def full(self, rel):
        return self.mnt + b"/" + rel if rel else self.mnt

    # -- data --------------------------------------------------------------

    def size(self):
        r = self.rng.randrange(100)
        if r < 30:
            return self.rng.randrange(0, 64)
        if r < 70:
            return self.rng.randrange(0, 4097)
        if r < 90:
            return self.rng.randrange(0, 140000)
        if r < 98:
            return self.rng.choice([1 << 20, (1 << 20) + 1, 65536, 131072, 131073])
        return self.rng.randrange(0, 1 << 21)

    def offset(self):
        return self.rng.choice([0, 0, 1, 7, 4095, 4096, 4097, 65535, 131072,
                                1 << 20, (1 << 20) + 1, 1 << 31, 1 << 32,
                                (1 << 62), (1 << 63) - 1,
                                self.rng.randrange(0, 1 << 24)])

    def data(self, rel=b""):
        r = self.rng.randrange(10)
        n = self.size()
        if r < 3:
            return os.urandom(min(n, 1 << 20))
        if r < 4:
            return b""
        if r < 5:
            return b"\0" * n
        if r < 6:
            return os.urandom(min(n, 4096)).hex().encode() + b"\n"
        if r < 7:
            return base64.b64encode(os.urandom(min(n, 4096))) + b"\n"
        if r < 8:
            return self.rng.choice([b"{}", b'{"lifetimeActions": []}', b"[", b"null", b'{"attributes": {"expiryTime": "P1D"}}'])
        if rel.endswith(b"ctl") and b"keys/" not in rel:
            return self.root_ctl()
        if self.rng.random() < 0.5 and rel.endswith(b"ctl") and any(p.encode() in rel for p in POOL):
            return self.key_ctl()
        return os.urandom(self.rng.randrange(0, 300))

    def root_ctl(self):
        if self.budget():
            self.creates += 1
            return self.rng.choice([
                b"create %s kty=EC crv=P-256", b"create %s kty=oct size=256",
                b"create %s kty=RSA size=2048", b"create %s kty=EC crv=P-384 ops=sign",
                b"create %s kty=EC crv=P-9", b"create %s kty=oct-HSM size=7",
                b"create %s kty=EC tag:a=b tag:c=", b"create %s kty=EC exportable=false"]) % self.choice(POOL).encode()
        return self.rng.choice([b"flush", b"flush\n", b"create", b"create \n", b"bogus", b"create " + b"k" * 300, b"\0\0\0"])

    def key_ctl(self):
        cmds = [b"enable", b"disable", b"set exp=2099-01-01", b"set nbf=2000-01-01",
                b"set exp=1999-01-01", b"set ops=sign,verify", b"set ops=",
                b"tag a=b", b"untag a", b"untag zz", b"tag " + b"t" * 600 + b"=v",
                b"set exp=notadate", b"rotate extra", b"enable\nenable"]
        if self.budget():
            cmds.append(b"rotate")
        c = self.choice(cmds)
        if c == b"rotate":
            self.creates += 1
        return c

    def budget(self):
        """Key creations (mkdir, create, rotate, restore) are bounded so
        that a long run does not fill the emulator: a few, then one every
        30 s per worker."""
        return self.creates < 5 + (time.monotonic() - self.t0) / 30

    # -- bookkeeping -------------------------------------------------------

    def record(self, call, desc, outcome):
        self.counts[call][outcome] += 1
        self.calls += 1
        self.first.setdefault(call + " " + outcome, desc)
        if outcome in ("ENOTCONN", "ECONNABORTED") and not self.fatal:
            # The first call the daemon did not answer: most likely the
            # one that killed it.  Kept on disk, the worker may be killed.
            self.fatal = desc
            with open(os.path.join(self.scratch, "fatal.%d" % self.index), "w") as f:
                f.write("%s -> %s" % (desc, outcome))
        if outcome in NOTABLE or outcome.startswith("py:") or outcome.startswith("SIG"):
            s = self.samples[outcome]
            if len(s) < 10:
                s.append(desc)

    def run_call(self, call, desc, fn, *args, **kw):
        self.slot.begin("worker %d uid %d: %s" % (self.index, self.uid, desc))
        try:
            r = fn(*args, **kw)
            outcome = "ok"
        except OSError as e:
            r = None
            outcome = _errname(e.errno) if e.errno else "py:OSError:" + str(e)[:60]
        except (ValueError, OverflowError, TypeError, BufferError) as e:
            r = None
            outcome = "py:%s" % type(e).__name__
        finally:
            self.slot.end()
        self.record(call, desc, outcome)
        return r

    def fd_of(self):
        if not self.fds:
            return None
        return self.choice(self.fds)

    def forget(self, fd):
        self.fds = [e for e in self.fds if e[0] != fd]

    def add_fd(self, fd, rel, flags):
        self.fds.append([fd, rel, flags])
        while len(self.fds) > FD_POOL:
            old = self.fds.pop(0)
            self.run_call("close", "close(%d)" % old[0], os.close, old[0])

    # -- the calls ---------------------------------------------------------

    def c_open(self):
        rel = self.path()
        acc = self.choice([os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_RDONLY, os.O_RDWR, 3])
        flags = acc
        names = []
        for f in OPEN_FLAGS:
            if self.rng.random() < 0.12:
                flags |= getattr(os, f)
                names.append(f)
        mode = self.choice([0o600, 0o644, 0o777, 0o7777, 0])
        desc = "open(%r, %d|%s, %o)" % (rel, acc, "|".join(names), mode)
        fd = self.run_call("open", desc, os.open, self.full(rel), flags, mode)
        if fd is not None:
            self.add_fd(fd, rel, flags)

    def c_close(self):
        e = self.fd_of()
        if e is not None:
            self.forget(e[0])
            self.run_call("close", "close(%d %r)" % (e[0], e[1]), os.close, e[0])

    def c_dup(self):
        e = self.fd_of()
        if e is not None:
            fd = self.run_call("dup", "dup(%r)" % e[1], os.dup, e[0])
            if fd is not None:
                self.add_fd(fd, e[1], e[2])

    def c_read(self):
        e = self.fd_of()
        if e is None:
            return
        n = min(self.size(), 1 << 20)
        r = self.rng.randrange(4)
        if r == 0:
            off = self.offset()
            self.run_call("pread", "pread(%r, %d, %d)" % (e[1], n, off), os.pread, e[0], n, off)
        elif r == 1:
            bufs = [bytearray(self.rng.randrange(0, 5000)) for _ in range(self.rng.randrange(1, 4))]
            self.run_call("readv", "readv(%r, %d bufs)" % (e[1], len(bufs)), os.readv, e[0], bufs)
        else:
            self.run_call("read", "read(%r, %d)" % (e[1], n), os.read, e[0], n)

    def c_write(self):
        e = self.fd_of()
        if e is None:
            return
        d = self.data(e[1])
        r = self.rng.randrange(4)
        if r == 0:
            off = self.offset()
            self.run_call("pwrite", "pwrite(%r, %d bytes, %d)" % (e[1], len(d), off), os.pwrite, e[0], d, off)
        elif r == 1:
            k = self.rng.randrange(0, len(d) + 1)
            self.run_call("writev", "writev(%r, %d+%d bytes)" % (e[1], k, len(d) - k), os.writev, e[0], [d[:k], d[k:]])
        else:
            self.run_call("write", "write(%r, %d bytes %r)" % (e[1], len(d), d[:40]), os.write, e[0], d)

    def c_lseek(self):
        e = self.fd_of()
        if e is None:
            return
        wh = self.choice([os.SEEK_SET, os.SEEK_CUR, os.SEEK_END, os.SEEK_DATA, os.SEEK_HOLE, 7])
        off = self.offset() * self.choice([1, 1, -1])
        self.run_call("lseek", "lseek(%r, %d, %d)" % (e[1], off, wh), os.lseek, e[0], off, wh)

    def c_truncate(self):
        size = self.choice([0, 0, 1, 100, 1 << 20, (1 << 63) - 1, self.offset()])
        if self.rng.random() < 0.5:
            e = self.fd_of()
            if e is not None:
                self.run_call("ftruncate", "ftruncate(%r, %d)" % (e[1], size), os.ftruncate, e[0], size)
            return
        rel = self.path(destructive=True)
        if self.rng.random() < 0.1:
            size = -1
        self.run_call("truncate", "truncate(%r, %d)" % (rel, size), os.truncate, self.full(rel), size)

    def _fallocate(self, fd, mode, off, n):
        if _libc.fallocate(fd, mode, off, n) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    def c_fallocate(self):
        e = self.fd_of()
        if e is None:
            return
        mode = self.choice([0, 1, 3, 0x10, 0x20, 0x40, 0xff])
        off, n = self.offset() % (1 << 40), self.choice([0, 1, 4096, 1 << 20])
        if self.rng.random() < 0.3:
            self.run_call("posix_fallocate", "posix_fallocate(%r, %d, %d)" % (e[1], off, n), os.posix_fallocate, e[0], off, max(n, 1))
        else:
            self.run_call("fallocate", "fallocate(%r, %#x, %d, %d)" % (e[1], mode, off, n), self._fallocate, e[0], mode, off, n)

    def c_fsync(self):
        e = self.fd_of()
        if e is None:
            return
        if self.rng.random() < 0.5:
            self.run_call("fsync", "fsync(%r)" % e[1], os.fsync, e[0])
        else:
            self.run_call("fdatasync", "fdatasync(%r)" % e[1], os.fdatasync, e[0])

    def _mmap_child(self, fd, length, shared, write, off):
        """In a child: a fault in a mapping (SIGBUS past EOF) must not
        kill the worker."""
        pid = os.fork()
        if pid == 0:
            # pytest's faulthandler would report the fault as a crash.
            faulthandler.disable()
            code = 0
            try:
                prot = mmap.PROT_READ | (mmap.PROT_WRITE if write else 0)
                m = mmap.mmap(fd, length, mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE, prot, offset=off)
                for p in range(0, length, 4096):
                    _ = m[p]
                    if write:
                        m[p] = 0x41
                if write and shared:
                    m.flush()
                m.close()
            except OSError as e:
                code = e.errno & 0x7f
            except Exception:
                code = 126
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            raise OSError(0, signal.Signals(os.WTERMSIG(status)).name)
        code = os.WEXITSTATUS(status)
        if code == 126:
            raise ValueError("mmap refused")
        if code:
            raise OSError(code, os.strerror(code))

    def c_mmap(self):
        e = self.fd_of()
        if e is None:
            return
        off = self.choice([0, 0, 4096])
        try:
            st = os.fstat(e[0])
            if st.st_size <= off:
                off = 0
            length = max(1, min(st.st_size - off, self.choice([1, 4096, 8192, 65536, 1 << 20])))
        except OSError:
            length = 4096
        shared, write = self.rng.random() < 0.5, self.rng.random() < 0.4
        desc = "mmap(%r, %d, %s, %s, off %d)+touch" % (e[1], length, "SHARED" if shared else "PRIVATE", "RW" if write else "R", off)
        self.slot.begin("worker %d uid %d: %s" % (self.index, self.uid, desc))
        try:
            self._mmap_child(e[0], length, shared, write, off)
            outcome = "ok"
        except OSError as x:
            outcome = x.strerror if x.errno == 0 else _errname(x.errno)
        except ValueError:      # Python's own check: an empty file
            outcome = "skipped"
        finally:
            self.slot.end()
        self.record("mmap", desc, outcome)
        # A fault is right where a page cannot be read: an operation file
        # (its read runs the operation, which may fail), a file that
        # shrank (fz-* keys change under the workers).  The metadata of
        # the demo keys and README never change and always read.
        if outcome == "SIGBUS" and os.path.basename(e[1]) in STABLE and \
           b"fz-" not in e[1] and b"deleted" not in e[1]:
            s = self.samples["SIGBUS on a file of fixed size"]
            if len(s) < 10:
                s.append(desc)

    def c_lock(self):
        e = self.fd_of()
        if e is None:
            return
        r = self.rng.randrange(4)
        if r == 0:
            op = self.choice([fcntl.LOCK_SH, fcntl.LOCK_EX, fcntl.LOCK_UN]) | fcntl.LOCK_NB
            self.run_call("flock", "flock(%r, %d)" % (e[1], op), fcntl.flock, e[0], op)
        elif r == 1:
            cmd = self.choice([fcntl.LOCK_SH | fcntl.LOCK_NB, fcntl.LOCK_EX | fcntl.LOCK_NB, fcntl.LOCK_UN])
            ln, st = self.choice([0, 1, 4096]), self.choice([0, 10, 1 << 40])
            self.run_call("lockf", "lockf(%r, %d, %d, %d)" % (e[1], cmd, ln, st), fcntl.lockf, e[0], cmd, ln, st, 0)
        else:
            cmd = self.choice([fcntl.F_SETLK, fcntl.F_GETLK, 37, 36])  # F_OFD_SETLK, F_OFD_GETLK
            typ = self.choice([fcntl.F_RDLCK, fcntl.F_WRLCK, fcntl.F_UNLCK])
            arg = struct.pack("hhqqi", typ, 0, self.choice([0, 5, -1]), self.choice([0, 1, 100]), 0)
            self.run_call("fcntl_lock", "fcntl(%r, %d, type %d)" % (e[1], cmd, typ), fcntl.fcntl, e[0], cmd, arg + b"\0" * 4)

    def local_fd(self):
        if self.local is None:
            self.local = os.open(os.path.join(self.scratch, "local.%d" % self.index), os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self.local).st_size > (8 << 20):
            os.ftruncate(self.local, 0)
        return self.local

    def c_copy(self):
        e = self.fd_of()
        if e is None:
            return
        other = self.fd_of()
        n = self.choice([0, 1, 100, 4096, 1 << 20])
        r = self.rng.randrange(5)
        if r == 0:
            out = other[0] if other and self.rng.random() < 0.5 else self.local_fd()
            self.run_call("sendfile", "sendfile(out, %r, None, %d)" % (e[1], n), os.sendfile, out, e[0], None, n)
        elif r == 1:
            src, dst = (e, other) if other and self.rng.random() < 0.6 else (e, None)
            dfd = dst[0] if dst else self.local_fd()
            self.run_call("copy_file_range", "copy_file_range(%r, %r, %d)" % (src[1], dst[1] if dst else "local", n), os.copy_file_range, src[0], dfd, n)
        elif r == 2:
            self.run_call("copy_file_range", "copy_file_range(local, %r, %d)" % (e[1], n), os.copy_file_range, self.local_fd(), e[0], n, 0)
        elif r == 3:
            n = min(n, 65536) or 1
            self.run_call("splice", "splice(%r, pipe, %d)" % (e[1], n), os.splice, e[0], self.wr, n, None, None, os.SPLICE_F_NONBLOCK)
            self.drain()
        else:
            os.write(self.wr, os.urandom(100)) if self.rng.random() < 0.5 else None
            self.run_call("splice", "splice(pipe, %r, %d)" % (e[1], n), os.splice, self.rd, e[0], max(n, 1), None, None, os.SPLICE_F_NONBLOCK)
            self.drain()

    def drain(self):
        try:
            while os.read(self.rd, 65536):
                pass
        except BlockingIOError:
            pass

    def c_meta(self):
        rel = self.path(destructive=True)
        p = self.full(rel)
        r = self.rng.randrange(8)
        if r == 0:
            m = self.choice([0o777, 0o666, 0o4755, 0, 0o7777])
            self.run_call("chmod", "chmod(%r, %o)" % (rel, m), os.chmod, p, m)
        elif r == 1:
            u, g = self.choice([0, 65534, 1001, -1]), self.choice([0, 65534, -1])
            self.run_call("chown", "chown(%r, %d, %d)" % (rel, u, g), os.chown, p, u, g)
        elif r == 2:
            t = self.choice([None, (0, 0), (1 << 40, 1 << 40), (-1, 5)])
            self.run_call("utime", "utime(%r, %r)" % (rel, t), os.utime, p, t)
        elif r == 3:
            ns = (self.choice([0, 1 << 62]), self.choice([0, 999999999]))
            self.run_call("utimensat", "utimensat(%r, ns=%r, nofollow)" % (rel, ns), os.utime, p, ns=ns, follow_symlinks=False)
        elif r == 4:
            e = self.fd_of()
            if e is not None and self.rng.random() < 0.5:
                self.run_call("fchmod", "fchmod(%r)" % e[1], os.fchmod, e[0], 0o600)
            elif e is not None:
                self.run_call("fchown", "fchown(%r)" % e[1], os.fchown, e[0], 0, 0)
        elif r == 5:
            self.run_call("access", "access(%r)" % rel, os.access, p, self.choice([os.F_OK, os.R_OK, os.W_OK, os.X_OK, 7]))
        elif r == 6:
            self.run_call("stat", "stat(%r)" % rel, os.stat, p)
        else:
            self.run_call("lstat", "lstat(%r)" % rel, os.lstat, p)

    def c_names(self):
        r = self.rng.randrange(9)
        a, b = self.path(destructive=True), self.path(destructive=True)
        if r == 0:
            self.run_call("link", "link(%r, %r)" % (a, b), os.link, self.full(a), self.full(b))
        elif r == 1:
            t = self.choice([a, b"/etc/passwd", b"x" * 5000, b""])
            self.run_call("symlink", "symlink(%r, %r)" % (t, b), os.symlink, t, self.full(b))
        elif r == 2:
            if self.rng.random() < 0.5:
                k = self.key_name(destructive=True)
                a, b = b"deleted/" + k, b"keys/" + self.choice([k, k, self.choice(POOL).encode()])
            self.run_call("rename", "rename(%r, %r)" % (a, b), os.rename, self.full(a), self.full(b))
        elif r == 3:
            self.run_call("unlink", "unlink(%r)" % a, os.unlink, self.full(a))
        elif r == 4:
            if a.startswith(b"keys/") and a.count(b"/") == 1:
                if not self.budget():
                    return
                self.creates += 1
            self.run_call("mkdir", "mkdir(%r)" % a, os.mkdir, self.full(a), 0o755)
        elif r == 5:
            if self.rng.random() < 0.6:
                a = self.choice([b"keys/", b"deleted/"]) + self.key_name(destructive=True)
            self.run_call("rmdir", "rmdir(%r)" % a, os.rmdir, self.full(a))
        elif r == 6:
            self.run_call("mkfifo", "mkfifo(%r)" % a, os.mkfifo, self.full(a))
        elif r == 7:
            m = self.choice([stat.S_IFREG | 0o600, stat.S_IFCHR | 0o600, stat.S_IFIFO | 0o600, stat.S_IFSOCK | 0o600, stat.S_IFBLK])
            self.run_call("mknod", "mknod(%r, %o)" % (a, m), os.mknod, self.full(a), m, os.makedev(1, 3))
        else:
            self.run_call("readlink", "readlink(%r)" % a, os.readlink, self.full(a))

    def c_xattr(self):
        rel = self.path()
        p = self.full(rel)
        name = self.choice(["user.x", "user." + "n" * 300, "security.capability", "trusted.t", "system.posix_acl_access", "bogus", "user.hsm"])
        r = self.rng.randrange(5)
        if r == 0:
            self.run_call("getxattr", "getxattr(%r, %s)" % (rel, name[:20]), os.getxattr, p, name)
        elif r == 1:
            self.run_call("setxattr", "setxattr(%r, %s)" % (rel, name[:20]), os.setxattr, p, name, os.urandom(self.rng.randrange(0, 100)), self.choice([0, os.XATTR_CREATE, os.XATTR_REPLACE]))
        elif r == 2:
            self.run_call("listxattr", "listxattr(%r)" % rel, os.listxattr, p)
        elif r == 3:
            self.run_call("removexattr", "removexattr(%r, %s)" % (rel, name[:20]), os.removexattr, p, name)
        else:
            e = self.fd_of()
            if e is not None:
                self.run_call("fgetxattr", "fgetxattr(%r)" % e[1], os.getxattr, e[0], name)

    def c_dir(self):
        rel = self.path() if self.rng.random() < 0.5 else self.key_dir()[0] + self.choice([b"", b"/versions"])
        r = self.rng.randrange(5)
        if r < 3:
            names = self.run_call("readdir", "readdir(%r)" % rel, os.listdir, self.full(rel))
            if names is not None and rel in (b"deleted",) or (names is not None and rel.endswith(b"/versions")):
                self.seen[rel] |= set(names[:50])
        elif r == 3:
            self.run_call("statfs", "statfs(%r)" % rel, os.statvfs, self.full(rel))
        else:
            e = self.fd_of()
            if e is not None:
                self.run_call("fstatfs", "fstatfs(%r)" % e[1], os.fstatvfs, e[0])
                self.run_call("fstat", "fstat(%r)" % e[1], os.fstat, e[0])

    def c_misc(self):
        e = self.fd_of()
        if e is None:
            return
        r = self.rng.randrange(4)
        if r == 0:
            self.run_call("ioctl", "ioctl(%r, FIONREAD)" % e[1], fcntl.ioctl, e[0], termios.FIONREAD, b"\0" * 4)
        elif r == 1:
            p = select.poll()
            p.register(e[0], select.POLLIN | select.POLLOUT)
            self.run_call("poll", "poll(%r)" % e[1], p.poll, 0)
        elif r == 2:
            self.run_call("fcntl_getfl", "fcntl(%r, F_SETFL)" % e[1], fcntl.fcntl, e[0], fcntl.F_SETFL, self.choice([os.O_APPEND, os.O_NONBLOCK, os.O_DIRECT, 0]))
        else:
            self.run_call("listdir_fd", "listdir(fd %r)" % e[1], os.listdir, e[0])

    # Whole idioms: the calls users make, so that the operations run.
    def c_onehandle(self):
        d, _ = self.key_dir()
        rel = d + b"/" + self.op_name()
        fd = self.run_call("open", "open(%r, O_RDWR) [one handle]" % rel, os.open, self.full(rel), os.O_RDWR)
        if fd is None:
            return
        for _ in range(self.rng.randrange(0, 3)):
            data = self.data(rel)
            self.run_call("write", "write(%r, %d bytes) [one handle]" % (rel, len(data)), os.write, fd, data)
        for _ in range(self.rng.randrange(0, 4)):
            self.run_call("read", "read(%r) [one handle]" % rel, os.read, fd, self.choice([1, 100, 65536]))
        if self.rng.random() < 0.3:
            self.add_fd(fd, rel, os.O_RDWR)
        else:
            self.run_call("close", "close(%r) [one handle]" % rel, os.close, fd)

    def c_twocmd(self):
        if self.rng.random() < 0.2:
            rel = self.choice([b"ctl", b"restore", b"keys/%s/ctl" % self.choice(POOL).encode(),
                               b"keys/%s/rotation.json" % self.choice(POOL).encode()])
        else:
            d, _ = self.key_dir()
            rel = d + b"/" + self.op_name()
        data = self.data(rel)
        if rel == b"restore" and self.blobs and self.budget():
            self.creates += 1
            data = self.choice(self.blobs)
        fd = self.run_call("open", "open(%r, O_WRONLY|O_TRUNC) [two commands]" % rel, os.open, self.full(rel), os.O_WRONLY | os.O_TRUNC)
        if fd is not None:
            self.run_call("write", "write(%r, %d bytes) [two commands]" % (rel, len(data)), os.write, fd, data)
            self.run_call("close", "close(%r) [two commands]" % rel, os.close, fd)
        if self.rng.random() < 0.8:
            fd = self.run_call("open", "open(%r, O_RDONLY) [two commands]" % rel, os.open, self.full(rel), os.O_RDONLY)
            if fd is not None:
                self.run_call("read", "read(%r) [two commands]" % rel, os.read, fd, 1 << 16)
                self.run_call("close", "close(%r) [two commands]" % rel, os.close, fd)

    def c_ctl(self):
        """A command to ctl (root: create, flush) or to a fz-* key's ctl or
        rotation.json, written the way `echo CMD > ctl` does."""
        r = self.rng.randrange(10)
        key = self.choice(POOL).encode()
        if r < 3:
            rel, data = b"ctl", self.root_ctl()
        elif r < 8:
            rel, data = b"keys/%s/ctl" % key, self.key_ctl()
        else:
            rel = b"keys/%s/rotation.json" % key
            data = self.choice([b'{"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}], "attributes": {"expiryTime": "P2Y"}}',
                                b'{"lifetimeActions": []}', b'{"attributes": {"expiryTime": "P1D"}}', b"{", b'{"lifetimeActions": 5}'])
        if self.rng.random() < 0.2:
            data += b"\n"
        fd = self.run_call("open", "open(%r, O_WRONLY|O_TRUNC) [ctl]" % rel, os.open, self.full(rel), os.O_WRONLY | os.O_TRUNC)
        if fd is not None:
            self.run_call("write", "write(%r, %r) [ctl]" % (rel, data[:80]), os.write, fd, data)
            self.run_call("close", "close(%r) [ctl %r]" % (rel, data[:80]), os.close, fd)

    def c_backup(self):
        rel = b"keys/%s/backup" % self.choice(POOL + PROTECTED[:1]).encode()
        fd = self.run_call("open", "open(%r, O_RDONLY)" % rel, os.open, self.full(rel), os.O_RDONLY)
        if fd is not None:
            b = self.run_call("read", "read(%r)" % rel, os.read, fd, 1 << 20)
            if b and len(self.blobs) < 4:
                self.blobs.append(b)
            self.run_call("close", "close(%r)" % rel, os.close, fd)

    CALLS = [("c_open", 18), ("c_close", 8), ("c_dup", 2), ("c_read", 12),
             ("c_write", 10), ("c_lseek", 3), ("c_truncate", 3),
             ("c_fallocate", 2), ("c_fsync", 2), ("c_mmap", 2), ("c_lock", 3),
             ("c_copy", 4), ("c_meta", 8), ("c_names", 6), ("c_xattr", 3),
             ("c_dir", 5), ("c_misc", 2), ("c_onehandle", 6),
             ("c_twocmd", 5), ("c_ctl", 2), ("c_backup", 1)]

    def run(self):
        table = [name for name, w in self.CALLS for _ in range(w)]
        while time.monotonic() < self.deadline:
            getattr(self, self.choice(table))()
        for e in self.fds:
            self.run_call("close", "close(%r) [end]" % e[1], os.close, e[0])
        self.fds = []

    def stats(self):
        return {"uid": self.uid, "calls": self.calls, "creates": self.creates,
                "counts": {k: dict(v) for k, v in self.counts.items()},
                "samples": dict(self.samples), "first": self.first}


def _worker_main(w, out):
    """The body of a worker process; never returns."""
    code = 0
    try:
        if w.uid != 0:
            os.setgroups([])
            os.setgid(w.gid)
            os.setuid(w.uid)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        w.run()
    except BaseException:            # a bug of the fuzzer, not of hsmfs
        w.samples["fuzzer-error"] = [traceback.format_exc()[-2000:]]
        code = 3
    try:
        with open(out, "w") as f:
            json.dump(w.stats(), f)
    except BaseException:
        code = 4
    os._exit(code)


# -- the daemon --------------------------------------------------------------

def fd_kinds(pid):
    """What the daemon's descriptors are: socket, /dev/fuse, anon_inode..."""
    kinds = collections.Counter()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        kinds[t.split(":")[0] if ":" in t else t] += 1
    return dict(kinds)


def daemon_figures(pid):
    """(RSS in kB, open fds, threads) of a process, from /proc."""
    rss = thr = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                thr = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid)), thr


def _openssl_ok(pem, md, sig, msg, tmp):
    sp, mp = os.path.join(tmp, "final.sig"), os.path.join(tmp, "final.msg")
    with open(sp, "wb") as f:
        f.write(sig)
    with open(mp, "wb") as f:
        f.write(msg)
    r = subprocess.run(["openssl", "dgst", "-" + md, "-verify", pem, "-signature", sp, mp],
                       capture_output=True, timeout=60)
    return r.returncode == 0 and b"Verified OK" in r.stdout


def sign_check(mnt, tmp, keys):
    """Sign with each key through one handle and through two commands
    (echo > sign; cat sign); openssl verifies each.  Returns the number of
    signatures verified; raises AssertionError on the first that fails."""
    n = 0
    for key, md in keys:
        d = os.path.join(mnt, "keys", key)
        msg = os.urandom(50).hex().encode()
        sig = hsmtest.one_handle(os.path.join(d, "sign"), msg)
        assert _openssl_ok(os.path.join(d, "public.pem"), md, sig, msg, tmp), \
            "one-handle signature of %s does not verify" % key
        n += 1
        sf = os.path.join(tmp, "twocmd.sig")
        r = hsmtest.sh("printf %%s %s > %s/sign && cat %s/sign > %s" % (msg.decode(), d, d, sf))
        with open(sf, "rb") as f:
            sig = f.read()
        assert r.returncode == 0 and _openssl_ok(os.path.join(d, "public.pem"), md, sig, msg, tmp), \
            "two-command signature of %s does not verify" % key
        n += 1
    return n


def crypt_check(mnt, key):
    """oct key: encrypt then decrypt through one handle gives the data back."""
    d = os.path.join(mnt, "keys", key)
    pt = os.urandom(100)
    ct = hsmtest.one_handle(os.path.join(d, "encrypt"), pt)
    assert hsmtest.one_handle(os.path.join(d, "decrypt"), ct) == pt, "%s round trip" % key


def final_check(mnt, tmp):
    """The daemon still does its job: protected demo keys of each type, and
    keys created after the fuzzing."""
    stamp = "%x" % int(time.time() * 1000)
    fresh = ["fzfinal-ec-" + stamp, "fzfinal-rsa-" + stamp]
    with open(os.path.join(mnt, "ctl"), "w") as f:
        f.write("create %s kty=EC crv=P-256" % fresh[0])
    with open(os.path.join(mnt, "ctl"), "w") as f:
        f.write("create %s kty=RSA size=2048" % fresh[1])
    n = sign_check(mnt, tmp, [("ec-p256", "sha256"), ("ec-p384", "sha384"),
                               ("rsa-2048", "sha256")] +
                   [(k, "sha256") for k in fresh])
    crypt_check(mnt, "aes-256")
    return n


# -- the run -----------------------------------------------------------------

class Result:
    def __init__(self):
        self.counts = collections.defaultdict(collections.Counter)
        self.samples = collections.defaultdict(list)
        self.failures = []
        self.calls = 0
        self.creates = 0
        self.before = self.after = None
        self.signs = 0
        self.seconds = 0.0
        self.seed = None
        self.first = {}
        self.figures = []               # (t, rss, fds, threads) while running
        self.kinds = None

    def merge(self, st):
        self.calls += st["calls"]
        self.creates += st["creates"]
        for call, c in st["counts"].items():
            self.counts[call].update(c)
        for k, v in st["samples"].items():
            self.samples[k] += v
        for k, v in st["first"].items():
            self.first.setdefault(k, v)

    def summary(self):
        lines = ["sysfuzz: seed %s, %.0f s, %d calls (%.0f/s), %d key creations" %
                 (self.seed, self.seconds, self.calls, self.calls / max(self.seconds, 1), self.creates)]
        for call in sorted(self.counts):
            c = self.counts[call]
            lines.append("  %-16s %7d  %s" % (call, sum(c.values()),
                         " ".join("%s:%d" % kv for kv in c.most_common())))
        tot = collections.Counter()
        for c in self.counts.values():
            tot.update(c)
        lines.append("  errnos: " + " ".join("%s:%d" % kv for kv in tot.most_common()))
        for k, v in self.samples.items():
            lines.append("  %s examples: %s" % (k, "; ".join(v[:5])))
        if os.environ.get("HSMFS_SYSFUZZ_VERBOSE"):
            lines.append("  the first call of each outcome:")
            lines += ["    %-28s %s" % kv for kv in sorted(self.first.items())]
        if self.figures:
            rss = [f[1] for f in self.figures]
            fds = [f[2] for f in self.figures]
            lines.append("  daemon during the run (%d samples): rss %d..%d kB, fds %d..%d" %
                         (len(rss), min(rss), max(rss), min(fds), max(fds)))
        if self.kinds:
            lines.append("  daemon fds after: %s" % self.kinds)
        if self.before and self.after:
            lines.append("  daemon before: rss %d kB, %d fds, %d threads; after: rss %d kB, %d fds, %d threads" %
                         (self.before + self.after))
        lines.append("  signatures verified by openssl after the run: %d" % self.signs)
        lines.append("  failures: %d" % len(self.failures))
        for f in self.failures:
            lines.append("  FAIL: " + f)
        return "\n".join(lines)


def _wait_workers(procs, slots, timeout, res, daemon):
    """Watch the workers until they all exit; a call older than timeout
    or a dead daemon ends the run."""
    live = dict(procs)
    while live:
        for pid in list(live):
            p, status = os.waitpid(pid, os.WNOHANG)
            if p:
                i = live.pop(pid)
                if not os.WIFEXITED(status) or os.WEXITSTATUS(status):
                    res.failures.append("worker %d ended with status %#x" % (i, status))
        now = time.monotonic()
        inflight = sorted((t, d) for t, d in (s.read() for s in slots) if t)
        if inflight and now - inflight[0][0] > timeout:
            # The oldest call is the one the daemon hangs in; later ones
            # may only wait behind it (the kernel's inode lock).
            res.failures.append("HANG: no answer in %.0f s to %s" % (now - inflight[0][0], inflight[0][1]))
            for t, d in inflight[1:]:
                res.failures.append("  also waiting %.0f s: %s" % (now - t, d))
            return False
        if daemon.poll() is not None:
            inflight = [d for t, d in (s.read() for s in slots) if t]
            res.failures.append("the daemon exited with %s during the run; calls in flight: %s" %
                                (daemon.returncode, "; ".join(inflight) or "none"))
            return False
        if not res.figures or now - res.figures[-1][0] >= 5:
            try:
                res.figures.append((now,) + daemon_figures(daemon.pid))
            except OSError:
                pass
        time.sleep(0.2)
    return True


def run(mount, seconds, seed=None, call_timeout=30.0, uids=UIDS, log=print):
    """Fuzz mount (a hsmtest.Mount with allow_other, default_permissions
    and allow_delete) for seconds.  Returns a Result; res.failures is
    empty when the daemon survived, answered every call and still signs."""
    seed = seed if seed is not None else "%d" % random.randrange(1 << 32)
    res = Result()
    res.seed = seed
    pid = mount.proc.pid
    scratch = tempfile.mkdtemp(prefix="sysfuzz-")
    os.chmod(scratch, 0o1777)
    log("sysfuzz: seed %s (HSMFS_SYSFUZZ_SEED=%s reproduces the choices), %d workers %s, %.0f s" %
        (seed, seed, len(uids), [u for u, _ in uids], seconds))
    # warm up: the key list and a few keys cached, one operation done
    os.listdir(os.path.join(mount.path, "keys"))
    hsmtest.one_handle(os.path.join(mount.path, "keys", "ec-p256", "sign"), b"warm")
    res.before = daemon_figures(pid)
    t0 = time.monotonic()
    deadline = t0 + seconds
    procs, slots = {}, []
    try:
        for i, (uid, gid) in enumerate(uids):
            slot = Slot()
            slots.append(slot)
            w = Worker(mount.path, i, seed, uid, gid, deadline, scratch, slot)
            out = os.path.join(scratch, "stats.%d.json" % i)
            p = os.fork()
            if p == 0:
                _worker_main(w, out)
            procs[p] = i
        ok = _wait_workers(procs, slots, call_timeout, res, mount.proc)
        if not ok:
            time.sleep(1)
            _kill_all(procs, mount)
            for i in range(len(uids)):
                try:
                    with open(os.path.join(scratch, "fatal.%d" % i)) as f:
                        res.failures.append("worker %d: first call not answered: %s" % (i, f.read()))
                except OSError:
                    pass
        res.seconds = time.monotonic() - t0
        for i in range(len(uids)):
            try:
                with open(os.path.join(scratch, "stats.%d.json" % i)) as f:
                    st = json.load(f)
            except (OSError, ValueError):
                if ok:
                    res.failures.append("worker %d left no statistics" % i)
                continue
            res.merge(st)
            if "fuzzer-error" in st["samples"]:
                res.failures.append("worker %d: fuzzer error: %s" % (i, st["samples"]["fuzzer-error"][0]))
        if ok:
            _after(mount, res, scratch)
    finally:
        for p in list(procs):
            try:
                os.kill(p, signal.SIGKILL)
                os.waitpid(p, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        shutil.rmtree(scratch, ignore_errors=True)
    for k in ("EIO", "ENOTCONN", "ECONNABORTED", "SIGBUS on a file of fixed size"):
        if res.samples.get(k):
            res.failures.append("%s answered to a user's call, e.g. %s" % (k, res.samples[k][0]))
    return res


def _after(mount, res, scratch):
    if mount.proc.poll() is not None:
        res.failures.append("the daemon died (exit %s)" % mount.proc.returncode)
        return
    try:
        os.stat(os.path.join(mount.path, "status"))
        with open(os.path.join(mount.path, "README"), "rb") as f:
            f.read()
    except OSError as e:
        res.failures.append("the mount does not answer: %s" % e)
        return
    bad = _log_control_lines(mount.log_path)
    if bad:
        res.failures.append("%d lines of the daemon's log carry control bytes, e.g. %r" % (len(bad), bad[0][:200]))
    time.sleep(1)       # releases of the workers' handles are asynchronous
    res.after = daemon_figures(mount.proc.pid)
    res.kinds = fd_kinds(mount.proc.pid)
    try:
        res.signs = final_check(mount.path, scratch)
    except (AssertionError, OSError, subprocess.SubprocessError) as e:
        res.failures.append("after the run: %s" % e)


def _log_control_lines(path):
    """Lines of the daemon's log with a control byte: a user's bytes
    written raw (a forged line, a terminal escape)."""
    ctl = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
    bad = []
    with open(path, "rb") as f:
        for line in f:
            if ctl.search(line.rstrip(b"\n")):
                bad.append(line)
    return bad


def _kill_all(procs, mount):
    """A hang: kill the daemon, so that calls stuck in it return, and the
    workers."""
    for p in procs:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    mount.cleanup()


def mount_for_fuzzing(emu, top, extra=()):
    """The mount every run uses: shared by several uids.  The audit log
    goes to a file: with the default, syslog, a host whose syslog reader
    stalls blocks the daemon in syslog(3), which is not what is tested."""
    sealed = os.path.join(top, "sealed")
    os.makedirs(sealed, exist_ok=True)
    os.chmod(sealed, 0o1777)       # every uid may create sealed files
    # gid 65534: the tree's group, so uid 65534 uses keys and 1001 (in no
    # group of the tree) meets the modes' EACCES.
    return hsmtest.Mount(emu, os.path.join(top, "mnt"), debug=False,
                         options=["allow_other", "default_permissions",
                                  "allow_delete", "gid=65534",
                                  "sealed_dir=" + sealed, "seal_key=rsa-2048",
                                  "audit=" + os.path.join(top, "audit.log")] +
                         list(extra))


def main(argv):
    seconds = float(argv[1]) if len(argv) > 1 else float(os.environ.get("HSMFS_SYSFUZZ_SECONDS", 600))
    seed = os.environ.get("HSMFS_SYSFUZZ_SEED")
    timeout = float(os.environ.get("HSMFS_SYSFUZZ_CALL_TIMEOUT", 30))
    emu = hsmtest.Emulator(demo_keys=True)
    top = tempfile.mkdtemp(prefix="hsmfs-sysfuzz-")
    os.chmod(top, 0o755)
    m = res = None
    try:
        m = mount_for_fuzzing(emu, top)
        res = run(m, seconds, seed, timeout)
        if m.proc.poll() is None:
            m.umount()
        elif not res.failures:
            res.failures.append("the daemon exited %s" % m.proc.returncode)
        print(res.summary())
    finally:
        if m is not None:
            m.cleanup()
            if res is None or res.failures:
                print("daemon log (tail):\n" + m.log()[-3000:])
        emu.close()
        shutil.rmtree(top, ignore_errors=True)
    return 1 if res.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
