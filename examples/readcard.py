#!/usr/bin/env python3
"""readcard.py — reading the card through libsscard with ctypes, as a
Python-based HIS would.

    python3 readcard.py [ITYPE]
    python3 readcard.py ITYPE verify|change   the PIN, typed on the reader's pad
    python3 readcard.py ITYPE hsm   the two steps for a HIS that owns its encryptor:
                                    step 1's line (the challenge last), the
                                    cryptogram read from standard input, step 2

Finds the library as SSCARD_LIB, else libsscard.so.1 on the loader's path.
Prints the return code and pOutInfo on one line (pOutInfo decoded from
SSCARD_ENCODING, UTF-8 by default), then the fields."""
import ctypes
import os
import sys

OUT_MAX = 1024  # SSCARD_OUT_MAX: pOutInfo must hold this many bytes
NAMES = ["区划", "社会保障号码", "卡号", "卡识别码", "姓名", "ATR历史字节", "规范版本",
         "发卡日期", "卡有效期", "终端机编号", "终端设备号"]


def load():
    lib = ctypes.CDLL(os.environ.get("SSCARD_LIB", "libsscard.so.1"))
    lib.iReadCardBas.argtypes = [ctypes.c_int, ctypes.c_char_p]
    lib.iReadCardBas.restype = ctypes.c_long
    for f in (lib.iVerifyPIN, lib.iChangePIN, lib.iReadCardBas_HSM_Step1):
        f.argtypes = [ctypes.c_int, ctypes.c_char_p]
        f.restype = ctypes.c_long
    lib.iReadCardBas_HSM_Step2.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.iReadCardBas_HSM_Step2.restype = ctypes.c_long
    return lib


def read_basic(lib, itype=3):
    buf = ctypes.create_string_buffer(OUT_MAX)
    rc = lib.iReadCardBas(itype, buf)
    return rc, buf.value.decode(os.environ.get("SSCARD_ENCODING", "utf-8"))


def pin(lib, itype, op):
    """iVerifyPIN / iChangePIN: the holder types on the reader, never here."""
    buf = ctypes.create_string_buffer(OUT_MAX)
    rc = (lib.iVerifyPIN if op == "verify" else lib.iChangePIN)(itype, buf)
    return rc, buf.value.decode(os.environ.get("SSCARD_ENCODING", "utf-8"))


def hsm_steps(lib, itype, encryptor):
    """iReadCardBas_HSM_Step1, the HIS's encryptor on the challenge (the
    last field), iReadCardBas_HSM_Step2: [(rc, out) of each step]."""
    enc = os.environ.get("SSCARD_ENCODING", "utf-8")
    buf = ctypes.create_string_buffer(OUT_MAX)
    rc = lib.iReadCardBas_HSM_Step1(itype, buf)
    steps = [(rc, buf.value.decode(enc))]
    if rc != 0:
        return steps
    challenge = steps[0][1].split("|")[11]
    if not challenge:  # a card that needs no authentication: the line is whole
        return steps
    rc = lib.iReadCardBas_HSM_Step2(encryptor(challenge).encode(), buf)
    return steps + [(rc, buf.value.decode(enc))]


def main():
    itype = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if len(sys.argv) > 2 and sys.argv[2] == "hsm":
        def from_stdin(challenge):
            print("challenge", challenge, flush=True)
            return sys.stdin.readline().strip()
        steps = hsm_steps(load(), itype, from_stdin)
        for rc, out in steps:
            print(rc, out)
        return 0 if all(rc == 0 for rc, _ in steps) else 1
    if len(sys.argv) > 2:
        rc, out = pin(load(), itype, sys.argv[2])
        print(rc, out)
        return 0 if rc == 0 else 1
    rc, out = read_basic(load(), itype)
    print(rc, out)
    if rc == 0:
        for name, value in zip(NAMES, out.split("|")):
            print("  %s: %s" % (name, value))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
