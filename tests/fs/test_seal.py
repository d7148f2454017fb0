"""keys/NAME/seal and unseal (DESIGN.md §3.1, docs/seal-format.md) through
a real mount: both semantics of §4, text encodings, RSA and oct keys, every
tamper class (EBADMSG and never a wrong byte), a rotation, the HSM calls
each costs (emulator counters), an independent decoder (python
cryptography's AESGCM on the documented format), and a 1 GiB stream with
flat daemon memory."""
import base64
import errno
import hashlib
import json
import os
import struct
import subprocess
import time

import pytest

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import hsmtest
from fsutil import sh
from hsmtest import read_to_eof

CHUNK = 1 << 16
TAG = 16
# 3 full chunks and a partial one: room for every tamper class
DATA = bytes(range(256)) * (3 * CHUNK // 256) + b"tail of the secret\n"


def k(mnt, name, f=""):
    return os.path.join(mnt.path, "keys", name, f)


def one_handle(path, data, chunk=CHUNK):
    fd = os.open(path, os.O_RDWR)
    try:
        for i in range(0, len(data), chunk):
            os.write(fd, data[i:i + chunk])
        return read_to_eof(fd, chunk)
    finally:
        os.close(fd)


def two_cmd(path, data, tmp):
    """cat in > file; cat file > out, through bash."""
    inp, out = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
    with open(inp, "wb") as f:
        f.write(data)
    sh(f'cat "{inp}" > "{path}"; cat "{path}" > "{out}"')
    with open(out, "rb") as f:
        return f.read()


def unseal_partial(path, blob, chunk=4096):
    """Unseal blob through one handle; (bytes returned, errno of the read
    that failed or 0)."""
    fd = os.open(path, os.O_RDWR)
    got = b""
    try:
        os.write(fd, blob)
        while True:
            try:
                b = os.read(fd, chunk)
            except OSError as e:
                return got, e.errno
            if not b:
                return got, 0
            got += b
    finally:
        os.close(fd)


def header_len(blob):
    klen = struct.unpack(">H", blob[12:14])[0]
    wlen = struct.unpack(">H", blob[14 + klen:16 + klen])[0]
    return 23 + klen + wlen


def parse_header(blob):
    """The fields of docs/seal-format.md's header table."""
    assert blob[:8] == b"HSMFSEAL" and blob[8] == 1 and blob[11] == 0
    klen = struct.unpack(">H", blob[12:14])[0]
    kid = blob[14:14 + klen].decode()
    p = 14 + klen
    wlen = struct.unpack(">H", blob[p:p + 2])[0]
    wrapped = blob[p + 2:p + 2 + wlen]
    prefix = blob[p + 2 + wlen:p + 9 + wlen]
    return {"wrap": blob[9], "shift": blob[10], "kid": kid, "wrapped": wrapped,
            "prefix": prefix, "len": p + 9 + wlen}


def chunks(blob):
    """(header, [sealed chunks]) by the format's size arithmetic."""
    h = header_len(blob)
    unit = (1 << blob[10]) + TAG
    body = blob[h:]
    return blob[:h], [body[i:i + unit] for i in range(0, len(body), unit)]


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
@pytest.mark.parametrize("key", ["rsa-2048", "aes-256", "aes-128"])
@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1, len(DATA)])
def test_one_handle_roundtrip(mnt, key, size):
    data = DATA[:size]
    blob = one_handle(k(mnt, key, "seal"), data)
    h = parse_header(blob)
    assert h["shift"] == 16 and h["kid"].endswith(
        "/keys/%s/%s" % (key, open(k(mnt, key, "info")).read().split("version: ")[1].split()[0]))
    n = max(1, -(-size // CHUNK))
    assert len(blob) == h["len"] + size + n * TAG
    assert one_handle(k(mnt, key, "unseal"), blob) == data


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
@pytest.mark.parametrize("key", ["rsa-3072", "aes-192"])
def test_two_commands(mnt, key, tmp_path):
    blob = two_cmd(k(mnt, key, "seal"), DATA, str(tmp_path))
    assert blob[:8] == b"HSMFSEAL"
    assert two_cmd(k(mnt, key, "unseal"), blob, str(tmp_path)) == DATA
    # the result re-reads, as every two-command result does, each reader
    # from the start
    (tmp_path / "blob").write_bytes(blob)
    u = k(mnt, key, "unseal")
    r = sh(f'cat {tmp_path}/blob > {u}; head -c 1000 {u} >/dev/null; cat {u}; cat {u}')
    assert r.stdout == DATA + DATA


def test_readme_shell_form(mnt, tmp_path):
    """The README's form: seal an existing file, unseal it back."""
    src = tmp_path / "secret.txt"
    src.write_bytes(b"db password: hunter2\n")
    sh(f'cd {tmp_path}; cat secret.txt > {k(mnt, "rsa-2048", "seal")}; '
       f'cat {k(mnt, "rsa-2048", "seal")} > secret.sealed; '
       f'cat secret.sealed > {k(mnt, "rsa-2048", "unseal")}; '
       f'cat {k(mnt, "rsa-2048", "unseal")} > back.txt; cmp secret.txt back.txt')
    assert b"hunter2" not in (tmp_path / "secret.sealed").read_bytes()


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
@pytest.mark.parametrize("enc", ["b64", "b64url", "hex"])
def test_text_encodings(mnt, enc, tmp_path):
    txt = one_handle(k(mnt, "aes-256", "seal." + enc), DATA)
    assert txt.endswith(b"\n") and txt.count(b"\n") == 1
    s = txt.strip()
    blob = (base64.b64decode(s) if enc == "b64" else
            base64.urlsafe_b64decode(s + b"=" * (-len(s) % 4)) if enc == "b64url" else
            bytes.fromhex(s.decode()))
    assert one_handle(k(mnt, "aes-256", "unseal"), blob) == DATA
    # text input ignores white space, in any slicing of the writes
    wrapped = b"\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + b"\n"
    assert one_handle(k(mnt, "aes-256", "unseal." + enc), wrapped, chunk=1000) == DATA
    assert two_cmd(k(mnt, "aes-256", "unseal." + enc), txt, str(tmp_path)) == DATA


def read_sizes(fd, sizes):
    """Read fd to EOF, the read sizes taken in turn from sizes."""
    out, i = b"", 0
    while True:
        b = os.read(fd, sizes[i % len(sizes)])
        i += 1
        if not b:
            return out
        out += b


# Big reads of seal's output are spliced from the spool (fs/ops.c
# op_read_buf), reads under 16 KiB copied (fs/sealop.c sealop_read); mixed
# sizes make one reader alternate between the two.
SPLICED, COPIED, MIXED = [1 << 20], [4096], [1 << 20, 4096, 100000, 16384, 333]


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
@pytest.mark.parametrize("enc", ["", ".b64"])
def test_spliced_and_copied_reads(mnt, enc):
    """The same blob (a two-command result re-reads) read by splice, by
    copy and by both in turn is the same bytes, and unseals to the
    original; one handle too, in binary and in a text encoding (the spool
    holds the encoded text, so that is spliced as well)."""
    data = os.urandom(3 * (1 << 20) + 12345)
    seal = k(mnt, "aes-256", "seal" + enc)
    fd = os.open(seal, os.O_WRONLY)
    try:
        for i in range(0, len(data), 1 << 20):
            os.write(fd, data[i:i + (1 << 20)])
    finally:
        os.close(fd)
    got = []
    for sizes in (SPLICED, COPIED, MIXED):
        fd = os.open(seal, os.O_RDONLY)
        try:
            got.append(read_sizes(fd, sizes))
        finally:
            os.close(fd)
    assert got[0] == got[1] == got[2]
    blob = got[0] if not enc else base64.b64decode(got[0])
    assert len(blob) == header_len(blob) + len(data) + 49 * TAG
    for sizes in (SPLICED, MIXED):
        fd = os.open(seal, os.O_RDWR)
        try:
            for i in range(0, len(data), 1 << 20):
                os.write(fd, data[i:i + (1 << 20)])
            txt = read_sizes(fd, sizes)
        finally:
            os.close(fd)
        b = txt if not enc else base64.b64decode(txt)
        assert len(b) == len(blob) and b[:8] == b"HSMFSEAL"
        assert one_handle(k(mnt, "aes-256", "unseal"), b) == data
    assert one_handle(k(mnt, "aes-256", "unseal"), blob) == data


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_unseal_read_sizes(mnt):
    """unseal decrypts whole chunks straight into the read's buffer and
    copies the rest from the chunk it holds: reads of any size and
    alignment give the same plaintext."""
    data = os.urandom(5 * CHUNK + 777)
    blob = one_handle(k(mnt, "aes-256", "seal"), data)
    for sizes in ([1 << 20], [CHUNK], [CHUNK + 1], [4096], [1 << 20, 333, CHUNK, 5]):
        fd = os.open(k(mnt, "aes-256", "unseal"), os.O_RDWR)
        try:
            os.write(fd, blob)
            assert read_sizes(fd, sizes) == data, sizes
        finally:
            os.close(fd)


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_bad_text_is_einval(mnt):
    """Malformed text fails the write that brings it, and the read after."""
    fd = os.open(k(mnt, "aes-256", "unseal.b64"), os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            os.write(fd, b"SE1G!!!!")
        assert e.value.errno == errno.EINVAL
        with pytest.raises(OSError) as e:
            os.read(fd, 100)
        assert e.value.errno == errno.EINVAL
    finally:
        os.close(fd)
    assert "encoding" in open(os.path.join(mnt.path, "error")).read()


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_independent_decoder(mnt):
    """Python's AESGCM decodes a blob by the documented format, with the
    data key unwrapped through the mount's own unwrap file."""
    blob = one_handle(k(mnt, "aes-256", "seal"), DATA)
    h = parse_header(blob)
    assert h["wrap"] == 4 and len(h["wrapped"]) == 40        # A256KW of 32 bytes
    dek = one_handle(k(mnt, "aes-256", "unwrap"), h["wrapped"])
    assert len(dek) == 32
    hdr, cs = chunks(blob)
    out = b""
    for i, c in enumerate(cs):
        nonce = h["prefix"] + struct.pack(">I", i) + bytes([i == len(cs) - 1])
        out += AESGCM(dek).decrypt(nonce, c, hdr)
    assert out == DATA


def tampered(blob, other):
    """Every tamper class of the issue, as (name, blob, where it must fail):
    'open' fails before any byte, else the plaintext offset at which the
    read must fail (bytes before it may be returned, none after)."""
    hdr, cs = chunks(blob)
    ohdr, _ = chunks(other)
    flip = lambda b, i: b[:i] + bytes([b[i] ^ 1]) + b[i + 1:]
    h = parse_header(blob)
    cat = lambda parts: hdr + b"".join(parts)
    return [
        ("header magic", flip(blob, 0), "open"),
        ("header nonce prefix", flip(blob, len(hdr) - 1), "open0"),
        ("header wrapped key", flip(blob, len(hdr) - 9 - 5), "open"),
        ("chunk byte", flip(blob, len(hdr) + CHUNK + TAG + 5), CHUNK),
        ("chunk tag", flip(blob, len(hdr) + 2 * (CHUNK + TAG) - 3), CHUNK),
        ("drop last chunk", cat(cs[:-1]), 2 * CHUNK),
        ("drop middle chunk", cat(cs[:1] + cs[2:]), CHUNK),
        ("swap two chunks", cat([cs[1], cs[0]] + cs[2:]), 0),
        ("append a chunk", cat(cs + [cs[1]]), 3 * CHUNK),
        ("swap headers", ohdr + b"".join(cs), "open0"),
        ("truncate mid chunk", blob[:len(hdr) + CHUNK + TAG + 100], CHUNK),
        ("truncate in header", blob[:len(hdr) - 3], "open"),
    ]


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
@pytest.mark.parametrize("key", ["rsa-2048", "aes-256"])
def test_tamper_one_handle(mnt, key):
    blob = one_handle(k(mnt, key, "seal"), DATA)
    other = one_handle(k(mnt, key, "seal"), DATA)
    for name, bad, where in tampered(blob, other):
        got, e = unseal_partial(k(mnt, key, "unseal"), bad)
        # all or nothing (DESIGN.md §4.3): every chunk is checked at the
        # run, so the first read fails and no byte comes out
        assert (len(got), e) == (0, errno.EBADMSG), name
        if name in ("header magic", "truncate in header"):
            err = open(os.path.join(mnt.path, "error")).read()
            assert "not a sealed blob: its header is malformed" in err, (name, err)


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
@pytest.mark.parametrize("key", ["rsa-2048", "aes-256"])
def test_tamper_empty_blob(mnt, key):
    """An empty plaintext still has a tag to check: a flipped tag, or a
    blob cut to its header, is EBADMSG, not an empty success."""
    blob = one_handle(k(mnt, key, "seal"), b"")
    for bad in (blob[:-1] + bytes([blob[-1] ^ 1]), blob[:header_len(blob)]):
        assert unseal_partial(k(mnt, key, "unseal"), bad) == (b"", errno.EBADMSG)
    assert unseal_partial(k(mnt, key, "unseal"), blob) == (b"", 0)


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_tamper_two_commands(mnt, tmp_path):
    """A bad header or a bad chunk fails cat's open: every chunk is
    checked at the run, and no byte is returned."""
    key = "aes-256"
    blob = one_handle(k(mnt, key, "seal"), DATA)
    other = one_handle(k(mnt, key, "seal"), DATA)
    for name, bad, where in tampered(blob, other):
        (tmp_path / "bad").write_bytes(bad)
        u = k(mnt, key, "unseal")
        r = sh(f'cat {tmp_path}/bad > {u}; '
               f'exec 3<{u} && echo opened || echo refused; '
               f'cat {u} > {tmp_path}/out', check=False)
        assert r.returncode != 0 and b"Bad message" in r.stderr, (name, r.stderr)
        assert r.stdout == b"refused\n", (name, where)
        assert (tmp_path / "out").read_bytes() == b"", name
    err = open(os.path.join(mnt.path, "error")).read()
    assert "errno: %d" % errno.EBADMSG in err and "unseal" in err


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_header_open_error_two_commands(mnt, tmp_path):
    """The header is checked (and the data key unwrapped) at cat's open."""
    (tmp_path / "bad").write_bytes(b"not a sealed blob at all")
    u = k(mnt, "aes-256", "unseal")
    r = sh(f'cat {tmp_path}/bad > {u}; exec 3<{u} && echo opened || echo refused')
    assert b"Bad message" in r.stderr and r.stdout == b"refused\n"


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_other_key_refused(mnt):
    """A blob names its key: another key's unseal refuses it (EBADMSG)
    before any call, so a right to one key is no right to another."""
    blob = one_handle(k(mnt, "aes-256", "seal"), b"x")
    mnt.emu.reset_stats()
    got, e = unseal_partial(k(mnt, "aes-128", "unseal"), blob)
    assert (got, e) == (b"", errno.EBADMSG)
    assert mnt.emu.op_count("unwrapkey") == 0


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_hsm_calls(mnt):
    """RSA seal makes no request at all; oct seal one wrapKey; unseal one
    unwrapKey, whatever the size."""
    for key in ("rsa-2048", "aes-256"):
        os.stat(k(mnt, key, "seal"))         # key cached
        mnt.emu.reset_stats()
        blob = one_handle(k(mnt, key, "seal"), DATA)
        st = mnt.emu.stats()
        if key.startswith("rsa"):
            assert st["total"] == 0, st
        else:
            assert st["requests"].get("wrapkey") == 1 and st["total"] == 1, st
        mnt.emu.reset_stats()
        assert one_handle(k(mnt, key, "unseal"), blob) == DATA
        st = mnt.emu.stats()
        assert st["requests"].get("unwrapkey") == 1 and st["total"] == 1, st


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_service_errors(mnt):
    """An HSM refusal is its own errno with the service's detail: oct seal's
    wrapKey at the first write (and the read after), unseal's unwrapKey at
    the first read — not EBADMSG, the blob is fine."""
    blob = one_handle(k(mnt, "aes-256", "seal"), DATA)
    mnt.emu.faults(ops=["wrapkey", "unwrapkey"], status=403)
    try:
        fd = os.open(k(mnt, "aes-256", "seal"), os.O_RDWR)
        try:
            with pytest.raises(OSError) as e:
                os.write(fd, b"secret")
            assert e.value.errno == errno.EACCES
            err = open(os.path.join(mnt.path, "error")).read()
            assert "code: InjectedFault" in err and "seal" in err, err
            with pytest.raises(OSError) as e:
                os.read(fd, 100)
            assert e.value.errno == errno.EACCES
        finally:
            os.close(fd)
        assert unseal_partial(k(mnt, "aes-256", "unseal"), blob) == (b"", errno.EACCES)
    finally:
        mnt.emu.clear_faults()
    assert one_handle(k(mnt, "aes-256", "unseal"), blob) == DATA


def test_rotation(emulator, tmp_path_factory):
    """A blob sealed before a rotation unseals after it: the unwrap is at
    the version the header names."""
    from lifeutil import sdk_set_policy, uniq
    kc = hsmtest.sdk_clients(emulator)[0]
    name = uniq("seal-rot")
    kc.create_rsa_key(name, size=2048)
    sdk_set_policy(kc, name)
    d = tmp_path_factory.mktemp("sealrot")
    m = hsmtest.Mount(emulator, d / "mnt", options=[f"audit={d}/audit.log"])
    try:
        blob = one_handle(k(m, name, "seal"), DATA)
        v1 = parse_header(blob)["kid"].rsplit("/", 1)[1]
        sh(f'echo rotate > {k(m, name, "ctl")}')
        v2 = open(k(m, name, "info")).read().split("version: ")[1].split()[0]
        assert v2 != v1
        assert one_handle(k(m, name, "unseal"), blob) == DATA
        # the audit names the version that unwrapped: the blob's
        recs = [json.loads(l) for l in open(d / "audit.log")]
        last = [r for r in recs if r.get("op") == "unseal"][-1]
        assert last["version"] == v1 and last["key"] == name, last
        assert parse_header(one_handle(k(m, name, "seal"), b"new"))["kid"].endswith(v2)
        m.umount()
    finally:
        m.cleanup()


def big_chunk_blob(mnt, data, shift=24):
    """A blob of data with chunks of 1 << shift (legal in the format),
    built here: the header of a blob the mount sealed, its shift changed,
    the chunks sealed with its data key (unwrapped through the mount)."""
    blob = one_handle(k(mnt, "aes-256", "seal"), b"x")
    h = parse_header(blob)
    hdr = bytearray(blob[:h["len"]])
    hdr[10] = shift
    hdr = bytes(hdr)
    h = parse_header(hdr)
    dek = one_handle(k(mnt, "aes-256", "unwrap"), h["wrapped"])
    unit = 1 << shift
    parts = [data[i:i + unit] for i in range(0, len(data), unit)] or [b""]
    out = [hdr]
    for i, p in enumerate(parts):
        nonce = h["prefix"] + struct.pack(">I", i) + bytes([i == len(parts) - 1])
        out.append(AESGCM(dek).encrypt(nonce, p, hdr))
    return b"".join(out)


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_big_chunks_are_not_pinned_per_handle(mnt):
    """A blob with 16 MiB chunks: open unseal handles that each read a
    little keep no chunk buffers between reads (they held 32 MiB each:
    one sealed chunk, one plaintext), and the data still comes back."""
    data = os.urandom((16 << 20) + 100)
    blob = big_chunk_blob(mnt, data)
    assert one_handle(k(mnt, "aes-256", "unseal"), blob) == data
    pid = mnt.proc.pid
    fds = []
    try:
        base = vmrss_kib(pid)
        for _ in range(6):
            fd = os.open(k(mnt, "aes-256", "unseal"), os.O_RDWR)
            fds.append(fd)
            for i in range(0, len(blob), 1 << 20):
                os.write(fd, blob[i:i + (1 << 20)])
            assert os.read(fd, 4096) == data[:4096]
        growth = vmrss_kib(pid) - base
        if not hsmtest.sanitized():               # ASan's quarantine: see hsmtest
            assert growth < 48 * 1024, f"VmRSS grew {growth} KiB over 6 handles"
        assert os.read(fds[0], 1 << 20) == data[4096:4096 + (1 << 20)]
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_seal_wrapkey_takes_a_call_slot(emulator, tmp_path_factory):
    """oct seal's wrapKey at the first write is the caller's HSM call:
    with max_calls=1 and one wrapKey in flight, a second seal's first
    write is EAGAIN naming max_calls (it went past the cap before)."""
    import threading
    m = hsmtest.Mount(emulator, tmp_path_factory.mktemp("sealslot") / "mnt",
                      options=["max_calls=1"])
    seal = k(m, "aes-256", "seal")
    try:
        one_handle(seal, b"warm")               # the keys are cached
        other = k(m, "aes-128", "seal")         # (the kernel serialises
        one_handle(other, b"warm")              # writes to one file)
        done = []
        emulator.faults(ops=["wrapkey"], latency_ms=1500)
        try:
            t = threading.Thread(target=lambda: done.append(one_handle(seal, b"slow")))
            t.start()
            time.sleep(0.7)                     # its wrapKey is in flight
            fd = os.open(other, os.O_RDWR)
            try:
                with pytest.raises(OSError) as e:
                    os.write(fd, b"secret")
                assert e.value.errno == errno.EAGAIN
                assert "max_calls" in open(os.path.join(m.path, "error")).read()
            finally:
                os.close(fd)
            t.join(timeout=30)
        finally:
            emulator.clear_faults()
        assert len(done) == 1
        assert one_handle(k(m, "aes-256", "unseal"), one_handle(seal, DATA)) == DATA
        m.umount()
    finally:
        m.cleanup()


@pytest.mark.mhsm_only  # AES keys: no such thing on a vault
def test_seal_write_retried_after_its_wrapkey_failed(emulator, tmp_path_factory):
    """oct seal's first write makes the data key with a wrapKey.  When that
    fails (here a 503 with no retries; an interrupted call is the same),
    the write took nothing, so the same write on the same descriptor may
    be tried again and then seals.  The failure used to stick to the
    handle: a caller that retries EINTR (Python always does) looped for
    ever on the stored error (scripts/soak 60: 12 callers, 20 minutes)."""
    m = hsmtest.Mount(emulator, tmp_path_factory.mktemp("sealretry") / "mnt",
                      options=["retries=0"])
    seal = k(m, "aes-256", "seal")
    try:
        one_handle(seal, b"warm")               # the key is cached
        emulator.faults(ops=["wrapkey"], status=503, count=1)
        fd = os.open(seal, os.O_RDWR)
        try:
            with pytest.raises(OSError) as e:
                os.write(fd, DATA)
            assert e.value.errno in (errno.EAGAIN, errno.EHOSTUNREACH), e.value
            assert os.write(fd, DATA) == len(DATA)
            blob = read_to_eof(fd)
        finally:
            os.close(fd)
            emulator.clear_faults()
        assert one_handle(k(m, "aes-256", "unseal"), blob) == DATA
        m.umount()
    finally:
        m.cleanup()


def vmhwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def stream_through(m, key, total, piece=1 << 20):
    """total bytes of a keystream sealed through one handle, the sealed
    stream written as it is read into an unseal handle, the plaintext read
    back: (SHA-256 in, SHA-256 out, bytes out).  Nothing whole in memory."""
    src = subprocess.Popen(["openssl", "enc", "-aes-256-ctr", "-nosalt", "-pbkdf2",
                            "-pass", "pass:hsmfs-seal-test", "-in", "/dev/zero"],
                           stdout=subprocess.PIPE)
    want, got, n = hashlib.sha256(), hashlib.sha256(), 0
    fs = os.open(k(m, key, "seal"), os.O_RDWR)
    fu = os.open(k(m, key, "unseal"), os.O_RDWR)
    try:
        left = total
        while left:
            b = src.stdout.read(min(piece, left))
            want.update(b)
            os.write(fs, b)
            left -= len(b)
        while b := os.read(fs, piece):
            os.write(fu, b)
        while b := os.read(fu, piece):
            got.update(b)
            n += len(b)
    finally:
        os.close(fs)
        os.close(fu)
        src.kill()
        src.wait()
    return want.hexdigest(), got.hexdigest(), n


@pytest.mark.mhsm_only  # AES keys or random: no such thing on a vault
def test_one_gib_flat_memory(emulator, tmp_path_factory):
    """1 GiB sealed and unsealed through the mount, one handle each: equal
    SHA-256, and the daemon's peak memory (VmHWM) grows by less than 8 MiB
    over what two 64 MiB streams through the same path left (libfuse's
    worker threads and their 1 MiB buffers, the allocator's arenas: a
    ramp of a few MiB on the first big stream that does not grow with the
    size; measured right after one 32 MiB stream it was up to 7.4 MiB, then
    flat)."""
    m = hsmtest.Mount(emulator, tmp_path_factory.mktemp("seal1g") / "mnt", debug=False)
    try:
        pid = m.proc.pid
        for _ in range(2):
            a, b, n = stream_through(m, "aes-256", 64 << 20)
            assert a == b and n == 64 << 20
        base = vmhwm_kib(pid)
        a, b, n = stream_through(m, "aes-256", 1 << 30)
        assert n == 1 << 30 and a == b
        growth = vmhwm_kib(pid) - base
        if not hsmtest.sanitized():               # ASan's quarantine: see hsmtest
            assert growth < 8 * 1024, f"VmHWM grew {growth} KiB"
        m.umount()
    finally:
        m.cleanup()


def spool_fds(pid, d):
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(d) + "/"):
                out.append(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return out


def test_spool_dir_holds_ciphertext_only(emulator, tmp_path):
    """-o spool_dir: seal and unseal spool there, in files with no name,
    only ciphertext; nothing is left after close."""
    spool = tmp_path / "spool"
    spool.mkdir()
    m = hsmtest.Mount(emulator, tmp_path / "mnt", options=[f"spool_dir={spool}"])
    marker = b"PLAINTEXT-MARKER-" * 4096
    try:
        pid = m.proc.pid
        fd = os.open(k(m, "rsa-2048", "seal"), os.O_RDWR)
        os.write(fd, marker)
        files = spool_fds(pid, spool)
        assert len(files) == 1 and os.listdir(spool) == []
        body = open(files[0], "rb").read()
        assert body.startswith(b"HSMFSEAL") and b"PLAINTEXT-MARKER" not in body
        blob = read_to_eof(fd)
        os.close(fd)
        fu = os.open(k(m, "rsa-2048", "unseal"), os.O_RDWR)
        os.write(fu, blob)
        assert os.read(fu, 17) == marker[:17]
        assert len(spool_fds(pid, spool)) == 1
        assert b"PLAINTEXT-MARKER" not in open(spool_fds(pid, spool)[0], "rb").read()
        os.close(fu)
        # the kernel sends RELEASE after close() returns: give it a moment
        deadline = time.monotonic() + 5
        while spool_fds(pid, spool) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert spool_fds(pid, spool) == [] and os.listdir(spool) == []
        m.umount()
    finally:
        m.cleanup()


def test_spool_dir_must_be_writable(tmp_path):
    r = subprocess.run([hsmtest.bin_path("fs/hsmfs"), "-o", "spool_dir=/nonexistent/x",
                        "https://127.0.0.1:1", str(tmp_path)], capture_output=True, timeout=20)
    err = r.stderr.decode().strip()
    assert r.returncode != 0 and err.count("\n") == 0 and "spool_dir" in err, err
