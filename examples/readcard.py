#!/usr/bin/env python3
"""readcard.py — reading the card through libsscard with ctypes, as a
Python-based HIS would.

    python3 readcard.py [ITYPE]
    python3 readcard.py ITYPE verify|change   the PIN, typed on the reader's pad
    python3 readcard.py ITYPE hsm   the two steps for a HIS that owns its encryptor:
                                    step 1's line (the challenge last), the
                                    cryptogram read from standard input, step 2
    python3 readcard.py ITYPE unblock|reload [hsm]
                                    iUnblockPIN / iReloadPIN (card-spec 10); a
                                    reload reads the new PIN twice from standard
                                    input. With hsm, the _HSM_Step1/Step2 forms:
                                    the MAC from openssl as the hospital's
                                    encryptor when SSCARD_PIN_MK (the PIN master
                                    key, 32 hex digits) is set, else read from
                                    standard input after step 1's line

Finds the library as SSCARD_LIB, else libsscard.so.1 on the loader's path.
Prints the return code and pOutInfo on one line (pOutInfo decoded from
SSCARD_ENCODING, UTF-8 by default), then the fields."""
import ctypes
import os
import subprocess
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
    for f in (lib.iUnblockPIN, lib.iReloadPIN, lib.iUnblockPIN_HSM_Step1, lib.iReloadPIN_HSM_Step1):
        f.argtypes = [ctypes.c_int, ctypes.c_char_p]
        f.restype = ctypes.c_long
    for f in (lib.iUnblockPIN_HSM_Step2, lib.iReloadPIN_HSM_Step2):
        f.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        f.restype = ctypes.c_long
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


def openssl_pin_mac(mk, card_id, challenge, command):
    """The hospital's encryptor, played by openssl (card-spec 10): K_pin =
    SM4(MK_pin, card id); MAC = the first 4 bytes of SM4-CBC-MAC(K_pin,
    IV = R || 00*8, the command padded with 80 00..)."""
    def sm4(mode, key, data, iv=None):
        cmd = ["openssl", "enc", "-sm4-" + mode, "-K", key, "-nopad"] + (["-iv", iv] if iv else [])
        return subprocess.run(cmd, input=bytes.fromhex(data), capture_output=True, check=True).stdout.hex()
    k = sm4("ecb", mk, card_id)
    m = command + "80"
    m += "00" * ((-len(m) // 2) % 16)
    return sm4("cbc", k, m, challenge + "00" * 8)[-32:][:8].upper()


def pin_key(lib, itype, op, hsm, new_pin=None, mac_of=None):
    """iUnblockPIN / iReloadPIN, or their HSM steps with mac_of(card_id,
    challenge, command) as the encryptor: [(rc, out) of each call]."""
    enc = os.environ.get("SSCARD_ENCODING", "utf-8")
    buf = ctypes.create_string_buffer(OUT_MAX)
    if op == "reload":  # the new PIN twice, in pOutInfo on entry
        buf.value = ("%s|%s|" % new_pin).encode()
    if not hsm:
        rc = (lib.iReloadPIN if op == "reload" else lib.iUnblockPIN)(itype, buf)
        return [(rc, buf.value.decode(enc))]
    rc = (lib.iReloadPIN_HSM_Step1 if op == "reload" else lib.iUnblockPIN_HSM_Step1)(itype, buf)
    steps = [(rc, buf.value.decode(enc))]
    if rc != 0:
        return steps
    card_id, challenge, command = steps[0][1].split("|")[:3]
    mac = mac_of(card_id, challenge, command)
    rc = (lib.iReloadPIN_HSM_Step2 if op == "reload" else lib.iUnblockPIN_HSM_Step2)(mac.encode(), buf)
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
    if len(sys.argv) > 2 and sys.argv[2] in ("unblock", "reload"):
        new_pin = None
        if sys.argv[2] == "reload":
            new_pin = (sys.stdin.readline().strip(), sys.stdin.readline().strip())
        mk = os.environ.get("SSCARD_PIN_MK")

        def encryptor(card_id, challenge, command):
            if mk:
                return openssl_pin_mac(mk, card_id, challenge, command)
            print("step1", card_id, challenge, command, flush=True)
            return sys.stdin.readline().strip()
        steps = pin_key(load(), itype, sys.argv[2], sys.argv[3:4] == ["hsm"], new_pin, encryptor)
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
