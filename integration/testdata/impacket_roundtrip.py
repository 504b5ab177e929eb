#!/usr/bin/python3
"""impacket interop check for the sofs integration tests.

Usage: impacket_roundtrip.py HOST PORT SHARE USER PASSWORD

Negotiates SMB 3.0 (impacket 0.10 computes SMB 3.1.1 signatures wrongly),
logs in with NTLM, lists shares, writes a random file, lists the share root,
reads the file back and deletes it. Prints one JSON object on stdout with
what it saw; the Go test decides what is right. Exit status 0 means every
call returned; any exception exits 1 with the traceback on stderr.
"""
import hashlib
import io
import json
import os
import sys

from impacket.smb3structs import SMB2_DIALECT_30
from impacket.smbconnection import SMBConnection


def main():
    host, port, share, user, password = sys.argv[1:6]
    conn = SMBConnection(host, host, sess_port=int(port),
                         preferredDialect=SMB2_DIALECT_30, timeout=60)
    conn.login(user, password)
    result = {"dialect": conn.getDialect()}
    # shi1_netname is NUL-terminated on the wire; impacket keeps the NUL.
    result["shares"] = [s["shi1_netname"][:-1] for s in conn.listShares()]

    data = os.urandom(1 << 20)
    name = "impacket_rt.bin"
    conn.putFile(share, name, io.BytesIO(data).read)
    result["listing"] = sorted(f.get_longname() for f in conn.listPath(share, "*"))
    sizes = {f.get_longname(): f.get_filesize() for f in conn.listPath(share, name)}
    result["size"] = sizes.get(name, -1)
    buf = io.BytesIO()
    conn.getFile(share, name, buf.write)
    result["put_sha256"] = hashlib.sha256(data).hexdigest()
    result["get_sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    conn.deleteFile(share, name)
    result["after_delete"] = sorted(f.get_longname() for f in conn.listPath(share, "*"))
    conn.logoff()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
